"""Fixtures shared by every test suite: the real Kafka and Redis, an isolated home, unique names.

Invariants:
- Tests talk to real servers on loopback only: Kafka on 127.0.0.1:9092 (``make kafka-up``) and Redis
  on 127.0.0.1:6379 (``make redis-up``). A test that needs one that does not answer FAILS with the
  command that starts it; it never skips.
- A server is probed once per session; the verdict (reachable or the failure message) is cached.
- ``cp_home`` gives each test its own ``CARBONPLANE_HOME`` and clears the variables that would send
  events to a backend the test did not choose.
- Suites add their own fixtures in ``tests/<suite>/conftest.py``; this file stays small.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable

import pytest

KAFKA_BOOTSTRAP = "127.0.0.1:9092"
REDIS_URL = "redis://127.0.0.1:6379/0"
PROBE_TIMEOUT_S = 10.0

# Variables that choose or redirect the event backend; a test starts without them.
_BACKEND_ENV = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "CARBONPLANE_EVENTS_BACKEND",
    "CARBONPLANE_SPOOL",
    "CARBONPLANE_SPOOL_DIR",
)


def _kafka_problem() -> str | None:
    """None when the broker answers a metadata request within the probe timeout, else why not."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": KAFKA_BOOTSTRAP, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=PROBE_TIMEOUT_S)
    except Exception as exc:  # KafkaException carries librdkafka's reason
        return f"{type(exc).__name__}: {exc}"
    return None if metadata.brokers else "the metadata answer listed no broker"


def _redis_problem() -> str | None:
    """None when Redis answers PING within the probe timeout, else why not."""
    import redis

    client = redis.Redis.from_url(
        REDIS_URL, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
    )
    try:
        client.ping()
    except redis.RedisError as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        client.close()
    return None


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    """The bootstrap address of the real broker, checked to answer; fails the test if
    it does not."""
    problem = _kafka_problem()
    if problem:
        pytest.fail(
            f"Kafka is not reachable on {KAFKA_BOOTSTRAP}: start it with `make kafka-up` "
            f"({problem})",
            pytrace=False,
        )
    return KAFKA_BOOTSTRAP


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of the real Redis, checked to answer PING; fails the test if it does not."""
    problem = _redis_problem()
    if problem:
        pytest.fail(
            f"Redis is not reachable on 127.0.0.1:6379: start it with `make redis-up` ({problem})",
            pytrace=False,
        )
    return REDIS_URL


@pytest.fixture
def cp_home(tmp_path, monkeypatch):
    """A fresh, empty CARBONPLANE_HOME for this test, with no backend-selecting variables set."""
    home = tmp_path / "carbonplane-home"
    home.mkdir()
    monkeypatch.setenv("CARBONPLANE_HOME", str(home))
    for name in _BACKEND_ENV:
        monkeypatch.delenv(name, raising=False)
    return home


@pytest.fixture
def unique_name(request) -> Callable[[str], str]:
    """``unique_name(prefix)`` -> a topic/group/key name no other test or run uses.

    Shape: ``<prefix>-<test name>-<12 hex>``, restricted to Kafka's topic alphabet
    (``[A-Za-z0-9._-]``, at most 249 characters) and without dots, so it never collides with a
    dotted catalog topic.
    """
    test = re.sub(r"[^A-Za-z0-9-]+", "-", request.node.name).strip("-")[:60]

    def make(prefix: str) -> str:
        return f"{prefix}-{test}-{uuid.uuid4().hex[:12]}"

    return make


def native_plugins_problem() -> str | None:
    """Why the gateway plugins' native (C) modules cannot be used here, or None."""
    try:
        from carbonplane.gateway.plugins.pdk import counters, log_serializer
    except ImportError as exc:  # pragma: no cover - a broken install
        return f"carbonplane.gateway.plugins does not import: {exc}"
    if not counters.NATIVE_BUILT or "native" not in log_serializer.LINE_IMPLS:
        return (
            "the plugins' C modules (gateway/plugins/pdk/_native) are not built in this install; "
            "run make setup with a C compiler (not CARBONPLANE_NO_COMPILE)"
        )
    return None


def require_native_plugins() -> None:
    """Skip (fail in CI, where they must be built) a test of the plugins' native version."""
    problem = native_plugins_problem()
    if problem is not None:
        if os.environ.get("CARBONPLANE_PURE", "") not in ("", "0"):
            pytest.skip("CARBONPLANE_PURE=1 runs the Python versions only")
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)


@pytest.fixture(params=("python", "native"))
def impl(request) -> str:
    """Which implementation of a plugin's hot algorithm a differential test runs: "python" (the
    specification) or "native" (its one C version). Every such test takes this fixture."""
    if request.param == "native":
        require_native_plugins()
    return request.param


@pytest.fixture
def native_plugins() -> None:
    """For a test of the plugins' native version alone: skipped (failed in CI) where unbuilt."""
    require_native_plugins()
