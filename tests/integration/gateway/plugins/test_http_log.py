"""http-log over real sockets: batches of Kong's log records at a real HTTP receiver, and a log
endpoint that never answers leaving the requests unaffected (the queue holds the entries)."""

from __future__ import annotations

import json
import socket
import threading
import time

from gwharness import http
from tests.kits.plugins import handler

from .proxykit import ChainProxy, LogReceiver


def test_http_log_batches_reach_a_real_receiver(upstream):
    with LogReceiver() as receiver:
        log = handler(
            "http-log",
            {
                "http_endpoint": f"http://127.0.0.1:{receiver.port}/loki/api/v1/push",
                "queue": {"max_batch_size": 5, "max_coalescing_delay": 0.2},
            },
        )
        with ChainProxy(upstream.port, [log]) as proxy:
            for i in range(7):
                assert http(proxy.port, "GET", f"/api/datahub/{i}")[0] == 200
            requests = receiver.wait_for(2)
    line, headers, body = requests[0]
    assert (
        line == "POST /loki/api/v1/push HTTP/1.1" and headers["content-type"] == "application/json"
    )
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
    log = handler(
        "http-log",
        {
            "http_endpoint": f"http://127.0.0.1:{silent.port}/",
            "timeout": 30000,
            "queue": {"max_coalescing_delay": 0},
        },
    )
    try:
        with ChainProxy(upstream.port, [log]) as proxy:
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
