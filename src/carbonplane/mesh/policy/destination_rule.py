"""DestinationRule: parse and validate Istio's ``spec`` into typed traffic policy.

istio/api ``networking/v1alpha3/destination_rule.proto``. Stored for the control plane to push;
the sidecar's balancer, pool and outlier layers act on it later. A field left out stays ``None``
so that the consumer applies Istio's default (listed in ``docs/mesh-policy.md``), and port-level
settings do not inherit from the destination level (Istio: omitted fields fall back to defaults).

Supported: ``host``, ``subsets`` (name, labels, trafficPolicy), ``trafficPolicy`` with
``loadBalancer`` (simple, consistentHash by header/cookie/source IP/query parameter, ring hash or
maglev sizes), ``connectionPool`` (tcp and http limits, timeouts, keepalive), ``outlierDetection``,
``tls.mode`` (DISABLE, ISTIO_MUTUAL) and ``portLevelSettings``. Reported unsupported with the
line: ``exportTo``, ``workloadSelector``, locality/zone-aware balancing, warmup, tunnel, proxy
protocol, retry budget, TLS modes with operator-supplied certificates, the deprecated
``consecutiveErrors``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from carbonplane.mesh.policy.fields import Fields, Path

SIMPLE_LB = ("UNSPECIFIED", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST", "LEAST_CONN")
TLS_MODES = ("DISABLE", "ISTIO_MUTUAL")
INT32 = 2**31 - 1


@dataclass(frozen=True)
class HashCookie:
    name: str
    path: str | None
    ttl: float | None


@dataclass(frozen=True)
class LoadBalancer:
    simple: str | None = None
    hash_header: str | None = None
    hash_cookie: HashCookie | None = None
    hash_source_ip: bool = False
    hash_query_parameter: str | None = None
    ring_size: int | None = None
    maglev_table_size: int | None = None


@dataclass(frozen=True)
class ConnectionPool:
    max_connections: int | None = None
    connect_timeout: float | None = None
    keepalive_time: float | None = None
    keepalive_interval: float | None = None
    keepalive_probes: int | None = None
    tcp_idle_timeout: float | None = None
    max_connection_duration: float | None = None
    http1_max_pending_requests: int | None = None
    http2_max_requests: int | None = None
    max_requests_per_connection: int | None = None
    max_retries: int | None = None
    http_idle_timeout: float | None = None
    h2_upgrade_policy: str | None = None
    max_concurrent_streams: int | None = None


@dataclass(frozen=True)
class OutlierDetection:
    consecutive_5xx_errors: int | None = None
    consecutive_gateway_errors: int | None = None
    interval: float | None = None
    base_ejection_time: float | None = None
    max_ejection_percent: int | None = None
    min_health_percent: int | None = None
    split_external_local_origin_errors: bool | None = None
    consecutive_local_origin_failures: int | None = None


@dataclass(frozen=True)
class TrafficPolicy:
    load_balancer: LoadBalancer | None = None
    connection_pool: ConnectionPool | None = None
    outlier_detection: OutlierDetection | None = None
    tls_mode: str | None = None
    port_level: tuple[tuple[int, "TrafficPolicy"], ...] = ()


@dataclass(frozen=True)
class Subset:
    name: str
    labels: tuple[tuple[str, str], ...]
    traffic_policy: TrafficPolicy | None


@dataclass(frozen=True)
class DestinationRuleSpec:
    host: str
    traffic_policy: TrafficPolicy | None
    subsets: tuple[Subset, ...]


_POLICY_UNSUPPORTED = {
    "tunnel": "HTTP CONNECT tunnelling is not implemented",
    "proxyProtocol": "PROXY protocol to upstreams is not implemented",
    "retryBudget": "retry budgets are set by the sidecar's retry layer, not per rule yet",
}


def parse_destination_rule(fields: Fields, spec: Any, path: Path) -> DestinationRuleSpec:
    m = fields.mapping(
        spec,
        path,
        {"host", "trafficPolicy", "subsets"},
        {
            "exportTo": "visibility scoping is not implemented; rules are visible mesh-wide",
            "workloadSelector": "per-client rules are not implemented",
        },
    )
    host = fields.text(m, "host", path, required=True) or ""
    policy = (
        _policy(fields, m.get("trafficPolicy"), path + ("trafficPolicy",), True)
        if m.get("trafficPolicy") is not None
        else None
    )
    subsets, names = [], set()
    for at, item in fields.items(m, "subsets", path):
        s = fields.mapping(item, at, {"name", "labels", "trafficPolicy"})
        name = fields.text(s, "name", at, required=True) or ""
        if name in names:
            fields.report(at + ("name",), f"duplicate subset name {name!r}")
        names.add(name)
        labels = s.get("labels") or {}
        if not isinstance(labels, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            fields.report(at + ("labels",), "must be a mapping of string labels")
            labels = {}
        sub_policy = (
            _policy(fields, s["trafficPolicy"], at + ("trafficPolicy",), True)
            if s.get("trafficPolicy") is not None
            else None
        )
        subsets.append(Subset(name, tuple(sorted(labels.items())), sub_policy))
    return DestinationRuleSpec(host, policy, tuple(subsets))


def _policy(fields: Fields, value: Any, path: Path, top: bool) -> TrafficPolicy:
    known = {"loadBalancer", "connectionPool", "outlierDetection", "tls"}
    if top:
        known.add("portLevelSettings")
    m = fields.mapping(value, path, known, _POLICY_UNSUPPORTED if top else None)
    ports: list[tuple[int, TrafficPolicy]] = []
    for at, item in fields.items(m, "portLevelSettings", path) if top else []:
        if isinstance(item, dict):
            selector = fields.mapping(item.get("port"), at + ("port",), {"number"})
            number = fields.integer(selector, "number", at + ("port",), 1, 65535, required=True)
            rest = {k: v for k, v in item.items() if k != "port"}
            settings = _policy(fields, rest, at, False)
            if number is not None:
                ports.append((number, settings))
        else:
            fields.report(at, "must be a mapping")
    lb = (
        _load_balancer(fields, m["loadBalancer"], path + ("loadBalancer",))
        if m.get("loadBalancer") is not None
        else None
    )
    pool = (
        _pool(fields, m["connectionPool"], path + ("connectionPool",))
        if m.get("connectionPool") is not None
        else None
    )
    outlier = (
        _outlier(fields, m["outlierDetection"], path + ("outlierDetection",))
        if m.get("outlierDetection") is not None
        else None
    )
    tls_mode = None
    if m.get("tls") is not None:
        at = path + ("tls",)
        tls = fields.mapping(
            m["tls"],
            at,
            {"mode"},
            {
                k: "operator-supplied certificates are not implemented; the mesh uses ISTIO_MUTUAL"
                for k in (
                    "clientCertificate",
                    "privateKey",
                    "caCertificates",
                    "credentialName",
                    "subjectAltNames",
                    "sni",
                    "insecureSkipVerify",
                    "caCrl",
                )
            },
        )
        if tls.get("mode") in ("SIMPLE", "MUTUAL"):
            fields.report(
                at + ("mode",),
                f"unsupported: {tls['mode']} (operator-supplied "
                "certificates); use ISTIO_MUTUAL or DISABLE",
            )
        else:
            tls_mode = fields.text(tls, "mode", at, choices=TLS_MODES)
    return TrafficPolicy(lb, pool, outlier, tls_mode, tuple(ports))


def _load_balancer(fields: Fields, value: Any, path: Path) -> LoadBalancer:
    m = fields.mapping(
        value,
        path,
        {"simple", "consistentHash"},
        {
            "localityLbSetting": "there is one locality; locality failover is not implemented",
            "zoneAwareLbSetting": "there is one locality; zone-aware balancing is not implemented",
            "warmupDurationSecs": "slow start is not implemented",
            "warmup": "slow start is not implemented",
        },
    )
    simple = fields.text(m, "simple", path, choices=SIMPLE_LB)
    if "simple" in m and "consistentHash" in m:
        fields.report(path, "set one of 'simple' or 'consistentHash'")
    if m.get("consistentHash") is None:
        return LoadBalancer(simple=simple)
    at = path + ("consistentHash",)
    h = fields.mapping(
        m["consistentHash"],
        at,
        {
            "httpHeaderName",
            "httpCookie",
            "useSourceIp",
            "httpQueryParameterName",
            "ringHash",
            "maglev",
            "minimumRingSize",
        },
    )
    keys = [
        k
        for k in ("httpHeaderName", "httpCookie", "useSourceIp", "httpQueryParameterName")
        if h.get(k) not in (None, False)
    ]
    if len(keys) != 1:
        fields.report(
            at,
            "set exactly one hash key: httpHeaderName, httpCookie, useSourceIp "
            "or httpQueryParameterName",
        )
    cookie = None
    if h.get("httpCookie") is not None:
        c = fields.mapping(
            h["httpCookie"],
            at + ("httpCookie",),
            {"name", "path", "ttl"},
            {"attributes": "cookie attributes are not implemented"},
        )
        cookie = HashCookie(
            fields.text(c, "name", at + ("httpCookie",), required=True) or "",
            fields.text(c, "path", at + ("httpCookie",)),
            fields.duration(c, "ttl", at + ("httpCookie",)),
        )
    ring = fields.integer(h, "minimumRingSize", at, 1, 2**23)
    if h.get("ringHash") is not None:
        ring = fields.integer(
            fields.mapping(h["ringHash"], at + ("ringHash",), {"minimumRingSize"}),
            "minimumRingSize",
            at + ("ringHash",),
            1,
            2**23,
        )
    maglev = None
    if h.get("maglev") is not None:
        maglev = fields.integer(
            fields.mapping(h["maglev"], at + ("maglev",), {"tableSize"}),
            "tableSize",
            at + ("maglev",),
            1,
            5_000_011,
        )
    return LoadBalancer(
        simple,
        fields.text(h, "httpHeaderName", at),
        cookie,
        bool(fields.flag(h, "useSourceIp", at)),
        fields.text(h, "httpQueryParameterName", at),
        ring,
        maglev,
    )


def _pool(fields: Fields, value: Any, path: Path) -> ConnectionPool:
    m = fields.mapping(value, path, {"tcp", "http"})
    at_t, at_h = path + ("tcp",), path + ("http",)
    tcp = fields.mapping(
        m.get("tcp"),
        at_t,
        {
            "maxConnections",
            "connectTimeout",
            "tcpKeepalive",
            "idleTimeout",
            "maxConnectionDuration",
        },
    )
    http = fields.mapping(
        m.get("http"),
        at_h,
        {
            "http1MaxPendingRequests",
            "http2MaxRequests",
            "maxRequestsPerConnection",
            "maxRetries",
            "idleTimeout",
            "h2UpgradePolicy",
            "maxConcurrentStreams",
        },
        {
            "useClientProtocol": "upstream HTTP/2 is not implemented; requests go out as HTTP/1.1",
            "http2KeepAlive": "upstream HTTP/2 is not implemented",
        },
    )
    ka = fields.mapping(
        tcp.get("tcpKeepalive"), at_t + ("tcpKeepalive",), {"time", "interval", "probes"}
    )
    at_k = at_t + ("tcpKeepalive",)
    return ConnectionPool(
        fields.integer(tcp, "maxConnections", at_t, 1, INT32),
        fields.duration(tcp, "connectTimeout", at_t, minimum=0.001),
        fields.duration(ka, "time", at_k),
        fields.duration(ka, "interval", at_k),
        fields.integer(ka, "probes", at_k, 1, 2**32 - 1),
        fields.duration(tcp, "idleTimeout", at_t),
        fields.duration(tcp, "maxConnectionDuration", at_t, minimum=0.001),
        fields.integer(http, "http1MaxPendingRequests", at_h, 1, INT32),
        fields.integer(http, "http2MaxRequests", at_h, 1, INT32),
        fields.integer(http, "maxRequestsPerConnection", at_h, 0, 2**29),
        fields.integer(http, "maxRetries", at_h, 0, INT32),
        fields.duration(http, "idleTimeout", at_h),
        fields.text(
            http, "h2UpgradePolicy", at_h, choices=("DEFAULT", "DO_NOT_UPGRADE", "UPGRADE")
        ),
        fields.integer(http, "maxConcurrentStreams", at_h, 1, INT32),
    )


def _outlier(fields: Fields, value: Any, path: Path) -> OutlierDetection:
    m = fields.mapping(
        value,
        path,
        {
            "consecutive5xxErrors",
            "consecutiveGatewayErrors",
            "interval",
            "baseEjectionTime",
            "maxEjectionPercent",
            "minHealthPercent",
            "splitExternalLocalOriginErrors",
            "consecutiveLocalOriginFailures",
        },
        {
            "consecutiveErrors": "deprecated by Istio; use consecutive5xxErrors or "
            "consecutiveGatewayErrors",
            "outlierDetectionHttpErrorCodes": "custom error codes are not implemented",
        },
    )
    return OutlierDetection(
        fields.integer(m, "consecutive5xxErrors", path, 0, 2**32 - 1),
        fields.integer(m, "consecutiveGatewayErrors", path, 0, 2**32 - 1),
        fields.duration(m, "interval", path, minimum=0.001),
        fields.duration(m, "baseEjectionTime", path, minimum=0.001),
        fields.integer(m, "maxEjectionPercent", path, 0, 100),
        fields.integer(m, "minHealthPercent", path, 0, 100),
        fields.flag(m, "splitExternalLocalOriginErrors", path),
        fields.integer(m, "consecutiveLocalOriginFailures", path, 0, 2**32 - 1),
    )
