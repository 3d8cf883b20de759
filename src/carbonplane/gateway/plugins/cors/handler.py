"""The cors handler (Kong's ``cors``, PRIORITY 2000): preflights answered, CORS response headers.

Access phase: a preflight is ``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``.
With ``preflight_continue`` it goes upstream untouched (and gets no CORS headers from us);
otherwise the plugin answers ``200`` with ``Access-Control-Allow-Origin``, ``-Credentials``,
``-Headers`` (config, else the echoed request headers), ``-Methods`` (joined with ``,``),
``-Max-Age`` and, when asked and enabled, ``-Private-Network``. Other requests get, in the
header filter, ``Access-Control-Allow-Origin``, ``-Credentials`` and ``-Expose-Headers`` (unless
the request has no ``Origin`` and ``allow_origin_absent`` is false).

Origin decision (Kong's ``configure_origin``):
- no origins or only ``*`` -> ``ACAO: *``;
- otherwise ``Vary: Origin`` always; a single literal origin is sent as configured; else the
  request's Origin, normalised (default ports dropped), is echoed when it equals a literal entry
  or an anchored regex entry matches it (against its host when the entry has no ``:``), and
  ``ACAO`` is removed when nothing matches; a ``*`` among several entries allows every origin;
- ``credentials`` adds ``ACAC: true``; with ``*`` the request's Origin is echoed instead of
  ``*`` (browsers refuse credentials with a wildcard).

Everything that depends on the config is compiled at construction; what the header filter does
for a given Origin value is computed once and cached (bounded), so a response costs a dict
lookup, one scan of its headers and an extend.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.plugins.cors.schema import METHODS
from carbonplane.gateway.plugins.pdk.base import PluginHandler, PluginServices
from carbonplane.proxy.app import LocalResponse, RequestContext

ACAO = b"access-control-allow-origin"
ACAC = b"access-control-allow-credentials"
ACAH = b"access-control-allow-headers"
ACAM = b"access-control-allow-methods"
ACMA = b"access-control-max-age"
ACEH = b"access-control-expose-headers"
ACAPN = b"access-control-allow-private-network"
VARY = b"vary"
SKIP_VAR = "cors.preflight"
_LITERAL = re.compile(r"^[A-Za-z0-9.:/-]+$")
_CACHE_LIMIT = 10_000


def normalize_origin(origin: str) -> tuple[str, str]:
    """(``scheme://host[:port]`` without a default port, host); an origin without a scheme is
    its own domain and host."""
    scheme, sep, rest = origin.partition("://")
    if not sep or not rest:
        return origin, origin
    authority = rest.split("/", 1)[0].rsplit("@", 1)[-1]
    if authority.startswith("["):
        host, _, port = authority[1:].partition("]")
        port = port[1:] if port.startswith(":") else ""
        shown = f"[{host}]"
    else:
        host, _, port = authority.partition(":")
        shown = host
    if (scheme == "http" and port == "80") or (scheme == "https" and port == "443"):
        port = ""
    return f"{scheme}://{shown}{':' + port if port else ''}", host


class _Entry:
    __slots__ = ("regex", "domain", "by_host")

    def __init__(self, entry: str) -> None:
        self.by_host = ":" not in entry
        if _LITERAL.match(entry):
            self.regex = None
            self.domain = normalize_origin(entry)[0]
        else:
            pattern = entry if entry.endswith("$") else entry + "$"
            pattern = pattern[1:] if pattern.startswith("^") else pattern
            self.regex = re.compile(t.pcre_to_python(pattern))
            self.domain = None

    def matches(self, domain: str, host: str) -> bool:
        if self.regex is None:
            return domain == self.domain
        return self.regex.match(host if self.by_host else domain) is not None


class Handler(PluginHandler):
    NAME = "cors"
    PRIORITY = 2000
    VERSION = "3.9.0"

    def __init__(
        self, config: Mapping[str, Any], plugin: Mapping[str, Any], services: PluginServices
    ) -> None:
        super().__init__(config, plugin, services)
        origins = list(config.get("origins") or ())
        self.allow_all = not origins or origins == ["*"]
        self.static = (
            origins[0].encode() if len(origins) == 1 and _LITERAL.match(origins[0]) else None
        )
        self.star_listed = "*" in origins
        self.entries = tuple(_Entry(o) for o in origins if o != "*")
        self.credentials = bool(config["credentials"])
        self.exposed = ",".join(config.get("exposed_headers") or ()).encode() or None
        self.allow_headers = ",".join(config.get("headers") or ()).encode() or None
        methods = config.get("methods")
        self.methods = ",".join(methods if methods is not None else METHODS).encode()
        max_age = config.get("max_age")
        self.max_age = (
            None
            if max_age is None
            else (b"%d" % max_age if float(max_age).is_integer() else repr(max_age).encode())
        )
        self.private_network = bool(config["private_network"])
        self.preflight_continue = bool(config["preflight_continue"])
        self.allow_origin_absent = bool(config["allow_origin_absent"])
        self._filter_edits: dict[bytes | None, tuple[frozenset, tuple]] = {}

    # -- access: preflight ------------------------------------------------------------------
    def on_request(self, ctx: RequestContext) -> LocalResponse | None:
        req = ctx.request
        if req.method != b"OPTIONS":
            return None
        origin = req.get(b"origin")
        if origin is None or req.get(b"access-control-request-method") is None:
            return None
        ctx.vars[SKIP_VAR] = True  # the preflight's headers are all set here (or upstream's)
        if self.preflight_continue:
            return None
        edits = _Edits()
        allow_all = self._origin(edits, origin, add_vary=False)
        self._credentials(edits, allow_all, origin, add_vary=False)
        if self.allow_headers is not None:
            edits.set(ACAH, self.allow_headers)
        else:
            requested = req.get(b"access-control-request-headers")
            if requested is not None:
                edits.set(ACAH, requested)
        edits.set(ACAM, self.methods)
        if self.max_age is not None:
            edits.set(ACMA, self.max_age)
        if self.private_network and req.get(b"access-control-request-private-network") == b"true":
            edits.set(ACAPN, b"true")
        return LocalResponse(200, b"", list(edits.added))

    # -- header filter ----------------------------------------------------------------------
    def on_response_head(self, ctx: RequestContext) -> None:
        if ctx.response is None or SKIP_VAR in ctx.vars:
            return
        origin = ctx.request.get(b"origin")
        if origin is None and not self.allow_origin_absent:
            return
        found = self._filter_edits.get(origin)
        if found is None:
            found = self._compile_filter_edits(origin)
        remove, add = found
        headers = ctx.response.headers
        if remove:
            for name, _ in headers:
                if name in remove:
                    headers[:] = [h for h in headers if h[0] not in remove]
                    break
        headers.extend(add)

    def _compile_filter_edits(self, origin: bytes | None) -> tuple[frozenset, tuple]:
        """What the header filter does for requests from ``origin`` (cached: it depends on
        nothing else)."""
        edits = _Edits()
        allow_all = self._origin(edits, origin, add_vary=True)
        self._credentials(edits, allow_all, origin, add_vary=True)
        if self.exposed is not None:
            edits.set(ACEH, self.exposed)
        if len(self._filter_edits) >= _CACHE_LIMIT:
            self._filter_edits.clear()
        found = self._filter_edits[origin] = (frozenset(edits.removed), tuple(edits.added))
        return found

    # -- Kong's configure_origin / configure_credentials ------------------------------------
    def _origin(self, edits: _Edits, origin: bytes | None, add_vary: bool) -> bool:
        if self.allow_all:
            edits.set(ACAO, b"*")
            return True
        edits.vary(add_vary)
        if self.static is not None:
            edits.set(ACAO, self.static)
            return False
        if origin is not None:
            if self.star_listed:
                edits.set(ACAO, b"*")
                return True
            domain, host = normalize_origin(origin.decode("latin-1"))
            for entry in self.entries:
                if entry.matches(domain, host):
                    edits.set(ACAO, domain.encode("latin-1"))
                    return False
        edits.clear(ACAO)
        return False

    def _credentials(
        self, edits: _Edits, allow_all: bool, origin: bytes | None, add_vary: bool
    ) -> None:
        if not self.credentials:
            return
        if not allow_all:
            edits.set(ACAC, b"true")
        elif origin is not None:
            edits.vary(add_vary)
            edits.set(ACAO, origin)
            edits.set(ACAC, b"true")


class _Edits:
    """Header edits in Kong's terms, folded into (names to remove, headers to append)."""

    __slots__ = ("removed", "added")

    def __init__(self) -> None:
        self.removed: set[bytes] = set()
        self.added: list[tuple[bytes, bytes]] = []

    def set(self, name: bytes, value: bytes) -> None:
        """Kong's ``set_header``: every ``name`` header is replaced by this one."""
        self.clear(name)
        self.added.append((name, value))

    def clear(self, name: bytes) -> None:
        self.removed.add(name)
        self.added = [h for h in self.added if h[0] != name]

    def vary(self, add: bool) -> None:
        """``Vary: Origin``: added beside the upstream's Vary in the header filter, set in a
        preflight answer."""
        if add:
            self.added.append((VARY, b"Origin"))
        else:
            self.set(VARY, b"Origin")
