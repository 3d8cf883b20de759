"""The 12 event types: typed, validated structures with the original platform's wire layout.

Each type is a ``msgspec.Struct`` whose JSON encoding is exactly the payload the original library
sent: the envelope first (``eventId``, ``eventType``, ``timestamp`` in epoch ms, ``source``,
``version``, optional ``correlationId``/``causationId``), then the type's own camelCase fields.
Optional fields default to ``UNSET`` and are omitted from the JSON when absent.

Construction does not validate (msgspec validates while decoding); ``encode_event`` checks an
instance against its type in C by round-tripping it through a MessagePack decoder of the type, then
writes the validated copy as JSON, and raises ``EventValidationError`` naming the type and the field.
MessagePack, not JSON, for the check because it keeps Python's types apart: JSON would write bytes as
base64 text, a UUID or a Decimal as text and NaN as ``null``, so a wrong value could pass as a string;
in MessagePack bytes stay bytes (and UUIDs are packed as bytes, Decimals as numbers), refused for a
``str`` field. (A naive ``datetime``/``date`` is still packed as ISO text and would pass for a text
field.) The JSON written is that of the
validated copy, so an ``int`` given for a float field is written ``25.0``, as the Node twin writes it
and as a JSON consumer inferring types from the value expects (the schemas say ``number``/``double``).
Nothing is coerced: a string is never read as a list, a mapping never as a list, bytes never as text,
``bool`` is neither an int nor a float, a float with a fraction part is not an int. Rules that span fields (``failedRecords``
<= ``totalRecords``) live in ``__post_init__``, which msgspec runs on decode as well. Counts are
bounded to a signed 64-bit long so that every valid event also fits the Avro schemas in ``schemas/``
(generated from these Structs by ``events/schemas.py``) and Java consumers; floats to finite values
(JSON has no NaN or infinity); ``timestamp`` to 0 .. 9999-12-31T23:59:59.999Z, the last instant RFC 3339
(and so CloudEvents' ``time``) can write. The producer also refuses timestamps more than an hour
ahead of its clock (``envelope.MAX_FUTURE_MS``, Kafka's broker default).

Spec: docs/events.md (the catalog); CloudEvents 1.0 for ``CE_TYPE`` names.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Mapping
from typing import Annotated, Any, ClassVar, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from carbonplane.errors import EventValidationError

SCHEMA_VERSION = "1.0.0"
MAX_LONG = 2**63 - 1  # counts and timestamps must fit a signed 64-bit long (Avro, Java, Kafka)

MAX_TIMESTAMP_MS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z: RFC 3339 has four-digit years
MAX_FLOAT = sys.float_info.max  # the bound keeps infinity out (NaN fails every bound)

NonNegInt = Annotated[int, Meta(ge=0, le=MAX_LONG)]
Timestamp = Annotated[int, Meta(ge=0, le=MAX_TIMESTAMP_MS)]
NonNegFloat = Annotated[float, Meta(ge=0, le=MAX_FLOAT)]
Ratio = Annotated[float, Meta(ge=0.0, le=1.0)]
Name = Annotated[str, Meta(min_length=1)]
StatusCode = Annotated[int, Meta(ge=100, le=599)]
StrMap = dict[str, str]

RunStatus = Literal["SUCCESS", "FAILURE", "PARTIAL"]
Outcome = Literal["SUCCESS", "FAILURE", "DENIED"]


class Event(msgspec.Struct, kw_only=True, rename="camel"):
    """The envelope every event carries. ``eventId``/``timestamp``/``source`` are filled by the
    producer when left empty."""

    event_id: str = ""
    event_type: str = ""
    timestamp: Timestamp = 0
    source: str = ""
    version: str = SCHEMA_VERSION
    correlation_id: str | UnsetType = UNSET
    causation_id: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = ""
    CE_TYPE: ClassVar[str] = ""


class DataIngestionEvent(Event, kw_only=True, rename="camel"):
    """A batch of records landed in a dataset (one ingestion run)."""

    event_type: Literal["DataIngestionEvent"] = "DataIngestionEvent"
    dataset_name: Name
    record_count: NonNegInt
    size_bytes: NonNegInt
    format: str = "parquet"
    location: str
    status: RunStatus = "SUCCESS"
    metadata: StrMap = {}

    TOPIC: ClassVar[str] = "data-ingestion"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.ingestion"


class DataQualityEvent(Event, kw_only=True, rename="camel"):
    """The outcome of one data-quality check on a dataset; ``failedRecords`` <= ``totalRecords``."""

    event_type: Literal["DataQualityEvent"] = "DataQualityEvent"
    dataset_name: Name
    check_type: Name
    check_name: Name
    result: Literal["PASS", "FAIL", "WARNING"]
    score: Ratio
    failed_records: NonNegInt
    total_records: NonNegInt
    message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "data-quality"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.quality"

    def __post_init__(self) -> None:
        # Only compare well-typed counts: a wrong type is reported by validation, naming its field,
        failed, total = self.failed_records, self.total_records
        # and a negative total is reported as totalRecords' own error, not as this one.
        if type(failed) is int and type(total) is int and 0 <= total < failed:
            raise EventValidationError(
                "DataQualityEvent",
                "failedRecords",
                f"failedRecords ({self.failed_records}) exceeds totalRecords ({self.total_records})",
            )


class ColumnLineage(msgspec.Struct, kw_only=True, rename="camel"):
    """One target column and the source column it was derived from."""

    source_column: Name
    target_column: Name
    transformation: str | UnsetType = UNSET


class DataLineageEvent(Event, kw_only=True, rename="camel"):
    """A dataset was derived from another; optionally column by column."""

    event_type: Literal["DataLineageEvent"] = "DataLineageEvent"
    source_dataset: Name
    target_dataset: Name
    transformation_type: Literal["COPY", "TRANSFORM", "AGGREGATE", "JOIN", "FILTER"]
    transformation_name: Name
    query: str | UnsetType = UNSET
    columns: list[ColumnLineage] = []

    TOPIC: ClassVar[str] = "data-lineage"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.lineage"


class DataTransformationEvent(Event, kw_only=True, rename="camel"):
    """One run of a transformation job: datasets in and out, record counts, duration, outcome."""

    event_type: Literal["DataTransformationEvent"] = "DataTransformationEvent"
    job_name: Name
    input_datasets: list[str]
    output_datasets: list[str]
    records_in: NonNegInt
    records_out: NonNegInt
    duration_ms: NonNegInt
    status: RunStatus
    engine: str | UnsetType = UNSET
    error_message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "data-transformation"
    CE_TYPE: ClassVar[str] = "com.carbon254.data.transformation"


class ServiceHealthEvent(Event, kw_only=True, rename="camel"):
    """A service's health as observed at one moment: status, latency and error rate."""

    event_type: Literal["ServiceHealthEvent"] = "ServiceHealthEvent"
    service_name: Name
    namespace: Name
    health_status: Literal["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"]
    latency_ms: NonNegFloat
    error_rate: Ratio
    message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "system-health"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.health"


class DeploymentEvent(Event, kw_only=True, rename="camel"):
    """A deployment was rolled out, rolled back, scaled or restarted."""

    event_type: Literal["DeploymentEvent"] = "DeploymentEvent"
    deployment_name: Name
    namespace: Name
    action: Literal["DEPLOY", "ROLLBACK", "SCALE", "RESTART"]
    deployed_version: Name
    previous_version: str | UnsetType = UNSET
    replicas: NonNegInt
    deployed_by: Name

    TOPIC: ClassVar[str] = "deployment-events"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.deployment"


class ConfigChangeEvent(Event, kw_only=True, rename="camel"):
    """A platform configuration resource was created, updated or deleted."""

    event_type: Literal["ConfigChangeEvent"] = "ConfigChangeEvent"
    resource: Name
    change_type: Literal["CREATE", "UPDATE", "DELETE"]
    changed_by: Name
    config_version: str | UnsetType = UNSET
    diff: str | UnsetType = UNSET
    reason: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "config-changes"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.config"


class SecurityEvent(Event, kw_only=True, rename="camel"):
    """A security-relevant occurrence: failed authentication, denial, rate limit, certificate, TLS."""

    event_type: Literal["SecurityEvent"] = "SecurityEvent"
    category: Literal[
        "AUTHN_FAILURE",
        "AUTHZ_DENIED",
        "RATE_LIMITED",
        "CERT_ISSUED",
        "CERT_EXPIRING",
        "POLICY_VIOLATION",
        "TLS_ERROR",
    ]
    severity: Literal["LOW", "MEDIUM", "HIGH", "CRITICAL"]
    resource: Name
    principal: str | UnsetType = UNSET
    source_ip: str | UnsetType = UNSET
    details: StrMap = {}

    TOPIC: ClassVar[str] = "security-events"
    CE_TYPE: ClassVar[str] = "com.carbon254.system.security"


class AuditUserActionEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: a user did something to a resource."""

    event_type: Literal["AuditUserActionEvent"] = "AuditUserActionEvent"
    user_id: Name
    username: Name
    action: Name
    resource: Name
    resource_type: Name
    result: Outcome
    ip_address: Name
    user_agent: str | UnsetType = UNSET
    details: StrMap = {}

    TOPIC: ClassVar[str] = "audit-user-actions"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.user_action"


class AuditAPICallEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: one API call through the gateway (never carries secrets, only key identifiers)."""

    event_type: Literal["AuditAPICallEvent"] = "AuditAPICallEvent"
    service: Name
    endpoint: Name
    method: Name
    status_code: StatusCode
    latency_ms: NonNegFloat
    request_size_bytes: NonNegInt
    response_size_bytes: NonNegInt
    user_id: str | UnsetType = UNSET
    api_key_id: str | UnsetType = UNSET
    ip_address: Name
    error_message: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "audit-api-calls"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.api_call"


class AuditDataAccessEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: a user read, wrote, deleted or exported data of a dataset."""

    event_type: Literal["AuditDataAccessEvent"] = "AuditDataAccessEvent"
    user_id: Name
    dataset: Name
    access_type: Literal["READ", "WRITE", "DELETE", "EXPORT"]
    result: Outcome
    row_count: NonNegInt | UnsetType = UNSET
    query: str | UnsetType = UNSET
    ip_address: str | UnsetType = UNSET

    TOPIC: ClassVar[str] = "audit-data-access"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.data_access"


class AuditAdminOperationEvent(Event, kw_only=True, rename="camel"):
    """Audit trail: an administrator performed a privileged operation."""

    event_type: Literal["AuditAdminOperationEvent"] = "AuditAdminOperationEvent"
    admin_user: Name
    operation: Name
    target: Name
    result: Outcome
    ip_address: str | UnsetType = UNSET
    details: StrMap = {}

    TOPIC: ClassVar[str] = "audit-admin-operations"
    CE_TYPE: ClassVar[str] = "com.carbon254.audit.admin_operation"


EVENT_TYPES: tuple[type[Event], ...] = (
    DataIngestionEvent,
    DataQualityEvent,
    DataLineageEvent,
    DataTransformationEvent,
    ServiceHealthEvent,
    DeploymentEvent,
    ConfigChangeEvent,
    SecurityEvent,
    AuditUserActionEvent,
    AuditAPICallEvent,
    AuditDataAccessEvent,
    AuditAdminOperationEvent,
)
EVENT_TYPES_BY_NAME: dict[str, type[Event]] = {t.__name__: t for t in EVENT_TYPES}
EVENT_TYPE_BY_TOPIC: dict[str, type[Event]] = {t.TOPIC: t for t in EVENT_TYPES}

_ENCODER = msgspec.json.Encoder()
_PACKER = msgspec.msgpack.Encoder(
    uuid_format="bytes", decimal_format="number"
)  # no UUID or Decimal passes as text
_DECODERS = {t: msgspec.json.Decoder(t) for t in EVENT_TYPES}
_CHECKERS = {t: msgspec.msgpack.Decoder(t) for t in EVENT_TYPES}  # validation on the produce path
_AT = re.compile(r"^(?P<problem>.*?)(?: - at (?P<key>`key` in )?`\$(?P<path>[^`]*)`)?$", re.S)
_JSON_LIKE = (str, int, float, list, tuple, dict, type(None))
_NON_FINITE = {
    "nan": "NaN",
    "inf": "Infinity",
    "-inf": "-Infinity",
}  # as JavaScript (the Node twin) prints them


def validation_error(event_type: str, exc: Exception) -> EventValidationError:
    """Turn a msgspec/constructor error into one naming the event type and the field."""
    for inner in (exc, exc.__cause__, exc.__context__):
        if isinstance(inner, EventValidationError):
            return inner
    text = str(exc)
    m = _AT.match(text)
    problem, path = (m.group("problem"), m.group("path")) if m else (text, None)
    field = path.lstrip(".") if path else None
    if m and m.group("key"):  # a key of the map at ``path`` is wrong
        problem = f"a key of the map: {problem}"
    if field and "[...]" in field:  # msgspec's notation for "some value of this map"
        field, problem = field.replace("[...]", ""), f"a value of the map: {problem}"
    missing = re.search(r"[Mm]issing required (?:argument|field) [`']?(\w+)", text)
    unexpected = re.search(r"[Uu]nexpected keyword argument '(\w+)'|has no field '(\w+)'", text)
    name = missing or unexpected
    if name:  # the path points at the object; the field is the one named in the message
        named = _camel(name.group(1) or name.group(2))
        field = f"{field}.{named}" if field else named
        problem = "missing required field" if missing else f"unexpected field: {problem}"
    return EventValidationError(event_type, field, problem)


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def event_decoder(cls: type[Event]) -> msgspec.json.Decoder:
    """The validating JSON decoder of a catalog event type (KeyError for anything else)."""
    return _DECODERS[cls]


def event_checker(cls: type[Event]) -> msgspec.msgpack.Decoder:
    """The validating MessagePack decoder the produce path checks ``cls`` instances with."""
    return _CHECKERS[cls]


def checked_event(event: Event) -> Event:
    """A validated copy of ``event`` (floats as floats); raises EventValidationError naming the field."""
    cls = type(event)
    checker = _CHECKERS.get(cls)
    if checker is None:
        raise EventValidationError(cls.__name__, None, "not one of the 12 catalog event types")
    try:
        packed = _PACKER.encode(event)
    except (TypeError, ValueError, OverflowError) as exc:
        raise _unencodable(event, exc) from None
    try:
        return checker.decode(packed)
    except msgspec.ValidationError as exc:
        raise _explain(
            validation_error(cls.__name__, exc), lambda field: getattr(event, _snake(field), None)
        ) from None


def encode_event(event: Event) -> bytes:
    """Validate ``event`` against its type and return its JSON bytes (raises EventValidationError)."""
    return _ENCODER.encode(checked_event(event))


def _unencodable(event: Event, exc: Exception) -> EventValidationError:
    """Name the field whose value cannot be encoded (an object, an int beyond 64 bits)."""
    for name, encode_name in zip(event.__struct_fields__, event.__struct_encode_fields__):
        value = getattr(event, name)
        if value is UNSET:
            continue
        try:
            _PACKER.encode(value)
        except (TypeError, ValueError, OverflowError) as inner:
            return EventValidationError(
                type(event).__name__, encode_name, f"cannot be encoded as JSON: {inner}"
            )
    return EventValidationError(type(event).__name__, None, f"cannot be encoded as JSON: {exc}")


def payload_error(
    event_type: str, payload: Mapping[str, Any], exc: Exception
) -> EventValidationError:
    """The EventValidationError for a whole camelCase payload that failed to convert to its type."""
    return _explain(validation_error(event_type, exc), payload.get)


def _explain(err: EventValidationError, value_of: Callable[[str], Any]) -> EventValidationError:
    """Sharpen a top-level field's error with the value at hand (``value_of(camelCaseField)``): JSON
    has no NaN or infinity, and a map error can name the offending key."""
    if not (err.field and err.field.isidentifier()):
        return err
    value = value_of(err.field)
    if isinstance(value, float) and not math.isfinite(value):
        return EventValidationError(
            err.event_type,
            err.field,
            f"{_NON_FINITE[repr(value)]} is not a valid number (must be finite)",
        )
    if (
        not isinstance(value, _JSON_LIKE) and "got `" in err.problem
    ):  # say "UUID", not how it was packed
        return EventValidationError(
            err.event_type,
            err.field,
            re.sub(r"got `[^`]*`", f"got `{type(value).__name__}`", err.problem, count=1),
        )
    if isinstance(value, dict) and err.problem.startswith("a value of the map: "):
        key = next((k for k, v in value.items() if not isinstance(v, str)), None)
        if key is not None:
            detail = err.problem.removeprefix("a value of the map: ")
            return EventValidationError(
                err.event_type, err.field, f"the value of key {key!r}: {detail}"
            )
    return err


def _snake(camel: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in camel)


def decode_event(data: bytes, event_type: str | None = None) -> Event:
    """Decode JSON bytes into the typed event named by ``event_type`` (or the payload's eventType)."""
    if event_type is None:
        try:
            event_type = msgspec.json.decode(data, type=_TypeProbe).event_type
        except msgspec.ValidationError as exc:  # JSON, but no object with a string eventType
            raise validation_error("<unknown>", exc) from None
        except msgspec.DecodeError as exc:
            raise EventValidationError("<unknown>", None, f"not valid JSON: {exc}") from None
    cls = EVENT_TYPES_BY_NAME.get(event_type)
    if cls is None:
        raise EventValidationError(event_type, "eventType", "not one of the 12 catalog event types")
    try:
        return _DECODERS[cls].decode(data)
    except msgspec.ValidationError as exc:
        raise validation_error(event_type, exc) from None
    except msgspec.DecodeError as exc:
        raise EventValidationError(event_type, None, f"not valid JSON: {exc}") from None


class _TypeProbe(msgspec.Struct, rename="camel"):
    event_type: str


def build_event(cls: type[Event], **fields: object) -> Event:
    """Construct ``cls`` from snake_case keyword arguments; ``None`` means absent."""
    clean = {k: v for k, v in fields.items() if v is not None}
    try:
        return cls(**clean)
    except EventValidationError:
        raise
    except TypeError as exc:
        raise validation_error(cls.__name__, exc) from None
