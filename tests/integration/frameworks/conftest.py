"""Fixtures of the framework-integration tests: real servers on loopback, real event backends.

- ``serve_asgi(app)`` runs uvicorn (lifespan on) on 127.0.0.1 and an ephemeral port in a thread;
  ``serve_wsgi(app)`` runs werkzeug's threaded WSGI server the same way. Both return the base URL
  and stop their server at the end of the test (uvicorn runs the lifespan shutdown then;
  ``serve_asgi.stop()`` does it earlier).
- ``local_events``: the embedded log in the test's own ``CARBONPLANE_HOME``; ``kafka_events``: two
  fresh uniquely named Kafka topics (audit and health), deleted afterwards. Both are
  ``frameworkkit.Backend``s.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import pytest
from frameworkkit import Backend

from carbonplane.events.backends.factory import open_admin
from carbonplane.events.catalog import DAY_MS, TopicSpec
from carbonplane.events.config import EventsConfig


@pytest.fixture
def local_events(cp_home) -> Backend:
    cfg = EventsConfig.from_env({}, home=cp_home)
    return Backend(cfg, "audit-api-calls", "system-health")


@pytest.fixture
def kafka_events(kafka_bootstrap, cp_home, unique_name):
    cfg = EventsConfig.from_env({}, bootstrap_servers=kafka_bootstrap, home=cp_home)
    admin = open_admin(cfg)
    audit, health = unique_name("integ-audit"), unique_name("integ-health")
    specs = [
        TopicSpec(audit, "audit", 3, DAY_MS, "delete", "AuditAPICallEvent", "service"),
        TopicSpec(health, "system", 1, DAY_MS, "delete", "ServiceHealthEvent", "serviceName"),
    ]
    admin.apply_topics(specs)
    try:
        yield Backend(cfg, audit, health)
    finally:
        admin.delete_topics([audit, health])


def _loopback_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture
def serve_asgi():
    import uvicorn

    running: list[tuple[Any, threading.Thread]] = []

    def serve(app: Any) -> str:
        sock = _loopback_socket()
        config = uvicorn.Config(
            app, lifespan="on", log_level="warning", access_log=False, proxy_headers=False
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped while starting"
            assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
            time.sleep(0.02)
        running.append((server, thread))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

    serve.stop = lambda: _stop_asgi(running)  # type: ignore[attr-defined]
    yield serve
    _stop_asgi(running)


def _stop_asgi(running: list) -> None:
    while running:
        server, thread = running.pop()
        server.should_exit = True
        thread.join(15)


@pytest.fixture
def serve_wsgi():
    from werkzeug.serving import make_server

    running: list[tuple[Any, threading.Thread]] = []

    def serve(app: Any) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running.append((server, thread))
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server, thread in running:
        server.shutdown()
        server.server_close()
        thread.join(10)
