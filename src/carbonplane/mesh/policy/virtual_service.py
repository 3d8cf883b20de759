"""VirtualService: parse and validate Istio's HTTP routes into typed objects.

istio/api ``networking/v1alpha3/virtual_service.proto``. Stored for the control plane to push;
the sidecar's router, timeout, retry and fault layers act on it later. Absent fields stay
``None`` so the consumer applies Istio's defaults: no route timeout; retries ``attempts: 2`` on
``connect-failure,refused-stream,unavailable,cancelled`` (Istio >= 1.24, no 503); and, when a
route injects faults, no timeout or retries on it (Istio's rule, recorded in
``HttpRoute.fault_disables_retries``).

Supported: ``hosts``; ``http`` routes with ``name``, ``match`` (uri, method, authority, headers as
exact/prefix/regex, ``port``, ``ignoreUriCase``), ``route`` (destination host/subset/port, weight),
``timeout``, ``retries`` (attempts, perTryTimeout, retryOn, backoff, retryIgnorePreviousHosts),
``fault`` (delay fixedDelay and abort httpStatus, each with ``percentage``). Reported unsupported
with the line: ``gateways``, ``exportTo``, ``tls``/``tcp`` routes, redirect, direct response,
delegate, rewrite, mirroring, CORS, header manipulation and the rarer match fields. Regexes are
compiled with Python's ``re`` and matched whole (Istio uses RE2; the common syntax is the same).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from carbonplane.mesh.policy.fields import Fields, Path

RETRY_ON = frozenset(
    {
        "5xx",
        "gateway-error",
        "reset",
        "reset-before-request",
        "connect-failure",
        "envoy-ratelimited",
        "retriable-4xx",
        "refused-stream",
        "retriable-status-codes",
        "retriable-headers",
        "http3-post-connect-failure",
        "cancelled",
        "deadline-exceeded",
        "internal",
        "resource-exhausted",
        "unavailable",
    }
)


@dataclass(frozen=True)
class StringMatch:
    kind: str  # exact | prefix | regex
    value: str

    def matches(self, text: str, *, ignore_case: bool = False) -> bool:
        if self.kind == "regex":
            return re.fullmatch(self.value, text, re.IGNORECASE if ignore_case else 0) is not None
        value, text = (self.value.lower(), text.lower()) if ignore_case else (self.value, text)
        return text == value if self.kind == "exact" else text.startswith(value)


@dataclass(frozen=True)
class HttpMatch:
    name: str | None = None
    uri: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: tuple[tuple[str, StringMatch], ...] = ()
    port: int | None = None
    ignore_uri_case: bool = False


@dataclass(frozen=True)
class RouteDestination:
    host: str
    subset: str | None
    port: int | None
    weight: int | None


@dataclass(frozen=True)
class Retries:
    attempts: int
    per_try_timeout: float | None
    retry_on: tuple[str, ...]
    backoff: float | None
    ignore_previous_hosts: bool | None


@dataclass(frozen=True)
class Fault:
    delay: float | None = None
    delay_percent: float | None = None
    abort_status: int | None = None
    abort_percent: float | None = None


@dataclass(frozen=True)
class HttpRoute:
    name: str | None
    matches: tuple[HttpMatch, ...]
    routes: tuple[RouteDestination, ...]
    timeout: float | None
    retries: Retries | None
    fault: Fault | None

    @property
    def fault_disables_retries(self) -> bool:
        return self.fault is not None


@dataclass(frozen=True)
class VirtualServiceSpec:
    hosts: tuple[str, ...]
    http: tuple[HttpRoute, ...]


_ROUTE_UNSUPPORTED = {
    k: f"{k} is not implemented"
    for k in (
        "redirect",
        "directResponse",
        "delegate",
        "rewrite",
        "mirror",
        "mirrors",
        "mirrorPercent",
        "mirrorPercentage",
        "corsPolicy",
        "headers",
    )
}
_MATCH_UNSUPPORTED = {
    k: f"matching on {k} is not implemented"
    for k in (
        "scheme",
        "queryParams",
        "withoutHeaders",
        "sourceLabels",
        "sourceNamespace",
        "gateways",
        "statPrefix",
    )
}


def parse_virtual_service(fields: Fields, spec: Any, path: Path) -> VirtualServiceSpec:
    m = fields.mapping(
        spec,
        path,
        {"hosts", "http"},
        {
            "gateways": "gateways are not implemented; routes apply to sidecars (mesh)",
            "exportTo": "visibility scoping is not implemented; routes are visible mesh-wide",
            "tls": "TLS passthrough routes are not implemented",
            "tcp": "TCP routes are not implemented",
        },
    )
    hosts = fields.texts(m, "hosts", path)
    if not hosts:
        fields.report(
            path + ("hosts",) if "hosts" in m else path, "'hosts' needs at least one host"
        )
    routes = tuple(_route(fields, item, at) for at, item in fields.items(m, "http", path))
    return VirtualServiceSpec(hosts, routes)


def _string_match(fields: Fields, value: Any, path: Path) -> StringMatch | None:
    m = fields.mapping(value, path, {"exact", "prefix", "regex"})
    kinds = [k for k in ("exact", "prefix", "regex") if k in m]
    if len(kinds) != 1:
        fields.report(path, "set exactly one of exact, prefix, regex")
        return None
    text = m[kinds[0]]
    if not isinstance(text, str):
        fields.report(path + (kinds[0],), f"must be a string, not {text!r}")
        return None
    if kinds[0] == "regex":
        try:
            re.compile(text)
        except re.error as exc:
            fields.report(path + ("regex",), f"invalid regular expression: {exc}")
            return None
    return StringMatch(kinds[0], text)


def _match(fields: Fields, value: Any, path: Path) -> HttpMatch:
    m = fields.mapping(
        value,
        path,
        {"name", "uri", "method", "authority", "headers", "port", "ignoreUriCase"},
        _MATCH_UNSUPPORTED,
    )
    parts = {
        k: _string_match(fields, m[k], path + (k,))
        for k in ("uri", "method", "authority")
        if m.get(k) is not None
    }
    headers = []
    raw = m.get("headers")
    if raw is not None:
        if not isinstance(raw, dict):
            fields.report(path + ("headers",), "must be a mapping of header name to match")
        else:
            for name, hm in raw.items():
                sm = _string_match(fields, hm, path + ("headers", str(name)))
                if sm is not None:
                    headers.append((str(name).lower(), sm))
    return HttpMatch(
        fields.text(m, "name", path),
        parts.get("uri"),
        parts.get("method"),
        parts.get("authority"),
        tuple(headers),
        fields.integer(m, "port", path, 1, 65535),
        bool(fields.flag(m, "ignoreUriCase", path)),
    )


def _destination(fields: Fields, value: Any, path: Path) -> RouteDestination | None:
    m = fields.mapping(
        value,
        path,
        {"destination", "weight"},
        {"headers": "header manipulation is not implemented"},
    )
    at = path + ("destination",)
    d = fields.mapping(m.get("destination"), at, {"host", "subset", "port"})
    host = fields.text(d, "host", at, required=True)
    port = None
    if d.get("port") is not None:
        port = fields.integer(
            fields.mapping(d["port"], at + ("port",), {"number"}),
            "number",
            at + ("port",),
            1,
            65535,
            required=True,
        )
    weight = fields.integer(m, "weight", path, 0, 2**31 - 1)
    return RouteDestination(host, fields.text(d, "subset", at), port, weight) if host else None


def _retries(fields: Fields, value: Any, path: Path) -> Retries:
    m = fields.mapping(
        value,
        path,
        {"attempts", "perTryTimeout", "retryOn", "backoff", "retryIgnorePreviousHosts"},
        {"retryRemoteLocalities": "there is one locality"},
    )
    attempts = fields.integer(m, "attempts", path, 0, 2**31 - 1, required=True) or 0
    retry_on: list[str] = []
    text = fields.text(m, "retryOn", path)
    for part in text.split(",") if text else []:
        part = part.strip()
        if part in RETRY_ON or (part.isdigit() and 100 <= int(part) <= 599):
            retry_on.append(part)
        else:
            fields.report(
                path + ("retryOn",),
                f"unknown retry condition {part!r}; known: "
                f"{', '.join(sorted(RETRY_ON))} or a status code",
            )
    return Retries(
        attempts,
        fields.duration(m, "perTryTimeout", path, minimum=0.001),
        tuple(retry_on),
        fields.duration(m, "backoff", path, minimum=0.001),
        fields.flag(m, "retryIgnorePreviousHosts", path),
    )


def _fault(fields: Fields, value: Any, path: Path) -> Fault:
    m = fields.mapping(value, path, {"delay", "abort"})
    delay = delay_pct = status = abort_pct = None
    if m.get("delay") is not None:
        at = path + ("delay",)
        d = fields.mapping(
            m["delay"],
            at,
            {"fixedDelay", "percentage"},
            {
                "exponentialDelay": "not implemented (Istio does not either)",
                "percent": "deprecated; use percentage: {value: N}",
            },
        )
        delay = fields.duration(d, "fixedDelay", at, minimum=0.001)
        if delay is None and "fixedDelay" not in d:
            fields.report(at, "'fixedDelay' is required")
        delay_pct = fields.percentage(d, "percentage", at)
    if m.get("abort") is not None:
        at = path + ("abort",)
        a = fields.mapping(
            m["abort"],
            at,
            {"httpStatus", "percentage"},
            {"grpcStatus": "gRPC is not implemented", "http2Error": "HTTP/2 is not implemented"},
        )
        status = fields.integer(a, "httpStatus", at, 200, 599, required=True)
        abort_pct = fields.percentage(a, "percentage", at)
    return Fault(delay, delay_pct, status, abort_pct)


def _route(fields: Fields, value: Any, path: Path) -> HttpRoute:
    m = fields.mapping(
        value, path, {"name", "match", "route", "timeout", "retries", "fault"}, _ROUTE_UNSUPPORTED
    )
    matches = tuple(_match(fields, item, at) for at, item in fields.items(m, "match", path))
    dests = [
        d
        for at, item in fields.items(m, "route", path)
        if (d := _destination(fields, item, at)) is not None
    ]
    if not m.get("route"):
        fields.report(
            path + ("route",) if "route" in m else path, "an HTTP route needs 'route' destinations"
        )
    if len(dests) > 1 and any(d.weight is None for d in dests):
        fields.report(path + ("route",), "with several destinations every one needs a weight")
    if dests and all(d.weight == 0 for d in dests):
        fields.report(path + ("route",), "all weights are 0: no destination would get traffic")
    retries = (
        _retries(fields, m["retries"], path + ("retries",))
        if m.get("retries") is not None
        else None
    )
    fault = _fault(fields, m["fault"], path + ("fault",)) if m.get("fault") is not None else None
    return HttpRoute(
        fields.text(m, "name", path),
        matches,
        tuple(dests),
        fields.duration(m, "timeout", path),
        retries,
        fault,
    )
