"""Topics on Kafka (``LogAdmin``): describe their live settings, create and update them from the
catalog.

``apply_topics`` is idempotent: a topic that matches its spec is reported ``unchanged`` and nothing
is sent to the broker for it. It
- creates a missing topic with the spec's partitions, replication factor ``spec.replication_factor
  (brokers)`` and topic configs ``spec.kafka_config(brokers)`` (retention.ms, cleanup.policy,
  compression.type, min.insync.replicas), then waits until every partition has a leader, so that a
  producer may use the topic as soon as ``apply_topics`` returns;
- for an existing topic, sets (IncrementalAlterConfigs, SET) only the configs that differ, and grows
  partitions (CreatePartitions) when the spec has more; ``min.insync.replicas`` follows the topic's
  live replication factor, so it never exceeds it;
- reports, without applying, what Kafka cannot do in place: fewer partitions than the topic has, or
  a different replication factor (that needs a partition reassignment). Those appear in ``details``
  with "not applied" in the new value.
``dry_run`` asks the broker to validate the same requests (``validate_only``) and changes nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ClusterMetadata,
    ConfigEntry,
    ConfigResource,
    NewPartitions,
    NewTopic,
    ResourceType,
)

from carbonplane.errors import BackendUnavailableError, ConfigError
from carbonplane.events.backends.base import LogAdmin, TopicChange, TopicState
from carbonplane.events.backends.kafka_errors import librdkafka_log
from carbonplane.events.catalog import TopicSpec
from carbonplane.events.config import EventsConfig

TRACKED_CONFIGS = ("retention.ms", "cleanup.policy", "compression.type", "min.insync.replicas")


class KafkaAdmin(LogAdmin):
    """Topic administration against the cluster at ``cfg.bootstrap_servers``."""

    def __init__(self, cfg: EventsConfig, *, timeout: float = 30.0) -> None:
        self.cfg = cfg
        self.timeout = timeout
        self._admin = AdminClient({**cfg.librdkafka_common(), "logger": librdkafka_log})

    def describe_topics(self) -> dict[str, TopicState]:
        return self._describe(self._metadata())

    def apply_topics(
        self, specs: Iterable[TopicSpec], *, dry_run: bool = False
    ) -> list[TopicChange]:
        specs = list(specs)
        meta = self._metadata()
        brokers = max(1, len(meta.brokers))
        live = self._describe(meta)
        created = self._create([s for s in specs if s.name not in live], brokers, dry_run)
        updated = self._update([s for s in specs if s.name in live], live, dry_run)
        by_name = {c.topic: c for c in created + updated}
        return [by_name[s.name] for s in specs]

    def delete_topics(self, names: Iterable[str]) -> None:
        """Delete topics (missing ones are ignored); returns once the broker accepted
        the deletions."""
        names = list(names)
        if not names:
            return
        for name, future in self._admin.delete_topics(
            names, operation_timeout=self.timeout
        ).items():
            try:
                future.result()
            except KafkaException as exc:
                if "UNKNOWN_TOPIC" not in exc.args[0].name():
                    raise BackendUnavailableError(
                        f"deleting topic {name!r} failed: {exc.args[0].str()}"
                    ) from None

    # -- internals -------------------------------------------------------------------------------

    def _metadata(self) -> ClusterMetadata:
        try:
            return self._admin.list_topics(timeout=self.timeout)
        except KafkaException as exc:
            raise BackendUnavailableError(
                f"Kafka at {self.cfg.bootstrap_servers} did not answer within {self.timeout:g} s "
                f"({exc.args[0].str() if exc.args else exc}); start it (`make kafka-up`) or fix "
                "KAFKA_BOOTSTRAP_SERVERS"
            ) from None

    def _describe(self, meta: ClusterMetadata) -> dict[str, TopicState]:
        names = sorted(
            n for n, t in meta.topics.items() if not n.startswith("__") and t.error is None
        )
        configs = self._configs(names)
        states = {}
        for name in names:
            partitions = meta.topics[name].partitions
            rf = max((len(p.replicas) for p in partitions.values()), default=0)
            states[name] = TopicState(name, len(partitions), rf, configs.get(name, {}))
        return states

    def _configs(self, names: list[str]) -> dict[str, dict[str, str]]:
        if not names:
            return {}
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
        futures = self._admin.describe_configs(resources, request_timeout=self.timeout)
        out: dict[str, dict[str, str]] = {}
        for resource, future in futures.items():
            try:
                entries = future.result()
            except KafkaException:
                continue  # deleted meanwhile
            out[resource.name] = {k: entries[k].value for k in TRACKED_CONFIGS if k in entries}
        return out

    def _create(self, specs: list[TopicSpec], brokers: int, dry_run: bool) -> list[TopicChange]:
        if not specs:
            return []
        new = [
            NewTopic(
                s.name,
                num_partitions=s.partitions,
                replication_factor=s.replication_factor(brokers),
                config=s.kafka_config(brokers),
            )
            for s in specs
        ]
        futures = self._admin.create_topics(
            new, validate_only=dry_run, operation_timeout=self.timeout, request_timeout=self.timeout
        )
        self._await(futures, "creating")
        if not dry_run:
            self._await_leaders({s.name: s.partitions for s in specs})
        changes = []
        for s in specs:
            details: dict[str, tuple[str | None, str]] = {
                "partitions": (None, str(s.partitions)),
                "replication.factor": (None, str(s.replication_factor(brokers))),
            }
            details.update({k: (None, v) for k, v in s.kafka_config(brokers).items()})
            changes.append(TopicChange(s.name, "created", details))
        return changes

    def _update(
        self, specs: list[TopicSpec], live: dict[str, TopicState], dry_run: bool
    ) -> list[TopicChange]:
        changes, alters, grows = [], [], []
        for s in specs:
            state = live[s.name]
            want = s.kafka_config(state.replication_factor)  # min.insync.replicas <= the live rf
            diff = {
                k: (state.config.get(k), v) for k, v in want.items() if state.config.get(k) != v
            }
            details: dict[str, tuple[str | None, str]] = dict(diff)
            if diff:
                alters.append(
                    ConfigResource(
                        ResourceType.TOPIC,
                        s.name,
                        incremental_configs=[
                            ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET)
                            for k, (_, v) in diff.items()
                        ],
                    )
                )
            if s.partitions > state.partitions:
                grows.append(NewPartitions(s.name, s.partitions))
                details["partitions"] = (str(state.partitions), str(s.partitions))
            elif s.partitions < state.partitions:
                details["partitions"] = (
                    str(state.partitions),
                    f"{s.partitions} (not applied: Kafka cannot reduce partitions)",
                )
            changed = bool(diff) or s.partitions > state.partitions
            changes.append(TopicChange(s.name, "updated" if changed else "unchanged", details))
        if alters:
            self._await(
                self._admin.incremental_alter_configs(
                    alters, validate_only=dry_run, request_timeout=self.timeout
                ),
                "updating",
            )
        if grows:
            self._await(
                self._admin.create_partitions(
                    grows,
                    validate_only=dry_run,
                    operation_timeout=self.timeout,
                    request_timeout=self.timeout,
                ),
                "adding partitions to",
            )
            if not dry_run:
                self._await_leaders({g.topic: g.new_total_count for g in grows})
        return changes

    def _await(self, futures: dict, doing: str) -> None:
        for key, future in futures.items():
            name = getattr(key, "name", key)
            try:
                future.result()
            except KafkaException as exc:
                err = exc.args[0]
                if err.name() in ("_TIMED_OUT", "_TRANSPORT", "REQUEST_TIMED_OUT"):
                    raise BackendUnavailableError(
                        f"{doing} topic {name!r} timed out: {err.str()}"
                    ) from None
                raise ConfigError(
                    f"the broker refused {doing} the topic: {err.name()}: {err.str()}",
                    where=f"topic {name!r}",
                ) from None

    def _await_leaders(self, partitions: dict[str, int]) -> None:
        """Wait until each topic shows its partition count with a leader for every partition.

        There is no notification for metadata propagation, so this re-asks every 50 ms."""
        deadline = time.monotonic() + self.timeout
        waiting = dict(partitions)
        while waiting:
            meta = self._metadata()
            for name, count in list(waiting.items()):
                topic = meta.topics.get(name)
                if (
                    topic is not None
                    and topic.error is None
                    and len(topic.partitions) >= count
                    and all(p.leader >= 0 for p in topic.partitions.values())
                ):
                    del waiting[name]
            if waiting and time.monotonic() >= deadline:
                raise BackendUnavailableError(
                    f"topics {sorted(waiting)} have no leader for every partition after "
                    f"{self.timeout:g} s"
                )
            if waiting:
                time.sleep(0.05)
