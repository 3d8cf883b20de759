"""The gateway's Admin API (Kong-shaped, sans-IO): ``AdminAPI.handle(...)`` and the
listen-address rule ``check_admin_listen``."""

from carbonplane.gateway.admin.api import AdminAPI, check_admin_listen

__all__ = ["AdminAPI", "check_admin_listen"]
