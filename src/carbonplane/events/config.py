"""Which event backend to use, and how to reach it: resolved from arguments, then the environment.

Selection (no code change in the caller):
- ``CARBONPLANE_EVENTS_BACKEND`` = ``local`` | ``kafka`` forces a backend;
- else ``KAFKA_BOOTSTRAP_SERVERS`` set and non-empty -> ``kafka``;
- else ``local``: the embedded log under ``$CARBONPLANE_HOME`` (default ``~/.carbonplane``).

Kafka security follows the original library's variables: ``KAFKA_SECURITY_PROTOCOL`` (default
PLAINTEXT; the original defaulted to SSL, which silently failed against plaintext brokers),
``KAFKA_SSL_CA_LOCATION``, ``KAFKA_SSL_CERTIFICATE_LOCATION``, ``KAFKA_SSL_KEY_LOCATION``,
``KAFKA_SSL_KEY_PASSWORD``, ``KAFKA_SSL_KEYSTORE_LOCATION``, ``KAFKA_SSL_KEYSTORE_PASSWORD``.
The disk spool is opt-in: ``CARBONPLANE_SPOOL=1`` (under ``$CARBONPLANE_HOME/spool``) or
``CARBONPLANE_SPOOL_DIR=<dir>``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from carbonplane.errors import ConfigError

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
_SSL_ENV = {
    "KAFKA_SSL_CA_LOCATION": "ssl.ca.location",
    "KAFKA_SSL_CERTIFICATE_LOCATION": "ssl.certificate.location",
    "KAFKA_SSL_KEY_LOCATION": "ssl.key.location",
    "KAFKA_SSL_KEY_PASSWORD": "ssl.key.password",
    "KAFKA_SSL_KEYSTORE_LOCATION": "ssl.keystore.location",
    "KAFKA_SSL_KEYSTORE_PASSWORD": "ssl.keystore.password",
}


def carbonplane_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("CARBONPLANE_HOME") or Path.home() / ".carbonplane").expanduser()


@dataclass(frozen=True)
class EventsConfig:
    backend: str = "local"
    home: Path = field(default_factory=carbonplane_home)
    bootstrap_servers: str | None = None
    security_protocol: str = "PLAINTEXT"
    ssl: dict[str, str] = field(default_factory=dict)
    spool_dir: Path | None = None
    overrides: dict[str, Any] = field(default_factory=dict)  # librdkafka keys, applied last

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **given: Any) -> "EventsConfig":
        env = os.environ if env is None else env
        home = Path(given.pop("home", None) or carbonplane_home(env))
        bootstrap = (
            given.pop("bootstrap_servers", None) or env.get("KAFKA_BOOTSTRAP_SERVERS") or None
        )
        backend = (
            given.pop("backend", None)
            or env.get("CARBONPLANE_EVENTS_BACKEND")
            or ("kafka" if bootstrap else "local")
        )
        backend = backend.strip().lower()
        if backend not in ("local", "kafka"):
            raise ConfigError(
                f"unknown events backend {backend!r} (expected local or kafka)",
                where="CARBONPLANE_EVENTS_BACKEND",
            )
        if backend == "kafka" and not bootstrap:
            raise ConfigError(
                "the kafka backend needs KAFKA_BOOTSTRAP_SERVERS (e.g. 127.0.0.1:9092)",
                where="KAFKA_BOOTSTRAP_SERVERS",
            )
        protocol = (
            (
                given.pop("security_protocol", None)
                or env.get("KAFKA_SECURITY_PROTOCOL")
                or "PLAINTEXT"
            )
            .strip()
            .upper()
        )
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                f"{protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}",
                where="KAFKA_SECURITY_PROTOCOL",
            )
        ssl = {key: env[var] for var, key in _SSL_ENV.items() if env.get(var)}
        ssl.update(given.pop("ssl", None) or {})
        spool: Path | None = given.pop("spool_dir", None)
        if spool is None and env.get("CARBONPLANE_SPOOL_DIR"):
            spool = Path(env["CARBONPLANE_SPOOL_DIR"])
        elif spool is None and env.get("CARBONPLANE_SPOOL", "").lower() in (
            "1",
            "true",
            "yes",
            "on",
        ):
            spool = home / "spool"
        overrides = dict(given.pop("overrides", None) or {})
        if given:
            raise ConfigError(
                f"unknown option(s): {', '.join(sorted(given))}", where="EventsConfig"
            )
        return cls(
            backend, home, bootstrap, protocol, ssl, Path(spool) if spool else None, overrides
        )

    @property
    def log_path(self) -> Path:
        """The embedded log's database file."""
        return self.home / "events" / "log.db"

    def librdkafka(self, client_id: str) -> dict[str, Any]:
        """Producer settings: idempotent, acks=all, lz4, murmur2 partitioning
        (Java/KafkaJS parity)."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": client_id,
            "enable.idempotence": True,
            "acks": "all",
            "compression.type": "lz4",
            "partitioner": "murmur2_random",
            "linger.ms": 10,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            conf.update(self.ssl)
        conf.update(self.overrides)
        return conf

    def librdkafka_common(self) -> dict[str, Any]:
        """Connection settings shared by admin and consumer clients."""
        conf: dict[str, Any] = {
            "bootstrap.servers": self.bootstrap_servers,
            "security.protocol": self.security_protocol,
        }
        if self.security_protocol in ("SSL", "SASL_SSL"):
            conf.update(self.ssl)
        return conf
