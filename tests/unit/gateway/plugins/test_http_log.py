"""http-log against a real HTTP receiver on 127.0.0.1: one object per request or JSON arrays,
coalescing, retries with backoff, giving up, a full queue dropping the oldest, Basic auth from
the URL's userinfo, configured headers, and Kong's config checks."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest
from test_file_log import finished_request
from tests.kits.plugins import handler, problem_at

from carbonplane.gateway.plugins.http_log.queue import LogQueue
from carbonplane.gateway.plugins.http_log.sender import LogDeliveryError, LogSender


class Receiver:
    """A tiny HTTP/1.1 log endpoint: records each request; answers the next queued statuses
    (then 200). Keep-alive, Content-Length bodies only."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        self.arrived = asyncio.Condition()
        self.connections = 0

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode().split("\r\n")
                headers = {
                    k.lower(): v for k, v in (line.split(": ", 1) for line in lines[1:] if line)
                }
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                status = self.statuses.pop(0) if self.statuses else 200
                answer = b"ok" if status < 300 else b"try later"
                writer.write(
                    b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n\r\n%s" % (status, len(answer), answer)
                )
                await writer.drain()
                async with self.arrived:
                    self.requests.append((lines[0], headers, body))
                    self.arrived.notify_all()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def wait_for(self, n: int, timeout: float = 10.0) -> None:
        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.requests) >= n), timeout)

    async def close(self) -> None:
        self.server.close()
        await self.server.wait_closed()


def serve(statuses: list[int] | None = None):
    """Run ``scenario(receiver, port)`` in a fresh event loop with a started receiver."""

    def wrap(scenario):
        async def main():
            receiver = Receiver(statuses)
            port = await receiver.start()
            try:
                return await scenario(receiver, port)
            finally:
                await receiver.close()

        return asyncio.run(main())

    return wrap


def test_one_json_object_per_request_by_default():
    @serve()
    async def result(receiver, port):
        h = handler(
            "http-log",
            {
                "http_endpoint": f"http://127.0.0.1:{port}/logs?src=gw",
                "queue": {"max_coalescing_delay": 0},
            },
        )
        h.on_log(finished_request())
        h.on_log(finished_request())
        await receiver.wait_for(2)
        await h.queue().drained()
        return receiver.requests, receiver.connections, h.queue().stats

    requests, connections, stats = result
    line, headers, body = requests[0]
    assert line == "POST /logs?src=gw HTTP/1.1"
    assert (
        headers["content-type"] == "application/json"
        and headers["host"] == f"127.0.0.1:{headers['host'].split(':')[1]}"
    )
    record = json.loads(body)
    assert record["request"]["method"] == "POST" and record["response"]["status"] == 200
    assert connections == 1 and stats.sent == 2  # the connection was kept alive


def test_batches_are_json_arrays_and_coalesce():
    @serve()
    async def requests(receiver, port):
        h = handler(
            "http-log",
            {
                "http_endpoint": f"http://127.0.0.1:{port}/",
                "queue": {"max_batch_size": 3, "max_coalescing_delay": 0.2},
            },
        )
        for _ in range(5):
            h.on_log(finished_request())
        await receiver.wait_for(2)
        return receiver.requests

    sizes = [len(json.loads(body)) for _, _, body in requests]
    assert sizes == [3, 2]


def test_failed_batches_are_retried_until_accepted():
    @serve(statuses=[500, 503])
    async def result(receiver, port):
        h = handler(
            "http-log",
            {
                "http_endpoint": f"http://127.0.0.1:{port}/",
                "queue": {"max_coalescing_delay": 0, "initial_retry_delay": 0.01},
            },
        )
        h.on_log(finished_request())
        await receiver.wait_for(3)
        await h.queue().drained()
        return receiver.requests, h.queue().stats

    requests, stats = result
    assert len(requests) == 3 and requests[0][2] == requests[2][2]
    assert (stats.sent, stats.failed_attempts, stats.lost) == (1, 2, 0)


def test_a_batch_is_lost_after_max_retry_time():
    @serve(statuses=[500] * 50)
    async def stats(receiver, port):
        h = handler(
            "http-log",
            {
                "http_endpoint": f"http://127.0.0.1:{port}/",
                "queue": {
                    "max_coalescing_delay": 0,
                    "initial_retry_delay": 0.01,
                    "max_retry_time": 0.1,
                },
            },
        )
        h.on_log(finished_request())
        await h.queue().drained()
        return h.queue().stats

    assert stats.sent == 0 and stats.lost == 1 and 3 <= stats.failed_attempts <= 6


def test_userinfo_becomes_basic_auth_and_headers_are_added():
    @serve()
    async def requests(receiver, port):
        h = handler(
            "http-log",
            {
                "http_endpoint": f"http://user:p%40ss@127.0.0.1:{port}/in",
                "method": "PUT",
                "headers": {"X-Tenant": "254carbon"},
                "queue": {"max_coalescing_delay": 0},
            },
        )
        h.on_log(finished_request())
        await receiver.wait_for(1)
        return receiver.requests

    line, headers, _ = requests[0]
    assert line.startswith("PUT /in ")
    assert headers["authorization"] == "Basic " + base64.b64encode(b"user:p@ss").decode()
    assert headers["x-tenant"] == "254carbon"


def test_full_queue_drops_the_oldest():
    async def scenario():
        sent: list[bytes] = []
        gate, taken = asyncio.Event(), asyncio.Event()

        async def send(batch):
            taken.set()
            await gate.wait()
            sent.extend(batch)

        q = LogQueue(
            "t",
            {
                "max_batch_size": 1,
                "max_coalescing_delay": 0,
                "max_entries": 3,
                "max_retry_time": 60,
                "initial_retry_delay": 0.01,
                "max_retry_delay": 60,
                "concurrency_limit": 1,
            },
            send,
        )
        q.add(b"0")
        await taken.wait()  # the consumer took entry 0 and waits on the gate
        for i in range(1, 7):
            q.add(b"%d" % i)
        gate.set()
        await q.drained()
        return sent, q.stats

    sent, stats = asyncio.run(scenario())
    assert sent == [b"0", b"4", b"5", b"6"] and stats.dropped == 3


def test_unreachable_endpoint_raises_kongs_message():
    async def scenario():
        sender = LogSender("http://127.0.0.1:1/", "POST", "application/json", 1000, 60000)
        with pytest.raises(LogDeliveryError, match=r"failed request to 127.0.0.1:1: "):
            await sender.send(b"{}")

    asyncio.run(scenario())


def test_error_status_raises_with_body():
    @serve(statuses=[400])
    async def error(receiver, port):
        sender = LogSender(f"http://127.0.0.1:{port}/", "POST", "application/json", 1000, 60000)
        with pytest.raises(LogDeliveryError) as info:
            await sender.send(b"{}")
        return str(info.value)

    assert error.endswith("returned status code 400 and body try later")


def test_config_checks_and_defaults():
    from tests.kits.plugins import config

    conf = config("http-log", {"http_endpoint": "http://loki:3100/loki/api/v1/push"})
    assert (conf["method"], conf["content_type"], conf["timeout"], conf["keepalive"]) == (
        "POST",
        "application/json",
        10000,
        60000,
    )
    assert conf["queue"] == {
        "max_batch_size": 1,
        "max_coalescing_delay": 1,
        "max_entries": 10000,
        "max_bytes": None,
        "max_retry_time": 60,
        "initial_retry_delay": 0.01,
        "max_retry_delay": 60,
        "concurrency_limit": 1,
    }
    assert problem_at("http-log", {}, "config.http_endpoint") == "required field missing"
    assert problem_at("http-log", {"http_endpoint": "ftp://x/"}, "config.http_endpoint").startswith(
        "unsupported scheme"
    )
    assert (
        problem_at(
            "http-log",
            {"http_endpoint": "http://x/", "headers": {"Host": "y"}},
            "config.headers.Host",
        )
        == "cannot contain 'Host' header"
    )
    assert "not supported" in problem_at(
        "http-log",
        {"http_endpoint": "http://x/", "custom_fields_by_lua": {"a": "b"}},
        "config.custom_fields_by_lua",
    )


def test_deprecated_queue_fields_apply():
    from tests.kits.plugins import config

    from carbonplane.gateway.plugins.http_log.schema import queue_settings

    conf = config("http-log", {"http_endpoint": "http://x/", "queue_size": 10, "flush_timeout": 2})
    assert (
        queue_settings(conf)["max_batch_size"] == 10
        and queue_settings(conf)["max_coalescing_delay"] == 2
    )
