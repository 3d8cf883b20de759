"""What proxy-cache may serve from and keep: Kong's request and response rules, our guards.

Kong's rules (``kong/plugins/proxy-cache/handler.lua``):

- a request is cacheable when its method is in ``request_method`` and, with ``cache_control``,
  it carries neither ``Cache-Control: no-store`` / ``no-cache`` nor an ``Authorization`` header
  (Kong's code means to refuse those but reads a variable nginx never sets, so Kong caches
  them: a difference listed in docs/gateway.md);
- a response is cacheable when its status is in ``response_code``; it has exactly one
  ``Content-Type`` that matches an entry of ``content_type`` (type and subtype equal or ``*``,
  and the same parameters: ``application/json; charset=utf-8`` does not match
  ``application/json``); and, with ``cache_control``, its ``Cache-Control`` has none of
  ``private``, ``no-store``, ``no-cache`` and its lifetime is positive;
- the lifetime (Kong's ``calculate_resource_ttl``): ``s-maxage``, else ``max-age``, else
  ``Expires`` minus now, floored at 0; without ``cache_control`` it is ``cache_ttl``.

Our guards (settings restore Kong's behaviour): a response with ``Set-Cookie`` is not kept
(``cache_set_cookie``), nor one whose ``Vary`` names a request header the key does not include,
or ``*`` (``honour_vary``): either would serve one client's response to another. A response
whose ``Content-Length`` exceeds ``max_body_bytes`` is not kept (decided at the head).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from email.utils import parsedate_tz
from typing import Any

Directives = dict[str, Any]


def directives(values: Sequence[bytes]) -> Directives:
    """Kong's ``parse_directive_header`` over every header line: lowercase names; a numeric
    value as a number, another value as text (quotes removed), no value as True."""
    out: Directives = {}
    for value in values:
        for item in value.decode("latin-1").split(","):
            name, eq, arg = item.strip().partition("=")
            name = name.strip().lower()
            if not name:
                continue
            if not eq:
                out[name] = True
                continue
            arg = arg.strip().strip('"')
            out[name] = int(arg) if arg.isdigit() and arg.isascii() else arg
    return out


def http_date(value: bytes) -> float | None:
    parsed = parsedate_tz(value.decode("latin-1"))
    if parsed is None:
        return None
    return calendar.timegm(parsed[:9]) - (parsed[9] or 0)


def resource_ttl(cc: Directives, expires: Sequence[bytes], now: float) -> float:
    """Kong's ``calculate_resource_ttl``: seconds the response stays fresh, at least 0."""
    max_age = cc.get("s-maxage")
    if not isinstance(max_age, int):
        max_age = cc.get("max-age")
    if not isinstance(max_age, int):
        max_age = None
        when = http_date(expires[-1]) if expires else None
        if when is not None:
            max_age = when - now
    return max(max_age, 0) if max_age is not None else 0


def mime(value: str) -> tuple[str, str, dict[str, str]] | None:
    """(type, subtype, params) lowercased (param values kept), or None if malformed."""
    head, *params = value.split(";")
    kind, slash, sub = head.strip().lower().partition("/")
    if not slash or not kind or not sub:
        return None
    out: dict[str, str] = {}
    for param in params:
        name, eq, arg = param.strip().partition("=")
        if eq and name.strip():
            out[name.strip().lower()] = arg.strip().strip('"')
    return kind, sub, out


def content_type_matches(value: bytes, accepted: Sequence[tuple]) -> bool:
    got = mime(value.decode("latin-1"))
    if got is None:
        return False
    kind, sub, params = got
    for want_kind, want_sub, want_params in accepted:
        if want_kind not in ("*", kind) or want_sub not in ("*", sub):
            continue
        if want_params == params:
            return True
    return False


class Rules:
    """One plugin config's cacheability rules, compiled."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.methods = frozenset(m.encode() for m in config["request_method"])
        self.codes = frozenset(config["response_code"])
        self.types = tuple(m for m in (mime(c) for c in config["content_type"]) if m)
        self.cache_control = bool(config["cache_control"])
        self.cache_ttl = float(config["cache_ttl"])
        self.storage_ttl = config["storage_ttl"]
        self.set_cookie = bool(config["cache_set_cookie"])
        self.honour_vary = bool(config["honour_vary"])
        self.vary = frozenset(h.lower() for h in config["vary_headers"] or ())
        self.max_body = int(config["max_body_bytes"])

    def request(self, method: bytes, cc: Directives, headers: Any) -> bool:
        if method not in self.methods:
            return False
        if self.cache_control and (
            cc.get("no-store") or cc.get("no-cache") or headers.get(b"authorization")
        ):
            return False
        return True

    def response(self, head: Any, now: float) -> float | None:
        """The freshness lifetime to keep this response for, or None: not cacheable."""
        if head.status not in self.codes:
            return None
        types = head.get_all(b"content-type")
        if len(types) != 1 or not types[0] or not content_type_matches(types[0], self.types):
            return None
        if not self.set_cookie and head.get(b"set-cookie") is not None:
            return None
        if self.honour_vary:
            for value in head.get_all(b"vary"):
                for name in value.decode("latin-1").split(","):
                    name = name.strip().lower()
                    if name and name not in self.vary:
                        return None
        if head.framing == 1 and head.content_length > self.max_body:  # FRAMING_LENGTH
            return None
        if not self.cache_control:
            return self.cache_ttl
        cc = directives(head.get_all(b"cache-control"))
        if cc.get("private") or cc.get("no-store") or cc.get("no-cache"):
            return None
        ttl = resource_ttl(cc, head.get_all(b"expires"), now)
        return ttl if ttl > 0 else None

    def storage(self, ttl: float) -> float:
        """How long the store keeps an entry: ``storage_ttl``, else the lifetime."""
        if self.storage_ttl is not None:
            return float(self.storage_ttl)
        return ttl if self.cache_control else self.cache_ttl
