"""The API gateway (B): Kong's declarative config, entities, router, balancer and Admin API.

Everything here is sans-IO: the proxy engine calls ``GatewayConfig.router.match`` per request and
a ``Balancer`` per upstream attempt; the Admin API is a pure ``handle(...)`` function. See
docs/gateway.md.
"""

from carbonplane.gateway.admin import AdminAPI, check_admin_listen
from carbonplane.gateway.config.entities import register_plugin_schema
from carbonplane.gateway.config.loader import load_config_data, load_config_file, load_config_text
from carbonplane.gateway.config.model import GatewayConfig, compile_config
from carbonplane.gateway.runtime.balancing import hash_value
from carbonplane.gateway.runtime.route_match import RouteMatch
from carbonplane.gateway.runtime.router import Router
from carbonplane.proxy.layers.balance import Balancer

__all__ = [
    "AdminAPI",
    "Balancer",
    "GatewayConfig",
    "RouteMatch",
    "Router",
    "check_admin_listen",
    "compile_config",
    "hash_value",
    "load_config_data",
    "load_config_file",
    "load_config_text",
    "register_plugin_schema",
]
