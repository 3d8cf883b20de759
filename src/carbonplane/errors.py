"""The one exception tree of carbonplane.

Every error a user can hit says what was wrong, where (file:line, field path, topic, route) and,
when there is one, how to fix it. Catch ``CarbonplaneError`` to catch all of them::

    CarbonplaneError
    ├── ConfigError                 bad configuration (file, env var, CLI flag)
    ├── EventError
    │   ├── EventValidationError    an event failed its schema; nothing was sent
    │   ├── UnknownTopicError       a topic that is not in the catalog / does not exist
    │   ├── DeliveryError           the backend could not deliver (after its retries)
    │   └── BackendUnavailableError the backend cannot be reached (broker down, log locked)
    ├── LogError
    │   └── LogCorruptionError      the embedded log failed an integrity check
    ├── HttpError                   (sans-IO HTTP) malformed or forbidden message
    └── GatewayError                gateway config / admin errors
        ├── GatewayConfigError      a declarative config (file or POST /config) is invalid
        ├── AdminAPIError           an Admin API request failed (Kong's status and error body)
        ├── RateLimitStoreError     rate-limit counters unavailable (store full, Redis down)
        └── TokenStoreError         OAuth 2.0 token store unavailable (file unusable, Redis down)

Exceptions carry structured fields (``event_type``, ``field``, ``topic`` ...) so that the CLI can
print them and tests can assert on them without parsing messages.
"""

from __future__ import annotations


class CarbonplaneError(Exception):
    """Root of every error carbonplane raises on purpose."""


class ConfigError(CarbonplaneError):
    """Configuration is invalid. ``where`` names the file:line, env var or flag."""

    def __init__(self, message: str, *, where: str | None = None) -> None:
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)


class EventError(CarbonplaneError):
    """Base of the event system's errors."""


class EventValidationError(EventError, ValueError):
    """An event did not match its type; it was not sent.

    ``event_type`` is the event type's name, ``field`` the camelCase field path (``$.recordCount``)
    or None when the problem is not one field's.
    """

    def __init__(self, event_type: str, field: str | None, problem: str) -> None:
        self.event_type = event_type
        self.field = field
        self.problem = problem
        where = f"{event_type}.{field}" if field else event_type
        super().__init__(f"invalid {where}: {problem}")


class UnknownTopicError(EventError, KeyError):
    def __init__(self, topic: str, hint: str = "") -> None:
        self.topic = topic
        super().__init__(f"unknown topic {topic!r}" + (f": {hint}" if hint else ""))

    def __str__(self) -> str:  # KeyError would repr() the message
        return self.args[0]


class DeliveryError(EventError):
    """An event could not be delivered. ``topic`` and ``reason`` say which and why."""

    def __init__(self, topic: str, reason: str) -> None:
        self.topic = topic
        self.reason = reason
        super().__init__(f"delivery to {topic!r} failed: {reason}")


class BackendUnavailableError(EventError):
    """The event backend cannot be reached; the message says how to start or reach it."""


class LogError(CarbonplaneError):
    """The embedded event log could not do what was asked."""


class LogCorruptionError(LogError):
    """The embedded event log failed an integrity check."""


class HttpError(CarbonplaneError):
    """A malformed or forbidden HTTP message. ``status`` is the response code to send."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"{status}: {reason}")


class GatewayError(CarbonplaneError):
    """Gateway configuration or Admin API error."""


class GatewayConfigError(GatewayError):
    """A gateway configuration is invalid. ``problems`` lists every problem found, each with
    ``where`` (``kong.yml:23: services[2].routes[0].pathz``) and ``message``."""

    def __init__(self, problems: list, source: str | None = None) -> None:
        self.problems = list(problems)
        self.source = source
        lines = [str(p) for p in self.problems[:20]]
        more = len(self.problems) - len(lines)
        if more > 0:
            lines.append(f"... and {more} more")
        head = f"invalid gateway configuration{f' in {source}' if source else ''}"
        super().__init__(head + ":\n  " + "\n  ".join(lines))


class AdminAPIError(GatewayError):
    """An Admin API request failed. ``status`` and ``body`` are Kong's (``{"message": ...}``,
    plus ``code``/``name``/``fields`` for database-style errors)."""

    def __init__(self, status: int, body: dict) -> None:
        self.status = status
        self.body = body
        super().__init__(f"{status}: {body.get('message')}")


class RateLimitStoreError(GatewayError):
    """The rate-limit counters could not be read or updated (host store full or unreadable,
    Redis unreachable or timing out). The plugin proxies anyway when ``fault_tolerant`` is true,
    else answers 500."""


class TokenStoreError(GatewayError):
    """The oauth2 plugin's token store could not be read or written (its SQLite file cannot be
    opened, Redis unreachable or timing out); the request is answered 500."""
