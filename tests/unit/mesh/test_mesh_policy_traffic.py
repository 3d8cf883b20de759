"""DestinationRule and VirtualService: typed values for what the sidecar will act on, unknown
and unsupported fields reported with their lines."""

from __future__ import annotations

import pytest
from policytools import bundle, issues

from carbonplane.mesh.policy.destination_rule import DestinationRuleSpec
from carbonplane.mesh.policy.virtual_service import StringMatch, VirtualServiceSpec


def doc(kind: str, spec: str, name: str = "r") -> str:
    return (
        f"apiVersion: networking.istio.io/v1beta1\nkind: {kind}\nmetadata:\n  name: {name}\n"
        f"  namespace: foo\nspec:\n"
        + "".join(f"  {line}\n" for line in spec.strip("\n").splitlines())
    )


DR = """\
host: api.foo.svc.cluster.local
trafficPolicy:
  loadBalancer:
    consistentHash:
      httpCookie: {name: session, ttl: 3600s}
      ringHash: {minimumRingSize: 2048}
  connectionPool:
    tcp:
      maxConnections: 100
      connectTimeout: 1.5s
      tcpKeepalive: {time: 7200s, interval: 75s, probes: 9}
    http: {http1MaxPendingRequests: 50, http2MaxRequests: 100, maxRequestsPerConnection: 10,
           maxRetries: 3, idleTimeout: 5m, h2UpgradePolicy: DO_NOT_UPGRADE}
  outlierDetection: {consecutive5xxErrors: 5, interval: 30s, baseEjectionTime: 30s,
                     maxEjectionPercent: 50, minHealthPercent: 50}
  tls: {mode: ISTIO_MUTUAL}
  portLevelSettings:
  - port: {number: 8080}
    loadBalancer: {simple: LEAST_REQUEST}
subsets:
- name: v1
  labels: {version: v1}
  trafficPolicy: {loadBalancer: {simple: RANDOM}}
"""


def test_destination_rule_typed():
    spec: DestinationRuleSpec = bundle(doc("DestinationRule", DR)).resources[0].spec
    tp = spec.traffic_policy
    assert spec.host == "api.foo.svc.cluster.local"
    assert tp.load_balancer.hash_cookie.name == "session"
    assert tp.load_balancer.hash_cookie.ttl == 3600.0 and tp.load_balancer.ring_size == 2048
    pool = tp.connection_pool
    assert (
        pool.max_connections,
        pool.connect_timeout,
        pool.keepalive_time,
        pool.keepalive_probes,
    ) == (100, 1.5, 7200.0, 9)
    assert (
        pool.http1_max_pending_requests,
        pool.http2_max_requests,
        pool.max_requests_per_connection,
        pool.max_retries,
        pool.http_idle_timeout,
        pool.h2_upgrade_policy,
    ) == (50, 100, 10, 3, 300.0, "DO_NOT_UPGRADE")
    od = tp.outlier_detection
    assert (
        od.consecutive_5xx_errors,
        od.interval,
        od.base_ejection_time,
        od.max_ejection_percent,
        od.min_health_percent,
        od.consecutive_gateway_errors,
    ) == (5, 30.0, 30.0, 50, 50, None)  # unset stays None: the consumer applies Istio's default
    assert tp.tls_mode == "ISTIO_MUTUAL"
    [(port, level)] = tp.port_level
    assert port == 8080 and level.load_balancer.simple == "LEAST_REQUEST"
    assert level.connection_pool is None  # port level does not inherit
    assert spec.subsets[0].name == "v1" and spec.subsets[0].labels == (("version", "v1"),)


@pytest.mark.parametrize(
    "spec, line, path, words",
    [
        ("host: a\nexportTo: ['.']", 8, "spec.exportTo", "unsupported"),
        (
            "host: a\ntrafficPolicy:\n  loadBalancer:\n    localityLbSetting: {enabled: true}",
            10,
            "spec.trafficPolicy.loadBalancer.localityLbSetting",
            "unsupported",
        ),
        (
            "host: a\ntrafficPolicy:\n  outlierDetection: {consecutiveErrors: 3}",
            9,
            "spec.trafficPolicy.outlierDetection.consecutiveErrors",
            "deprecated",
        ),
        (
            "host: a\ntrafficPolicy:\n  tls: {mode: MUTUAL}",
            9,
            "spec.trafficPolicy.tls.mode",
            "unsupported",
        ),
        (
            "host: a\ntrafficPolicy:\n  connectionPool:\n    tcp: {connectTimeout: 10}",
            10,
            "spec.trafficPolicy.connectionPool.tcp.connectTimeout",
            "duration",
        ),
        (
            "host: a\ntrafficPolicy:\n  connectionPool:\n    tcp: {maxConnection: 10}",
            10,
            "spec.trafficPolicy.connectionPool.tcp.maxConnection",
            "did you mean 'maxConnections'",
        ),
        (
            "host: a\ntrafficPolicy:\n  loadBalancer: {simple: FASTEST}",
            9,
            "spec.trafficPolicy.loadBalancer.simple",
            "not one of",
        ),
        (
            "host: a\ntrafficPolicy:\n  loadBalancer:\n    consistentHash: {useSourceIp: true, "
            "httpHeaderName: x}",
            10,
            "spec.trafficPolicy.loadBalancer.consistentHash",
            "exactly one",
        ),
        (
            "host: a\ntrafficPolicy:\n  outlierDetection: {maxEjectionPercent: 150}",
            9,
            "spec.trafficPolicy.outlierDetection.maxEjectionPercent",
            "0 to 100",
        ),
        ("trafficPolicy: {}", 6, "spec", "'host' is required"),
        ("host: a\nsubsets:\n- {name: v1}\n- {name: v1}", 10, "spec.subsets[1].name", "duplicate"),
        (
            "host: a\ntrafficPolicy:\n  portLevelSettings:\n  - port: {number: 0}",
            10,
            "spec.trafficPolicy.portLevelSettings[0].port.number",
            "1 to 65535",
        ),
    ],
)
def test_destination_rule_refusals(spec, line, path, words):
    found = issues(doc("DestinationRule", spec))
    assert any(n == line and p == path and words in m for n, p, m in found), found


VS = """\
hosts: [api.foo.svc.cluster.local]
http:
- name: search
  match:
  - headers: {x-op: {prefix: search}}
    uri: {regex: '/v[0-9]+/.*'}
    method: {exact: GET}
    ignoreUriCase: true
  route:
  - destination: {host: api.foo.svc.cluster.local, subset: v1, port: {number: 8080}}
    weight: 90
  - destination: {host: api.foo.svc.cluster.local, subset: v2}
    weight: 10
  timeout: 30s
  retries: {attempts: 3, perTryTimeout: 10s, retryOn: '5xx,reset,503', backoff: 25ms}
  fault:
    delay: {fixedDelay: 100ms, percentage: {value: 1.5}}
    abort: {httpStatus: 503, percentage: {value: 0.1}}
- route:
  - destination: {host: api.foo.svc.cluster.local}
"""


def test_virtual_service_typed():
    spec: VirtualServiceSpec = bundle(doc("VirtualService", VS)).resources[0].spec
    first, default = spec.http
    assert first.name == "search" and first.timeout == 30.0
    m = first.matches[0]
    assert m.headers == (("x-op", StringMatch("prefix", "search")),)
    assert m.uri.matches("/V2/items", ignore_case=True) and not m.uri.matches("/v2")
    assert [(d.subset, d.port, d.weight) for d in first.routes] == [
        ("v1", 8080, 90),
        ("v2", None, 10),
    ]
    assert first.retries.attempts == 3 and first.retries.retry_on == ("5xx", "reset", "503")
    assert first.retries.per_try_timeout == 10.0 and first.retries.backoff == 0.025
    assert (
        first.fault.delay,
        first.fault.delay_percent,
        first.fault.abort_status,
        first.fault.abort_percent,
    ) == (0.1, 1.5, 503, 0.1)
    assert first.fault_disables_retries and not default.fault_disables_retries
    assert default.timeout is None and default.retries is None  # Istio defaults apply


@pytest.mark.parametrize(
    "spec, line, path, words",
    [
        (
            "hosts: [a]\ngateways: [mesh]\nhttp: [{route: [{destination: {host: a}}]}]",
            8,
            "spec.gateways",
            "unsupported",
        ),
        ("hosts: [a]\ntcp: []", 8, "spec.tcp", "unsupported"),
        (
            "hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  mirror: {host: b}",
            10,
            "spec.http[0].mirror",
            "unsupported",
        ),
        ("hosts: [a]\nhttp:\n- redirect: {uri: /x}", 9, "spec.http[0].redirect", "unsupported"),
        (
            "hosts: [a]\nhttp:\n- match: [{queryParams: {a: {exact: b}}}]\n  route: "
            "[{destination: {host: a}}]",
            9,
            "spec.http[0].match[0].queryParams",
            "unsupported",
        ),
        (
            "hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  retries: {attempts: 2, "
            "retryOn: '5xx,sometimes'}",
            10,
            "spec.http[0].retries.retryOn",
            "sometimes",
        ),
        (
            "hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  timeout: soon",
            10,
            "spec.http[0].timeout",
            "duration",
        ),
        (
            "hosts: [a]\nhttp:\n- match: [{uri: {prefix: /a, exact: /b}}]\n  route: "
            "[{destination: {host: a}}]",
            9,
            "spec.http[0].match[0].uri",
            "exactly one",
        ),
        (
            "hosts: [a]\nhttp:\n- match: [{uri: {regex: '('}}]\n"
            "  route: [{destination: {host: a}}]",
            9,
            "spec.http[0].match[0].uri.regex",
            "invalid regular expression",
        ),
        (
            "hosts: [a]\nhttp:\n- route:\n  - destination: {host: a}\n  - destination: {host: b}",
            9,
            "spec.http[0].route",
            "needs a weight",
        ),
        (
            "hosts: [a]\nhttp:\n- route: [{destination: {host: a}}]\n  fault: {abort: "
            "{grpcStatus: UNAVAILABLE}}",
            10,
            "spec.http[0].fault.abort.grpcStatus",
            "unsupported",
        ),
        (
            "hosts: [a]\nhttp:\n- route: [{destination: {hots: a}}]",
            9,
            "spec.http[0].route[0].destination.hots",
            "did you mean 'host'",
        ),
        ("http: []", 6, "spec", "at least one host"),
        ("hosts: [a]\nhttp:\n- route: []", 9, "spec.http[0].route", "needs 'route'"),
        ("hosts: [a]\nhttp:\n- timeout: 1s", 9, "spec.http[0]", "needs 'route'"),
        (
            "hosts: [a]\nhttp:\n- route: [{destination: {host: a, subset: ''}}]",
            9,
            "spec.http[0].route[0].destination.subset",
            "non-empty",
        ),
    ],
)
def test_virtual_service_refusals(spec, line, path, words):
    found = issues(doc("VirtualService", spec))
    assert any(n == line and p == path and words in m for n, p, m in found), found
