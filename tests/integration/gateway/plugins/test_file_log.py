"""file-log over real sockets: Kong's log record for every proxied and every gateway-made
response, one JSON line each in the file."""

from __future__ import annotations

import asyncio
import json

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy


def test_file_log_writes_one_record_per_request(upstream, tmp_path):
    path = tmp_path / "access.log"
    log = handler("file-log", {"path": str(path)})
    stop = handler("request-termination", {"status_code": 403, "trigger": "X-Block"})
    with ChainProxy(upstream.port, [log, stop]) as proxy:
        for _ in range(3):
            assert (
                http(
                    proxy.port,
                    "GET",
                    "/api/datahub/entities?urn=x",
                    headers={"Authorization": "Bearer t"},
                )[0]
                == 200
            )
        assert http(proxy.port, "GET", "/api/datahub/x", headers={"X-Block": "1"})[0] == 403
        proxy.run(asyncio.sleep(0))  # the log hooks of the last request ran on the loop
        assert log.writer.flush(10.0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 4
    ok = records[0]
    assert ok["request"]["uri"] == "/api/datahub/entities?urn=x" and ok["request"][
        "querystring"
    ] == {"urn": "x"}
    assert ok["request"]["headers"]["authorization"] == "REDACTED"
    assert (
        ok["response"]["status"] == 200
        and ok["upstream_status"] == "200"
        and ok["source"] == "upstream"
    )
    assert ok["upstream_uri"] == "/api/datahub/entities?urn=x"
    assert ok["latencies"]["proxy"] >= 0 and ok["latencies"]["request"] >= ok["latencies"]["proxy"]
    assert ok["service"]["name"] == "datahub-gms" and ok["route"]["name"] == "datahub-api"
    assert ok["tries"][-1]["port"] == upstream.port and ok["client_ip"] == "127.0.0.1"
    blocked = records[3]
    assert (
        blocked["response"]["status"] == 403
        and blocked["source"] == "kong"
        and blocked["latencies"]["proxy"] == -1
    )
