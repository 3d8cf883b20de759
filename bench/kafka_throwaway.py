"""A throwaway single-node KRaft Kafka broker for benchmarks that stop and start their broker.

The shared broker on 127.0.0.1:9092 is never touched: this one runs from the same cached jars
(``.cache/kafka/<version>/lib``, fetched by ``make kafka-up``; ``KAFKA_LIB`` names another lib
directory) on free loopback ports, with its data under a directory of its own, as
``tests/contract/test_kafka_outage.py`` does for the outage tests. ``kill`` is a SIGKILL (a crash,
no clean shutdown); ``start`` returns once the broker answers a metadata request.
"""

from __future__ import annotations

import base64
import os
import signal
import socket
import subprocess
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def kafka_lib() -> Path:
    """The broker's jar directory, or RuntimeError saying how to get one."""
    if os.environ.get("KAFKA_LIB"):
        lib = Path(os.environ["KAFKA_LIB"])
        if not lib.is_dir():
            raise RuntimeError(f"KAFKA_LIB={lib} is not a directory of Kafka jars")
        return lib
    libs = sorted((ROOT / ".cache" / "kafka").glob("*/lib"))
    if not libs:
        raise RuntimeError(
            "no Kafka jars in .cache/kafka/<version>/lib: run `make kafka-up` once to fetch "
            "them, or set KAFKA_LIB to a directory holding them"
        )
    return libs[-1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThrowawayKafka:
    """A single-node KRaft broker+controller on free loopback ports, data under ``workdir``."""

    def __init__(self, lib: Path, workdir: Path) -> None:
        self.lib, self.workdir = lib, workdir
        self.port, self.controller_port = free_port(), free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.props, self.log = workdir / "server.properties", workdir / "kafka.out"
        self.process: subprocess.Popen | None = None
        workdir.mkdir(parents=True, exist_ok=True)
        self.props.write_text(
            textwrap.dedent(f"""\
            process.roles=broker,controller
            node.id=1
            controller.quorum.voters=1@127.0.0.1:{self.controller_port}
            listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}
            advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}
            controller.listener.names=CONTROLLER
            inter.broker.listener.name=PLAINTEXT
            listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
            log.dirs={workdir / "data"}
            auto.create.topics.enable=false
            offsets.topic.replication.factor=1
            offsets.topic.num.partitions=1
            transaction.state.log.replication.factor=1
            transaction.state.log.min.isr=1
            transaction.state.log.num.partitions=1
            share.coordinator.state.topic.replication.factor=1
            share.coordinator.state.topic.min.isr=1
            group.initial.rebalance.delay.ms=0
            """)
        )
        (workdir / "log4j2.properties").write_text(
            "status = warn\nappender.console.type = Console\nappender.console.name = out\n"
            "appender.console.layout.type = PatternLayout\nappender.console.layout.pattern = [%d] "
            "%p %m (%c)%n\n"
            "rootLogger.level = WARN\nrootLogger.appenderRef.console.ref = out\n"
        )
        cluster_id = "-"
        while cluster_id.startswith(
            "-"
        ):  # as Kafka's own Uuid: a leading '-' would parse as an option
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        subprocess.run(
            [
                *self._java(),
                "kafka.tools.StorageTool",
                "format",
                "-t",
                cluster_id,
                "-c",
                str(self.props),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def _java(self) -> list[str]:
        return [
            "java",
            "-Xms128m",
            "-Xmx384m",
            f"-Dlog4j2.configurationFile={self.workdir / 'log4j2.properties'}",
            "-cp",
            f"{self.lib}/*",
        ]

    def start(self, timeout: float = 120.0) -> None:
        from confluent_kafka.admin import AdminClient

        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(
                [*self._java(), "kafka.Kafka", str(self.props)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        admin = AdminClient({"bootstrap.servers": self.bootstrap, "log_level": 0})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # no readiness notification exists: ask until it answers
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the throwaway broker exited with {self.process.returncode}: "
                    f"{self.log.read_text()[-3000:]}"
                )
            try:
                if admin.list_topics(timeout=1).brokers:
                    return
            except Exception:  # KafkaException until the listener is up
                pass
        self.kill()
        raise RuntimeError(
            f"the throwaway broker did not answer on {self.bootstrap} in {timeout} s: "
            f"{self.log.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(30)
        self.process = None


def read_seqs(cfg, topic: str, batch: int = 2000) -> dict[int, list[int]]:
    """Per partition of ``topic``, the ``seq`` header of every record in offset order (how the
    outage tests and the spool benchmark check that nothing was lost, doubled or reordered)."""
    from carbonplane.events.backends.kafka import KafkaReader

    reader = KafkaReader(cfg)
    try:
        out = {}
        for partition in reader.partitions(topic):
            high, offset, seqs = reader.watermarks(topic, partition)[1], 0, []
            while offset < high:
                records = reader.read(topic, partition, offset, max_records=batch, timeout=10)
                if not records:
                    raise RuntimeError(f"{topic}[{partition}] stopped at {offset} of {high}")
                seqs += [int(dict(r.headers)["seq"]) for r in records]
                offset = records[-1].offset + 1
            out[partition] = seqs
        return out
    finally:
        reader.close()
