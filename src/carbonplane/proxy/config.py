"""``ProxyConfig``: everything a worker needs to serve, compiled once and swapped atomically.

A worker holds exactly one ``ProxyConfig`` at a time (``ProxyServer.config``). A reload builds a
new one and assigns it in a single statement; each request reads the config when its head has
been parsed and keeps that reference to the end, so in-flight requests finish on the config they
started with and no request ever sees half of two configs.

Defaults follow nginx/Kong where they exist (keepalive_timeout 75 s nginx, client header/body
timeouts, upstream keepalive pool 512 / 10000 requests / 60 s from Kong's ``kong_defaults``).
Timeouts are seconds. ``escaped_slash`` is the path policy of ``carbonplane.http.path``.

Slow request bodies: ``client_body_timeout`` is nginx's (the longest wait between two reads of
a body); ``client_body_min_rate`` (bytes/s, 0 = off) bounds the whole body on top of it: once
the body has been read for ``client_body_timeout`` seconds it must have averaged that rate, so
a body of N bytes gets ``client_body_timeout + N / client_body_min_rate`` seconds (counted
afresh whenever the proxy resumes reading a body it paused). Both answer 408 and close, as
nginx does for its timeout.
``request_buffer_bytes`` bounds a body read whole before the upstream is contacted (a route's
``buffer_request``, Kong's ``request_buffering``): 413 beyond it, in memory only.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from carbonplane.errors import ConfigError
from carbonplane.http.forwarded import Forwarding
from carbonplane.http.headparser import RequestHeadParser
from carbonplane.http.hop import HOP_BY_HOP, REQUEST_DROP, RESPONSE_DROP
from carbonplane.http.model import Limits
from carbonplane.http.path import ESCAPED_SLASH_ACTIONS
from carbonplane.http.rules import is_token

if TYPE_CHECKING:
    from carbonplane.proxy.app import RequestContext


@dataclass(frozen=True)
class ProxyConfig:
    """The engine's settings plus the app; see the module docstring."""

    app: Any  # carbonplane.proxy.app.ProxyApp
    version: int = 0
    limits: Limits = field(default_factory=Limits)
    escaped_slash: str = "reject"
    client_header_timeout: float = 10.0
    client_body_timeout: float = 60.0
    client_body_min_rate: float = 1024.0
    request_buffer_bytes: int = 8 * 1024 * 1024
    keepalive_timeout: float = 75.0
    send_timeout: float = 60.0
    keepalive_requests: int = 10000
    max_connections: int = 10000
    trusted_ips: tuple[str, ...] = ()
    real_ip_header: str = "x-real-ip"
    real_ip_recursive: bool = False
    via: str | None = "1.1 carbonplane"
    server_tokens: str | None = "carbonplane"
    latency_headers: bool = True
    latency_header_prefix: str = "x-carbonplane"
    request_id_header: str | None = "x-request-id"
    upstream_keepalive_pool: int = 512
    upstream_keepalive_requests: int = 10000
    upstream_keepalive_timeout: float = 60.0
    # compiled in __post_init__; not constructor arguments
    compiled: CompiledSettings = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._check()
        object.__setattr__(self, "compiled", CompiledSettings(self))

    def _check(self) -> None:
        for name in (
            "client_header_timeout",
            "client_body_timeout",
            "keepalive_timeout",
            "send_timeout",
            "upstream_keepalive_timeout",
        ):
            if not getattr(self, name) > 0:
                raise ConfigError(f"must be > 0 seconds, got {getattr(self, name)!r}", where=name)
        if not self.client_body_min_rate >= 0:
            raise ConfigError(
                f"must be >= 0 bytes/s (0: off), got {self.client_body_min_rate!r}",
                where="client_body_min_rate",
            )
        for name in (
            "keepalive_requests",
            "max_connections",
            "upstream_keepalive_requests",
            "request_buffer_bytes",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"must be >= 1, got {getattr(self, name)!r}", where=name)
        if self.upstream_keepalive_pool < 0:
            raise ConfigError("must be >= 0", where="upstream_keepalive_pool")
        if self.escaped_slash not in ESCAPED_SLASH_ACTIONS:
            raise ConfigError(
                f"{self.escaped_slash!r} is not one of {ESCAPED_SLASH_ACTIONS}",
                where="escaped_slash",
            )
        for name in ("request_id_header", "latency_header_prefix"):
            value = getattr(self, name)
            if value is not None and not is_token(value.encode("latin-1")):
                raise ConfigError(f"{value!r} is not a valid header name", where=name)
        for name in ("via", "server_tokens"):
            value = getattr(self, name)
            if value is not None and (not value.isprintable() or not value.isascii()):
                raise ConfigError(f"{value!r} must be printable ASCII", where=name)


class CompiledSettings:
    """Derived, per-config objects: the head parser, forwarding policy, pre-serialised lines."""

    __slots__ = (
        "head_parser",
        "forwarding",
        "via_line",
        "server_line",
        "request_id_name",
        "request_id_prefix",
        "upstream_latency_name",
        "proxy_latency_name",
        "upstream_template",
        "response_template",
        "request_drop",
        "response_drop",
        "response_drop_reframed",
    )

    def __init__(self, config: ProxyConfig) -> None:
        self.head_parser = RequestHeadParser(config.limits, config.escaped_slash)
        self.forwarding = Forwarding(
            config.trusted_ips, config.real_ip_header, config.real_ip_recursive
        )
        self.via_line = b"via: %s\r\n" % config.via.encode() if config.via else b""
        self.server_line = (
            b"server: %s\r\n" % config.server_tokens.encode() if config.server_tokens else b""
        )
        rid = config.request_id_header
        self.request_id_name = rid.lower().encode() if rid else None
        # the request-id field is the proxy's: an incoming one is replaced, never duplicated
        replaced = frozenset((self.request_id_name,)) if rid else frozenset()
        self.request_drop = REQUEST_DROP | replaced
        self.response_drop = HOP_BY_HOP | replaced
        self.response_drop_reframed = RESPONSE_DROP | replaced
        # 12 random + 4 pid hex digits per process, then a counter: unique, no syscall per request
        self.request_id_prefix = (secrets.token_hex(6) + "%04x" % (os.getpid() & 0xFFFF)).encode()
        prefix = config.latency_header_prefix.lower().encode()
        if config.latency_headers:
            self.upstream_latency_name = prefix + b"-upstream-latency"
            self.proxy_latency_name = prefix + b"-proxy-latency"
        else:
            self.upstream_latency_name = self.proxy_latency_name = None
        self._compile_templates()

    def _compile_templates(self) -> None:
        """Pre-serialised header lines with %-slots (``response_lines`` fills the response's)."""
        via = self.via_line.replace(b"%", b"%%")
        rid = self.request_id_name
        self.upstream_template = via + (b"%s: %%s\r\n" % rid if rid else b"")
        latency = b""
        if self.upstream_latency_name is not None:
            latency = b"%s: %%d\r\n%s: %%d\r\n" % (
                self.upstream_latency_name,
                self.proxy_latency_name,
            )
        self.response_template = via + latency + (b"%s: %%s\r\n" % rid if rid else b"")

    def response_lines(self, ctx: RequestContext) -> bytes:
        """The pre-serialised lines of a relayed response (Via, latencies, request id)."""
        template = self.response_template
        if self.upstream_latency_name is not None:
            upstream = int((ctx.upstream_answered - ctx.upstream_started) * 1000)
            proxy = int((ctx.upstream_started - ctx.started) * 1000)
            if self.request_id_name is not None:
                return template % (upstream, proxy, ctx.request_id)
            return template % (upstream, proxy)
        if self.request_id_name is not None:
            return template % ctx.request_id
        return template
