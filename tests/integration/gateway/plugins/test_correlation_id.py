"""correlation-id over real sockets: generated ids reach the upstream and come back with
echo_downstream; a client's id is kept."""

from __future__ import annotations

from gwharness import http
from tests.kits.plugins import handler
from tests.kits.standin import header

from .proxykit import ChainProxy


def test_generated_id_goes_upstream_and_back(upstream):
    with ChainProxy(upstream.port, [handler("correlation-id", {"echo_downstream": True})]) as proxy:
        ids = []
        for _ in range(3):
            status, headers, doc = http(proxy.port, "GET", "/api/datahub/x")
            assert status == 200
            assert header(doc, "kong-request-id") == headers["kong-request-id"]
            ids.append(headers["kong-request-id"])
    worker = {i.split("#")[0] for i in ids}
    assert len(worker) == 1 and [int(i.split("#")[1]) for i in ids] == sorted(
        int(i.split("#")[1]) for i in ids
    )


def test_client_id_is_kept(upstream):
    with ChainProxy(
        upstream.port, [handler("correlation-id", {"header_name": "X-Correlation-ID"})]
    ) as proxy:
        status, headers, doc = http(
            proxy.port, "GET", "/api/datahub/x", headers={"X-Correlation-ID": "abc-123"}
        )
    assert status == 200 and header(doc, "x-correlation-id") == "abc-123"
    assert "x-correlation-id" not in headers  # echo_downstream is off
