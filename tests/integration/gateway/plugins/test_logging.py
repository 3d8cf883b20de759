"""file-log and http-log over real sockets: Kong's log record for every proxied and every
gateway-made response, lines in the file, batches at a real HTTP receiver, and a log endpoint
that never answers leaving the requests unaffected."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest
from gwharness import StandIn, http

from .traffic_rig import LogReceiver, RigProxy, build


@pytest.fixture
def upstream():
    up = StandIn("logged").start()
    yield up
    up.stop()


def test_file_log_writes_one_record_per_request(upstream, tmp_path):
    path = tmp_path / "access.log"
    log = build("file-log", {"path": str(path)})
    stop = build("request-termination", {"status_code": 403, "trigger": "X-Block"})
    with RigProxy(upstream.port, [log, stop]) as proxy:
        for _ in range(3):
            assert http(proxy.port, "GET", "/api/datahub/entities?urn=x", headers={"Authorization": "Bearer t"})[0] == 200
        assert http(proxy.port, "GET", "/api/datahub/x", headers={"X-Block": "1"})[0] == 403
        proxy.run(asyncio.sleep(0))  # the log hooks of the last request ran on the loop
        assert log.writer.flush(10.0)
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 4
    ok = records[0]
    assert ok["request"]["uri"] == "/api/datahub/entities?urn=x" and ok["request"]["querystring"] == {"urn": "x"}
    assert ok["request"]["headers"]["authorization"] == "REDACTED"
    assert ok["response"]["status"] == 200 and ok["upstream_status"] == "200" and ok["source"] == "upstream"
    assert ok["upstream_uri"] == "/api/datahub/entities?urn=x"
    assert ok["latencies"]["proxy"] >= 0 and ok["latencies"]["request"] >= ok["latencies"]["proxy"]
    assert ok["service"]["name"] == "datahub-gms" and ok["route"]["name"] == "datahub-api"
    assert ok["tries"][-1]["port"] == upstream.port and ok["client_ip"] == "127.0.0.1"
    blocked = records[3]
    assert blocked["response"]["status"] == 403 and blocked["source"] == "kong" and blocked["latencies"]["proxy"] == -1


def test_http_log_batches_reach_a_real_receiver(upstream):
    with LogReceiver() as receiver:
        log = build("http-log", {"http_endpoint": f"http://127.0.0.1:{receiver.port}/loki/api/v1/push",
                                 "queue": {"max_batch_size": 5, "max_coalescing_delay": 0.2}})
        with RigProxy(upstream.port, [log]) as proxy:
            for i in range(7):
                assert http(proxy.port, "GET", f"/api/datahub/{i}")[0] == 200
            requests = receiver.wait_for(2)
    line, headers, body = requests[0]
    assert line == "POST /loki/api/v1/push HTTP/1.1" and headers["content-type"] == "application/json"
    batches = [json.loads(b) for _, _, b in requests]
    assert [len(b) for b in batches] == [5, 2]
    uris = [r["request"]["uri"] for batch in batches for r in batch]
    assert uris == [f"/api/datahub/{i}" for i in range(7)]


class _SilentEndpoint:
    """Accepts connections and reads, but never answers."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.conns: list[socket.socket] = []
        self.accepted = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            self.accepted.set()

    def close(self) -> None:
        self.sock.close()
        for c in self.conns:
            c.close()


def test_a_hanging_log_endpoint_never_slows_requests(upstream):
    silent = _SilentEndpoint()
    log = build("http-log", {"http_endpoint": f"http://127.0.0.1:{silent.port}/", "timeout": 30000,
                             "queue": {"max_coalescing_delay": 0}})
    try:
        with RigProxy(upstream.port, [log]) as proxy:
            assert http(proxy.port, "GET", "/api/datahub/warm")[0] == 200
            assert silent.accepted.wait(10.0)  # the first batch is now stuck waiting for an answer
            started = time.monotonic()
            for _ in range(50):
                assert http(proxy.port, "GET", "/api/datahub/x")[0] == 200
            elapsed = time.monotonic() - started
            pending = proxy.run(_pending(log))
    finally:
        silent.close()
    assert pending >= 50  # the entries wait in the queue, not in the requests
    assert elapsed < 10.0


async def _pending(log) -> int:
    return log.queue().pending()
