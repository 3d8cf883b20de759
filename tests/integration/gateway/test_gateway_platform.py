"""platforms/254carbon/kong.yml as shipped (plugins included), run by the CLI with two workers in
front of local stand-ins: every plugin the platform configures is observable on the wire."""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from gwharness import REPO, GatewayProcess, http, write_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn, header

PLATFORM = REPO / "platforms" / "254carbon" / "kong.yml"
ORIGIN = "https://portal.254carbon.com"


@pytest.fixture(scope="module")
def signing_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def platform(tmp_path_factory, signing_key):
    """The shipped config with hosts pointing at stand-ins, the log in a temp file and the
    example credential's public key replaced by the test's (everything else unchanged)."""
    tmp = tmp_path_factory.mktemp("platform")
    doc = yaml.safe_load(PLATFORM.read_text())
    stand_ins = {s["name"]: StandIn(s["name"]).start() for s in doc["services"]}
    for service in doc["services"]:
        service["url"] = f"http://{stand_ins[service['name']].address}/"
    log_path = tmp / "access.log"
    for plugin in doc["plugins"]:
        if plugin["name"] == "file-log":
            assert plugin["config"]["path"] == "/dev/stdout"
            plugin["config"]["path"] = str(log_path)
    (secret,) = doc["consumers"][0]["jwt_secrets"]
    secret["rsa_public_key"] = (
        signing_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with GatewayProcess(write_config(tmp / "kong.yml", doc), workers=2) as gw:
        yield gw, stand_ins, log_path
    for s in stand_ins.values():
        s.stop()


def token(key, lifetime: int = 600, alg: str = "RS256", **claims) -> str:
    now = int(time.time())
    return jwt.encode(
        {"iss": "portal-service", "exp": now + lifetime, "nbf": now - 5, **claims}, key, alg
    )


def test_rate_limits_per_service_are_exact_across_workers(platform):
    gw, _, _ = platform
    for _attempt in range(2):  # a minute boundary crossed mid-way resets the window: try again
        minute = int(time.time()) // 60
        answers = [http(gw.proxy_port, "GET", "/api/trino/v1/info") for _ in range(51)]
        if int(time.time()) // 60 == minute:
            break
    statuses = [a[0] for a in answers]
    assert statuses[:50] == [200] * 50 and statuses[50] == 429, statuses
    _, headers, _ = answers[0]
    assert (
        headers["x-ratelimit-limit-minute"] == "50" and headers["x-ratelimit-limit-hour"] == "1000"
    )
    status, headers, body = answers[50]
    assert body["message"] == "API rate limit exceeded" and int(headers["retry-after"]) >= 1
    # another service has its own counters and limits
    _, headers, _ = http(gw.proxy_port, "GET", "/api/s3/bucket")
    assert headers["x-ratelimit-limit-minute"] == "500"


def test_cors_allows_only_254carbon_origins(platform):
    gw, _, _ = platform
    _, headers, _ = http(gw.proxy_port, "GET", "/api/datahub/x", headers={"Origin": ORIGIN})
    assert headers["access-control-allow-origin"] == ORIGIN
    assert headers["access-control-allow-credentials"] == "true"
    assert "X-Request-Id" in headers["access-control-expose-headers"]
    _, headers, _ = http(
        gw.proxy_port, "GET", "/api/datahub/x", headers={"Origin": "https://254carbon.com"}
    )
    assert headers["access-control-allow-origin"] == "https://254carbon.com"
    for evil in (
        "https://evil.com",
        "https://254carbon.com.evil.com",
        "http://portal.254carbon.com",
        "https://a.b.254carbon.com.evil.org",
    ):
        _, headers, _ = http(gw.proxy_port, "GET", "/api/datahub/x", headers={"Origin": evil})
        assert "access-control-allow-origin" not in headers, evil
    status, headers, _ = http(
        gw.proxy_port,
        "OPTIONS",
        "/api/mlflow/x",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert status == 200  # answered by cors before jwt asks for a token
    assert headers["access-control-allow-methods"] == "GET,POST,PUT,DELETE,PATCH,OPTIONS"
    assert headers["access-control-max-age"] == "3600"


def test_security_headers_on_every_response(platform):
    gw, _, _ = platform
    status, headers, _ = http(gw.proxy_port, "GET", "/api/grafana/api/health")
    assert status == 200
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["x-xss-protection"] == "0"
    assert headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"
    assert "x-powered-by" not in headers  # the stand-in sends one


def test_jwt_guards_the_secured_routes(platform, signing_key):
    gw, _, _ = platform
    for path in (
        "/api/mlflow/x",
        "/api/iceberg/v1/config",
        "/api/services/x",
        "/api/prometheus/api/v1/query",
        "/api/schema/subjects",
    ):
        status, headers, _ = http(gw.proxy_port, "GET", path)
        assert status == 401 and headers["www-authenticate"].startswith("Bearer"), path
    good = token(signing_key)
    status, _, doc = http(
        gw.proxy_port, "GET", "/api/mlflow/x", headers={"Authorization": f"Bearer {good}"}
    )
    assert status == 200
    assert header(doc, "x-consumer-username") == "portal-service"
    assert header(doc, "x-consumer-custom-id") == "portal-services"
    assert http(gw.proxy_port, "GET", f"/api/schema/subjects?jwt={good}")[0] == 200
    too_long = token(signing_key, lifetime=2 * 86400)
    assert (
        http(
            gw.proxy_port, "GET", "/api/mlflow/x", headers={"Authorization": f"Bearer {too_long}"}
        )[0]
        == 401
    )
    forged = jwt.encode(
        {"iss": "portal-service", "exp": int(time.time()) + 60},
        "a-guessed-secret-of-thirty-two-bytes",
        "HS256",
    )
    assert (
        http(gw.proxy_port, "GET", "/api/mlflow/x", headers={"Authorization": f"Bearer {forged}"})[
            0
        ]
        == 401
    )
    assert http(gw.proxy_port, "GET", "/api/trino/v1/info")[0] in (200, 429)  # not a secured route


def test_prometheus_counts_and_file_log_records(platform, signing_key):
    gw, _, log_path = platform
    auth = {"Authorization": f"Bearer {token(signing_key)}"}
    for _ in range(3):
        assert http(gw.proxy_port, "GET", "/api/iceberg/v1/namespaces", headers=auth)[0] == 200

    def counted():
        text = http(gw.admin_port, "GET", "/metrics")[2].decode()
        lines = [
            line
            for line in text.splitlines()
            if line.startswith("kong_http_requests_total{")
            and 'service="iceberg-rest"' in line
            and 'code="200"' in line
        ]
        return lines and float(lines[0].rsplit(" ", 1)[1]) >= 3

    wait_until(counted, timeout=15, what="iceberg requests in /metrics")

    def logged():
        if not Path(log_path).exists():
            return None
        records = [json.loads(line) for line in Path(log_path).read_text().splitlines() if line]
        found = [r for r in records if r["request"]["uri"].startswith("/api/iceberg/v1/namespaces")]
        return found if len(found) >= 3 else None

    record = wait_until(logged, timeout=15, what="file-log records")[0]
    assert record["response"]["status"] == 200
    assert record["service"]["name"] == "iceberg-rest" and record["route"]["name"] == "iceberg-api"
    assert record["consumer"]["username"] == "portal-service"
    assert record["upstream_uri"] == "/v1/namespaces"
    assert record["request"]["headers"]["authorization"] == "REDACTED"
