"""The 254carbon platform's policies (platforms/254carbon/mesh) load, and decide representative
requests as the corrected intent says, at each stage of the move from PERMISSIVE to STRICT."""

from __future__ import annotations

from pathlib import Path

import pytest

from carbonplane.mesh.policy import PolicyError, Request, load_bundle, load_texts

MESH = Path(__file__).resolve().parents[3] / "platforms" / "254carbon" / "mesh"
STAGE2 = MESH / "stages" / "strict-workloads.yaml"
DP = "data-platform"


def sa(name: str, ns: str = DP) -> str:
    return f"cluster.local/ns/{ns}/sa/{name}"


@pytest.fixture(scope="module")
def base():
    return load_bundle(MESH)


def test_loads_every_kind(base):
    kinds = [r.kind for r in base.resources]
    assert (
        kinds.count("PeerAuthentication"),
        kinds.count("AuthorizationPolicy"),
        kinds.count("DestinationRule"),
        kinds.count("VirtualService"),
    ) == (9, 6, 13, 9)
    assert base.get("AuthorizationPolicy", DP, "allow-all") is None


@pytest.mark.parametrize(
    "labels, request_, allowed, by",
    [
        # datahub-gms
        (
            {"app": "datahub-gms"},
            Request(principal=sa("datahub-frontend"), method="DELETE", port=8080, path="/entities"),
            True,
            "datahub-gms-policy",
        ),
        (
            {"app": "datahub-gms"},
            Request(principal=sa("datahub-mae-consumer"), method="DELETE", port=8080),
            False,
            None,
        ),
        (
            {"app": "datahub-gms"},
            Request(principal=sa("superset-web"), method="GET", port=8080),
            False,
            None,
        ),
        ({"app": "datahub-gms"}, Request(method="GET", port=8080, path="/entities"), False, None),
        (
            {"app": "datahub-gms"},
            Request(
                principal=sa("prometheus", "monitoring"), method="GET", port=8080, path="/metrics"
            ),
            True,
            "datahub-gms-policy",
        ),
        # postgres: identities over mTLS, private networks on the plaintext port
        (
            {"app": "postgres-shared"},
            Request(principal=sa("superset-web"), port=5433),
            True,
            "postgres-access-policy",
        ),
        (
            {"app": "postgres-shared"},
            Request(source_ip="10.42.0.7", port=5432),
            True,
            "postgres-access-policy",
        ),
        ({"app": "postgres-shared"}, Request(source_ip="203.0.113.9", port=5432), False, None),
        (
            {"app": "postgres-shared"},
            Request(principal=sa("portal-services"), port=5433),
            False,
            None,
        ),
        # kafka: both former `source:` entries count (the original's YAML kept only the last)
        (
            {"app": "kafka"},
            Request(principal=sa("datahub-gms"), port=9094),
            True,
            "kafka-access-policy",
        ),
        (
            {"app": "kafka"},
            Request(principal=sa("flink-taskmanager"), port=9094),
            True,
            "kafka-access-policy",
        ),
        ({"app": "kafka"}, Request(principal=sa("mlflow"), port=9094), False, None),
        # minio
        (
            {"app": "minio"},
            Request(principal=sa("anything"), port=9000),
            True,
            "minio-access-policy",
        ),
        (
            {"app": "minio"},
            Request(principal=sa("x", "kong"), method="PUT", port=9000),
            False,
            None,
        ),
        # trino
        (
            {"app": "trino-coordinator"},
            Request(principal=sa("superset-web"), method="POST", port=8080, path="/v1/statement"),
            True,
            "trino-access-policy",
        ),
        (
            {"app": "trino-coordinator"},
            Request(principal=sa("superset-web"), method="DELETE", port=8080),
            False,
            None,
        ),
        # no ALLOW policy selects these: allowed (the original's allow-all is gone, not inverted)
        ({"app": "portal-services"}, Request(method="GET", port=8080), True, None),
        ({"app": "superset-web"}, Request(principal=sa("x", "kong"), method="POST"), True, None),
    ],
)
def test_authorization(base, labels, request_, allowed, by):
    d = base.decide(DP, labels, request_)
    assert d.allowed is allowed
    assert d.policy_name == (f"{DP}/{by}" if by else None)


def test_vault(base):
    assert base.decide("vault-prod", {"app": "vault"}, Request(principal=sa("datahub-gms"))).allowed
    assert not base.decide(
        "vault-prod", {"app": "vault"}, Request(principal=sa("x", "kong"))
    ).allowed


STAGE1 = [
    ("istio-system", {"app": "istiod"}, 15012, "STRICT"),
    ("kong", {"app": "kong"}, 8000, "STRICT"),
    ("vault-prod", {"app": "vault"}, 8200, "STRICT"),
    (DP, {"app": "portal-services"}, 8080, "PERMISSIVE"),
    (DP, {"app": "postgres-shared"}, 5432, "DISABLE"),
    (DP, {"app": "kafka"}, 9093, "DISABLE"),
    (DP, {"app": "redis"}, 6379, "DISABLE"),
    (DP, {"app": "elasticsearch"}, 9300, "DISABLE"),
    (DP, {"app": "elasticsearch"}, 9200, "PERMISSIVE"),
    ("monitoring", {"app": "grafana"}, 3000, "PERMISSIVE"),
]


@pytest.mark.parametrize("ns, labels, port, mode", STAGE1)
def test_stage1_modes(base, ns, labels, port, mode):
    assert base.mtls_mode(ns, labels, port) == mode


def test_stage2_strict_workloads():
    b = load_bundle([MESH, STAGE2])
    assert b.mtls_mode(DP, {"app": "portal-services"}, 8080) == "STRICT"
    assert b.mtls_mode("monitoring", {"app": "grafana"}, 3000) == "STRICT"
    assert b.mtls_mode(DP, {"app": "postgres-shared"}, 5432) == "DISABLE"
    assert b.mtls_mode(DP, {"app": "some-new-service"}, 80) == "PERMISSIVE"
    assert b.changes_since(load_bundle(MESH)).added[0][0] == "PeerAuthentication"


def test_stage3_namespace_switch_is_one_line():
    texts = [(str(p), p.read_text()) for p in sorted(MESH.glob("*.yaml"))]
    pa_file = [t for name, t in texts if name.endswith("10-peer-authentication.yaml")][0]
    marked = [line for line in pa_file.splitlines() if "stage 3" in line]
    assert len(marked) == 1 and "mode: PERMISSIVE" in marked[0]
    switched = [
        (n, t.replace(marked[0], marked[0].replace("PERMISSIVE", "STRICT"))) for n, t in texts
    ]
    b = load_texts(switched + [(str(STAGE2), STAGE2.read_text())])
    assert b.mtls_mode(DP, {"app": "some-new-service"}, 80) == "STRICT"
    assert b.mtls_mode(DP, {"app": "postgres-shared"}, 5432) == "DISABLE"
    assert b.mtls_mode(DP, {"app": "minio"}, 9000) == "PERMISSIVE"


def test_the_originals_mistakes_are_refused_or_visible():
    """The original's kafka rule (two `source:` keys) is refused by the loader."""
    kafka = """\
apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: kafka-access-policy, namespace: data-platform}
spec:
  selector: {matchLabels: {app: kafka}}
  rules:
  - from:
    - source:
        principals: ["cluster.local/ns/data-platform/sa/datahub-gms"]
      source:
        principals: ["cluster.local/ns/data-platform/sa/kafka-connect"]
"""
    with pytest.raises(PolicyError, match="kafka.yaml:10: duplicate key 'source'"):
        load_texts([("kafka.yaml", kafka)])


def test_traffic_policy_is_stored(base):
    dr = base.get("DestinationRule", DP, "superset-web").spec
    assert dr.traffic_policy.load_balancer.hash_cookie.name == "session"
    vs = base.get("VirtualService", DP, "trino-coordinator").spec
    assert [r.timeout for r in vs.http] == [3600.0, 30.0, 30.0]
    assert vs.http[-1].matches == ()  # the added default route
