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

from carbonplane import __version__
from carbonplane.errors import ConfigError
from carbonplane.http import errorpages
from carbonplane.http.forwarded import Forwarding
from carbonplane.http.headparser import RequestHeadParser
from carbonplane.http.hop import HOP_BY_HOP, REQUEST_DROP, RESPONSE_DROP
from carbonplane.http.model import Limits
from carbonplane.http.path import ESCAPED_SLASH_ACTIONS
from carbonplane.http.rules import is_token

if TYPE_CHECKING:
    from carbonplane.proxy.app import RequestContext


PRODUCT = f"carbonplane/{__version__}"  # the product token of Server and Via
LATENCIES = ("upstream", "proxy", "response")


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
    via: str | None = f"1.1 {PRODUCT}"
    via_downstream: bool = True
    server_tokens: str | None = PRODUCT
    latency_headers: bool | tuple[str, ...] = True
    latency_header_prefix: str = "x-carbonplane"
    request_id_header: str | None = "x-carbonplane-request-id"
    request_id_upstream: bool = True
    request_id_downstream: bool = True
    error_default_type: str = "text/plain"
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
        latencies = self.latency_headers
        if latencies is True or latencies is False:
            latencies = LATENCIES if latencies else ()
        if isinstance(latencies, str) or not set(latencies) <= set(LATENCIES):
            raise ConfigError(
                f"{self.latency_headers!r}: give True, False or some of {LATENCIES}",
                where="latency_headers",
            )
        object.__setattr__(self, "latency_headers", tuple(latencies))
        if self.error_default_type not in errorpages.ERROR_DEFAULT_TYPES:
            raise ConfigError(
                f"{self.error_default_type!r} is not one of {errorpages.ERROR_DEFAULT_TYPES}",
                where="error_default_type",
            )
        for name in ("via", "server_tokens"):
            value = getattr(self, name)
            if value is not None and (not value.isprintable() or not value.isascii()):
                raise ConfigError(f"{value!r} must be printable ASCII", where=name)


class CompiledSettings:
    """Derived, per-config objects: the head parser, forwarding policy, pre-serialised lines.

    The request id is generated for every request (a trusted peer's own is kept); it is sent
    upstream under ``request_id_header`` when ``request_id_upstream`` (replacing the client's
    field of that name) and to the client when ``request_id_downstream`` (replacing the
    upstream's). Other request-id headers (``X-Request-ID``, a correlation-id plugin's) are
    never touched. ``response_mode``: bits 1 upstream latency, 2 proxy latency, 4 request id
    of a relayed response's pre-serialised lines."""

    __slots__ = (
        "head_parser",
        "forwarding",
        "via_line",
        "server_line",
        "request_id_name",
        "request_id_prefix",
        "upstream_request_id",
        "downstream_request_id_name",
        "upstream_latency_name",
        "proxy_latency_name",
        "response_latency_name",
        "upstream_template",
        "response_template",
        "response_mode",
        "error_default_type",
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
        self.error_default_type = config.error_default_type.encode()
        rid = config.request_id_header
        self.request_id_name = name = rid.lower().encode() if rid else None
        self.upstream_request_id = bool(name and config.request_id_upstream)
        down = name if name and config.request_id_downstream else None
        self.downstream_request_id_name = down
        # 20 random + 4 pid hex digits per process, then an 8-digit counter: 32 hex digits like
        # nginx's $request_id (Kong's X-Kong-Request-Id), unique, no syscall per request
        self.request_id_prefix = (secrets.token_hex(10) + "%04x" % (os.getpid() & 0xFFFF)).encode()
        prefix = config.latency_header_prefix.lower().encode()
        on = config.latency_headers
        self.upstream_latency_name = prefix + b"-upstream-latency" if "upstream" in on else None
        self.proxy_latency_name = prefix + b"-proxy-latency" if "proxy" in on else None
        self.response_latency_name = prefix + b"-response-latency" if "response" in on else None
        # the fields we set replace same-named ones on the leg they are sent on, never others
        up = frozenset((name,)) if self.upstream_request_id else frozenset()
        self.request_drop = REQUEST_DROP | up
        replaced = frozenset(
            n for n in (down, self.upstream_latency_name, self.proxy_latency_name) if n
        )
        self.response_drop = HOP_BY_HOP | replaced
        self.response_drop_reframed = RESPONSE_DROP | replaced
        self._compile_templates(config.via_downstream)

    def _compile_templates(self, via_downstream: bool) -> None:
        """Pre-serialised header lines with %-slots (``response_lines`` fills the response's)."""
        via = self.via_line.replace(b"%", b"%%")
        rid = self.request_id_name
        self.upstream_template = via + (b"%s: %%s\r\n" % rid if self.upstream_request_id else b"")
        template = via if via_downstream else b""
        mode = 0
        if self.upstream_latency_name is not None:
            template += b"%s: %%d\r\n" % self.upstream_latency_name
            mode |= 1
        if self.proxy_latency_name is not None:
            template += b"%s: %%d\r\n" % self.proxy_latency_name
            mode |= 2
        if self.downstream_request_id_name is not None:
            template += b"%s: %%s\r\n" % self.downstream_request_id_name
            mode |= 4
        self.response_template = template
        self.response_mode = mode

    def response_lines(self, ctx: RequestContext) -> bytes:
        """The pre-serialised lines of a relayed response (Via, latencies, request id)."""
        mode = self.response_mode
        if mode == 7:  # the default
            return self.response_template % (
                int((ctx.upstream_answered - ctx.upstream_started) * 1000),
                int((ctx.upstream_started - ctx.started) * 1000),
                ctx.request_id,
            )
        if mode == 0:
            return self.response_template
        args: list = []
        if mode & 1:
            args.append(int((ctx.upstream_answered - ctx.upstream_started) * 1000))
        if mode & 2:
            args.append(int((ctx.upstream_started - ctx.started) * 1000))
        if mode & 4:
            args.append(ctx.request_id)
        return self.response_template % tuple(args)

    def local_lines(self, ctx: RequestContext, now: float) -> bytes:
        """The lines of a response the proxy made: response latency (ms) and request id."""
        out = b""
        if self.response_latency_name is not None:
            out = b"%s: %d\r\n" % (self.response_latency_name, int((now - ctx.started) * 1000))
        if self.downstream_request_id_name is not None:
            out += b"%s: %s\r\n" % (self.downstream_request_id_name, ctx.request_id)
        return out
