"""The event library's public API, pinned: the names users may import, and the generated methods.

Adding or removing a public name, or changing a ``produce_*_event`` parameter (name, order,
default), must be a deliberate change of the lists below (and of docs/events.md): these methods
are the original library's call shape, which existing callers depend on.
"""

from __future__ import annotations

import ast
import inspect
import os
import pydoc
import re
import subprocess
import sys
import types
import typing
from pathlib import Path

import pytest

import carbonplane.events
import event_producer
from carbonplane.errors import EventValidationError
from carbonplane.events import methods
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.catalog import TOPICS
from carbonplane.events.delivery import UserCallback
from carbonplane.events.producer import EventProducer

PUBLIC = [
    "AuditAPICallEvent",
    "AuditAdminOperationEvent",
    "AuditDataAccessEvent",
    "AuditUserActionEvent",
    "ColumnLineage",
    "ConfigChangeEvent",
    "DataIngestionEvent",
    "DataLineageEvent",
    "DataQualityEvent",
    "DataTransformationEvent",
    "Delivery",
    "DeliveryError",
    "DeliveryFuture",
    "DeploymentEvent",
    "Event",
    "EventProducer",
    "EventValidationError",
    "EventsConfig",
    "FlushResult",
    "LocalLog",
    "MemoryLog",
    "SecurityEvent",
    "ServiceHealthEvent",
    "TOPICS",
    "TopicSpec",
    "decode_event",
    "get_event_producer",
    "serve_metrics",
    "topic_spec",
]
FACADE = [
    "AuditAPICallEvent",
    "AuditAdminOperationEvent",
    "AuditDataAccessEvent",
    "AuditUserActionEvent",
    "ColumnLineage",
    "ConfigChangeEvent",
    "DataIngestionEvent",
    "DataLineageEvent",
    "DataQualityEvent",
    "DataTransformationEvent",
    "Delivery",
    "DeliveryFuture",
    "DeploymentEvent",
    "Event",
    "EventProducer",
    "EventType",
    "FlushResult",
    "SecurityEvent",
    "ServiceHealthEvent",
    "Topic",
    "get_event_producer",
]
# The original library's signatures (annotations aside): names, order and defaults.
SIGNATURES = {
    "produce_data_ingestion_event": (
        "(self, dataset_name, record_count, size_bytes, location, status='SUCCESS', "
        "format='parquet', metadata=None, **extra)"
    ),
    "produce_data_quality_event": (
        "(self, dataset_name, check_type, check_name, result, score, failed_records, "
        "total_records, message=None, **extra)"
    ),
    "produce_data_lineage_event": (
        "(self, source_dataset, target_dataset, transformation_type, "
        "transformation_name, query=None, columns=None, **extra)"
    ),
    "produce_data_transformation_event": (
        "(self, job_name, input_datasets, output_datasets, records_in, records_out, "
        "duration_ms, status='SUCCESS', engine=None, error_message=None, **extra)"
    ),
    "produce_service_health_event": (
        "(self, service_name, namespace, health_status, latency_ms, error_rate, "
        "message=None, **extra)"
    ),
    "produce_deployment_event": (
        "(self, deployment_name, namespace, action, deployed_version, deployed_by, "
        "replicas=1, previous_version=None, **extra)"
    ),
    "produce_config_change_event": (
        "(self, resource, change_type, changed_by, config_version=None, diff=None, "
        "reason=None, **extra)"
    ),
    "produce_security_event": (
        "(self, category, severity, resource, principal=None, source_ip=None, "
        "details=None, **extra)"
    ),
    "produce_user_action_event": (
        "(self, user_id, username, action, resource, resource_type, result, ip_address, "
        "user_agent=None, details=None, **extra)"
    ),
    "produce_api_call_event": (
        "(self, service, endpoint, method, status_code, latency_ms, request_size, "
        "response_size, user_id=None, ip_address='unknown', error_message=None, "
        "api_key_id=None, **extra)"
    ),
    "produce_data_access_event": (
        "(self, user_id, dataset, access_type, result, row_count=None, query=None, "
        "ip_address=None, **extra)"
    ),
    "produce_admin_operation_event": (
        "(self, admin_user, operation, target, result, ip_address=None, details=None, **extra)"
    ),
}
STUB = Path(methods.__file__).with_suffix(".pyi")


def untyped(sig: inspect.Signature) -> str:
    return str(
        sig.replace(
            parameters=[p.replace(annotation=p.empty) for p in sig.parameters.values()],
            return_annotation=inspect.Signature.empty,
        )
    )


# -- the names -------------------------------------------------------------------------------------


def test_the_public_names_are_pinned():
    assert sorted(carbonplane.events.__all__) == PUBLIC
    assert sorted(event_producer.__all__) == FACADE


def test_every_public_name_is_its_home_modules_object_and_static_checkers_see_the_same():
    for name in PUBLIC:
        home = sys.modules.get(carbonplane.events._HOME[name]) or __import__(
            carbonplane.events._HOME[name], fromlist=["x"]
        )
        assert getattr(carbonplane.events, name) is getattr(home, name), name
    for name in FACADE:
        if name not in ("EventType", "Topic"):
            assert getattr(event_producer, name) is getattr(carbonplane.events, name), name
    tree = ast.parse(Path(carbonplane.events.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    seen = {a.name: n.module for n in block.body for a in n.names}  # type: ignore[attr-defined]
    assert seen == carbonplane.events._HOME


def test_the_docs_list_the_public_names():
    text = (Path(__file__).resolve().parents[2] / "docs" / "events.md").read_text()
    section = text.split("## Python API", 1)[1].split("\n## ", 1)[0]
    listed = {
        n
        for line in section.splitlines()
        if line.startswith("| `")
        for n in re.findall(r"`(\w+)`", line.split("|")[1])
    }
    types = {n for n in PUBLIC if n.endswith("Event") and n != "Event"}
    assert listed == set(PUBLIC) - types and len(types) == 12


def test_star_import_gives_exactly_the_public_names_and_unknown_names_fail():
    scope: dict = {}
    exec("from carbonplane.events import *", scope)  # noqa: S102
    assert sorted(k for k in scope if k != "__builtins__") == PUBLIC
    with pytest.raises(AttributeError, match="has no attribute 'produce'"):
        carbonplane.events.produce  # noqa: B018
    with pytest.raises(ImportError):
        exec("from carbonplane.events import checked_arguments", {})  # noqa: S102


def test_importing_one_submodule_does_not_load_the_producer():
    code = (
        "import sys, carbonplane.events.catalog, carbonplane.events.types; "
        "print(sorted(m for m in ('carbonplane.events.producer', 'prometheus_client', "
        "'carbonplane.events.backends.local') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


# -- the generated methods -------------------------------------------------------------------------


def test_one_generated_method_per_catalog_topic_with_the_original_signature():
    names = {n for n in dir(EventProducer) if n.startswith("produce_") and n.endswith("_event")} - {
        "produce_custom_event",
        "produce_event",
    }
    assert names == {t.method for t in TOPICS} == set(SIGNATURES)
    for name, expected in SIGNATURES.items():
        method = getattr(EventProducer, name)
        assert untyped(inspect.signature(method)) == expected, name
        assert method.__name__ == name and f"{name}" in method.__code__.co_filename


def test_signatures_are_typed_from_the_event_fields():
    sig = inspect.signature(EventProducer.produce_service_health_event)
    p = sig.parameters
    assert p["service_name"].annotation is str and p["latency_ms"].annotation is float
    assert (
        p["health_status"].annotation
        == typing.Literal["HEALTHY", "DEGRADED", "UNHEALTHY", "UNKNOWN"]
    )
    assert p["message"].annotation == (str | None)
    assert sig.return_annotation is carbonplane.events.DeliveryFuture
    hints = typing.get_type_hints(EventProducer.produce_api_call_event)
    assert (
        hints["request_size"] is int
        and hints["ip_address"] is str
        and hints["user_id"] == (str | None)
    )
    text = pydoc.render_doc(EventProducer.produce_data_ingestion_event, renderer=pydoc.plaintext)
    assert "dataset_name: str, record_count: int" in text and "data-ingestion" in text


def annotation(tp: typing.Any) -> str:
    """An annotation as stub source."""
    if tp is None or tp is type(None):
        return "None"
    if tp == UserCallback:
        return "UserCallback"
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(annotation(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(repr(a) for a in args)}]"
    if origin is not None:
        name = "Unpack" if origin is typing.Unpack else origin.__name__
        return f"{name}[{', '.join(annotation(a) for a in args)}]"
    return "Any" if tp is typing.Any else tp.__name__


def render_stub() -> str:
    """What ``methods.pyi`` must say: the generated signatures, as static checkers are
    to see them."""
    out = [
        "# Generated from the catalog by tests/unit/test_event_api.py: do not edit. After changing "
        "the catalog,",
        "# the event types or events/methods.py: CARBONPLANE_WRITE_STUB=1 .venv/bin/pytest "
        "tests/unit/test_event_api.py",
        "from collections.abc import Mapping",
        "from typing import Any, Literal, TypedDict, Unpack",
        "",
        "from carbonplane.events.delivery import DeliveryFuture, UserCallback",
        "from carbonplane.events.types import ColumnLineage",
        "",
        "FIELD_OF_PARAMETER: dict[str, str]",
        "METHOD_DEFAULTS: dict[tuple[str, str], Any]",
        "",
        "class EnvelopeArguments(TypedDict, total=False):",
        *(
            f"    {k}: {annotation(v)}"
            for k, v in typing.get_type_hints(methods.EnvelopeArguments).items()
        ),
        "",
        "class CatalogMethods:",
    ]
    for spec in TOPICS:
        params = list(
            inspect.signature(getattr(methods.CatalogMethods, spec.method)).parameters.values()
        )
        parts = ["self"] + [
            ("**" if p.kind is p.VAR_KEYWORD else "")
            + f"{p.name}: {annotation(p.annotation)}"
            + ("" if p.default is p.empty else f" = {p.default!r}")
            for p in params[1:]
        ]
        out.append(
            f"    def {spec.method}(\n        "
            + ",\n        ".join(parts)
            + ",\n    ) -> DeliveryFuture: ..."
        )
    return "\n".join(out) + "\n"


def test_the_checked_in_stub_is_what_the_code_generates():
    if os.environ.get("CARBONPLANE_WRITE_STUB") == "1":
        STUB.write_text(render_stub())
    assert STUB.read_text() == render_stub(), (
        "regenerate: CARBONPLANE_WRITE_STUB=1 .venv/bin/pytest tests/unit/test_event_api.py"
    )


def test_the_stub_declares_the_runtime_signatures():
    """Read back independently of render_stub: the stub's parameters are the methods' parameters."""
    cls = next(
        n
        for n in ast.parse(STUB.read_text()).body
        if isinstance(n, ast.ClassDef) and n.name == "CatalogMethods"
    )
    stub = {f.name: f for f in cls.body if isinstance(f, ast.FunctionDef)}
    assert set(stub) == set(SIGNATURES)
    for name, f in stub.items():
        runtime = list(inspect.signature(getattr(EventProducer, name)).parameters.values())
        args = f.args.args
        defaults = [None] * (len(args) - len(f.args.defaults)) + [
            ast.literal_eval(d) for d in f.args.defaults
        ]
        assert [a.arg for a in args] + [f.args.kwarg.arg] == [p.name for p in runtime], name
        assert defaults[1:] == [
            None if p.default is p.empty else p.default for p in runtime[1:-1]
        ], name
        assert ast.unparse(f.returns) == "DeliveryFuture"


# -- the generated methods' behaviour at the edges -------------------------------------------------


@pytest.fixture
def producer() -> EventProducer:
    log = MemoryLog()
    log.apply_topics(TOPICS)
    return EventProducer(source_service="api-test", backend=log)


def test_a_missing_argument_names_the_wire_field_and_a_calling_bug_stays_a_type_error(producer):
    with pytest.raises(EventValidationError) as info:
        producer.produce_api_call_event("svc", "/x", "GET", 200, 1.0, request_size=1)
    assert (info.value.event_type, info.value.field) == ("AuditAPICallEvent", "responseSizeBytes")
    with pytest.raises(TypeError):
        producer.produce_service_health_event("s", "n", "HEALTHY", 1.0, 0.0, "msg", "one too many")
    with pytest.raises(TypeError):
        producer.produce_service_health_event("s", "n", "HEALTHY", 1.0, 0.0, service_name="twice")
    with pytest.raises(EventValidationError, match="colour"):
        producer.produce_service_health_event("s", "n", "HEALTHY", 1.0, 0.0, colour="red")
    assert producer.get_stats()["rejected"] == 2 and producer.get_stats()["produced"] == 0


def test_envelope_fields_and_on_delivery_travel_in_extra(producer):
    seen = []
    future = producer.produce_deployment_event(
        "api",
        "prod",
        "DEPLOY",
        "1.2.3",
        "ci",
        correlation_id="c-1",
        event_id="d-1",
        on_delivery=seen.append,
    )
    assert producer.flush(5).ok and future.result(1).ok and [d.ok for d in seen] == [True]
    assert future.event_id == "d-1"


def test_a_mutable_default_is_fresh_for_every_event(producer):
    first = producer.produce_security_event("AUTHN_FAILURE", "LOW", "gw")
    second = producer.produce_security_event("AUTHN_FAILURE", "LOW", "gw", details={"k": "v"})
    assert producer.flush(5).ok and first.result(1).ok and second.result(1).ok
    assert (
        inspect.signature(EventProducer.produce_security_event).parameters["details"].default
        is None
    )
