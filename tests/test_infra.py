"""The test infrastructure talks to real servers, configured as the project expects.

- Kafka on 127.0.0.1:9092 creates and deletes topics through the AdminClient, carries a record,
  and does not auto-create topics (the catalog creates them; auto-creation hid typos before).
- ``scripts/kafka.sh up`` on a running broker is a no-op that says so.
- Redis on 127.0.0.1:6379 answers PING, SET and GET.
- ``cp_home`` isolates the environment and ``unique_name`` never repeats.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from tests.kits.net import wait_until

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.kafka
def test_kafka_creates_and_deletes_a_topic(kafka_bootstrap, unique_name):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = unique_name("infra")
    admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)])[topic].result(30)
    try:
        meta = admin.list_topics(topic=topic, timeout=10).topics[topic]
        assert meta.error is None, f"{topic} not usable after creation: {meta.error}"
        assert sorted(meta.partitions) == [0, 1, 2]
    finally:
        admin.delete_topics([topic])[topic].result(30)
    wait_until(
        lambda: topic not in admin.list_topics(timeout=10).topics,
        30,
        f"{topic} to be gone",
        interval=0.1,
    )


@pytest.mark.kafka
def test_kafka_carries_a_record_end_to_end(kafka_bootstrap, unique_name):
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    topic = unique_name("infra")
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)
    try:
        producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
        producer.produce(topic, key=b"k", value=b"hello", headers=[("h", b"v")])
        assert producer.flush(30) == 0, "the record was not acknowledged within 30 s"
        consumer = Consumer(
            {
                "bootstrap.servers": kafka_bootstrap,
                "group.id": unique_name("grp"),
                "enable.auto.commit": False,
            }
        )
        try:
            consumer.assign([TopicPartition(topic, 0, 0)])
            msg = consumer.poll(30)
            assert msg is not None, "no record read back within 30 s"
            assert msg.error() is None, msg.error()
            assert (msg.key(), msg.value(), msg.headers()) == (b"k", b"hello", [("h", b"v")])
        finally:
            consumer.close()
    finally:
        admin.delete_topics([topic])[topic].result(30)


@pytest.mark.kafka
def test_kafka_does_not_auto_create_topics(kafka_bootstrap, unique_name):
    topic = unique_name("never-created")
    # A producer asks for auto-creation in its metadata request; the broker must refuse it.
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "allow.auto.create.topics": True})
    meta = producer.list_topics(topic=topic, timeout=10)
    assert meta.topics[topic].error is not None
    assert meta.topics[topic].error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    assert topic not in admin.list_topics(timeout=10).topics


@pytest.mark.kafka
def test_kafka_up_is_idempotent_when_running(kafka_bootstrap):
    done = subprocess.run(
        [str(ROOT / "scripts" / "kafka.sh"), "up"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert "already up" in done.stdout or "already answers" in done.stdout, done.stdout
    status = subprocess.run(
        [str(ROOT / "scripts" / "kafka.sh"), "status"], capture_output=True, text=True, timeout=30
    )
    assert (status.returncode, status.stdout.split()[0]) == (0, "up"), status.stdout


@pytest.mark.redis
def test_redis_ping_set_get(redis_url, unique_name):
    import redis

    client = redis.Redis.from_url(redis_url, socket_timeout=5)
    key = unique_name("infra")
    try:
        assert client.ping() is True
        assert client.set(key, b"value", ex=60) is True
        assert client.get(key) == b"value"
    finally:
        client.delete(key)
        client.close()


@pytest.fixture
def backend_env_set(monkeypatch):
    """The shell of a developer who exported a broker and a backend (requested before cp_home)."""
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    monkeypatch.setenv("CARBONPLANE_EVENTS_BACKEND", "kafka")


def test_cp_home_isolates_the_environment(backend_env_set, cp_home):
    assert os.environ["CARBONPLANE_HOME"] == str(cp_home)
    assert cp_home.is_dir() and not any(cp_home.iterdir())
    assert "KAFKA_BOOTSTRAP_SERVERS" not in os.environ
    assert "CARBONPLANE_EVENTS_BACKEND" not in os.environ


def test_unique_name_never_repeats(unique_name):
    names = {unique_name("t") for _ in range(1000)}
    assert len(names) == 1000
    assert all(n.startswith("t-test_unique_name_never_repeats-".replace("_", "-")) for n in names)
