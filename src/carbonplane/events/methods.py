"""The report's ``produce_*_event`` methods, generated once at import from the catalog and the
types.

One method per catalog topic: name ``TopicSpec.method``, parameters ``TopicSpec.parameters`` in that
order; the rest comes from the event type's fields. A parameter is the field of the same name
(``FIELD_OF_PARAMETER``: the original library's other names), required when the field is, else
defaulting to the field's default (``None`` for an optional field or a mutable ``{}``/``[]``);
``METHOD_DEFAULTS``: the original library's defaults for some required fields. ``**extra`` carries
envelope fields and ``on_delivery`` (``EnvelopeArguments``); any other name is refused by ``_emit``.

Each method is compiled from source (as ``dataclasses`` writes ``__init__``): a plain function that
builds the event and hands it to ``EventProducer._emit``, no wrapper. Required parameters default
to a sentinel checked with ``is``, so a missing argument raises ``EventValidationError`` naming the
wire field (counted as rejected), not ``TypeError``; too many positional arguments, or one given
twice, stay a TypeError (a bug in the calling code, not a value). ``None`` means "absent": ``_emit``
then builds the event with that field at its default, so a ``None`` required field is "missing".

What tools see: ``__signature__``/``__annotations__`` hold the public signature (types from the
fields), for ``inspect.signature``, ``help()`` and runtime completion (IPython/Jedi). Static
checkers (mypy, pyright, IDEs) never run this code; they read the checked-in ``methods.pyi``, which
``tests/unit/test_event_api.py`` renders from these signatures and compares (it rewrites the file
when run with ``CARBONPLANE_WRITE_STUB=1``), so the two cannot drift.

Invariants: one method per catalog topic; every field of its type is a parameter (under its own or
its original name); parameter names, order and defaults are the report's API.
"""

from __future__ import annotations

import functools
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from typing import Any, TypedDict, Union

import msgspec

from carbonplane.errors import EventValidationError
from carbonplane.events import codec
from carbonplane.events import types as T
from carbonplane.events.catalog import TOPICS, TopicSpec
from carbonplane.events.delivery import DeliveryFuture, UserCallback

# Parameters named otherwise than their field: the original library's names.
FIELD_OF_PARAMETER = {"request_size": "request_size_bytes", "response_size": "response_size_bytes"}
# The original library's defaults for fields the type requires.
METHOD_DEFAULTS: dict[tuple[str, str], Any] = {
    ("DataTransformationEvent", "status"): "SUCCESS",
    ("DeploymentEvent", "replicas"): 1,
    ("AuditAPICallEvent", "ip_address"): "unknown",
}


class EnvelopeArguments(TypedDict, total=False):
    """What ``**extra`` of a ``produce_*_event`` method may hold; any other name is refused."""

    event_id: str
    timestamp: int
    source: str
    version: str
    correlation_id: str
    causation_id: str
    on_delivery: UserCallback | None


class CatalogMethods:
    """The twelve ``produce_*_event`` methods (added below, from the catalog); ``EventProducer`` has
    them by inheritance and provides ``_emit`` and ``_reject``."""

    __slots__ = ()


_REQUIRED = object()  # the runtime default of a required parameter: not given


def _missing(
    producer: Any, cls: type[T.Event], names: tuple[str, ...], values: tuple[Any, ...]
) -> None:
    """Raise (and count) the EventValidationError for the first required argument not given."""
    name = next(n for n, v in zip(names, values) if v is _REQUIRED)
    field = _fields(cls)[FIELD_OF_PARAMETER.get(name, name)][0]
    err = EventValidationError(cls.__name__, field, "missing required field")
    producer._reject(cls.TOPIC, cls.__name__, err)
    raise err


def _columns(columns: Any) -> Any:
    """Lineage columns given as mappings (camelCase or snake_case keys) become ColumnLineage;
    anything else is left for validation to refuse. Errors name ``columns[i]``."""
    if not isinstance(columns, (list, tuple)):
        return columns
    return [_column(c, i) if isinstance(c, Mapping) else c for i, c in enumerate(columns)]


def _column(c: Mapping[str, Any], index: int) -> T.ColumnLineage:
    fields = {
        (
            "source_column"
            if k in ("sourceColumn", "source_column")
            else "target_column"
            if k in ("targetColumn", "target_column")
            else k
        ): v
        for k, v in c.items()
    }
    try:
        return codec.build_event(T.ColumnLineage, **fields)  # type: ignore[arg-type]
    except EventValidationError as exc:
        raise EventValidationError(
            "DataLineageEvent", f"columns[{index}].{exc.field}", exc.problem
        ) from None


# Parameters whose argument is converted before the event is built: (converter, annotation).
CONVERTED: dict[tuple[str, str], tuple[Callable[[Any], Any], Any]] = {
    ("DataLineageEvent", "columns"): (_columns, list[Union[T.ColumnLineage, Mapping[str, Any]]]),
}


def _plain(tp: Any) -> Any:
    """A field's type as a caller sees it: ``Annotated`` constraints and ``UNSET`` dropped."""
    if typing.get_origin(tp) is typing.Annotated:
        return _plain(typing.get_args(tp)[0])
    if typing.get_origin(tp) in (Union, types.UnionType):
        args = [_plain(a) for a in typing.get_args(tp) if a is not msgspec.UnsetType]
        return args[0] if len(args) == 1 else Union[tuple(args)]
    return tp


def _fields(cls: type[msgspec.Struct]) -> dict[str, tuple[str, Any, Any]]:
    """``{field: (wire name, default, type as callers see it)}``; the default is NODEFAULT
    (required), UNSET (optional), a value or a msgspec factory ({} or []). Unlike
    ``msgspec.structs.fields``, which evaluates every annotation string anew, each distinct string
    is evaluated once."""
    strings = {
        k: v
        for klass in reversed(cls.__mro__)
        for k, v in vars(klass).get("__annotations__", {}).items()
    }
    names = cls.__struct_fields__
    defaults = (msgspec.NODEFAULT,) * (
        len(names) - len(cls.__struct_defaults__)
    ) + cls.__struct_defaults__
    return {
        n: (wire, d, _resolve(strings[n]))
        for n, wire, d in zip(names, cls.__struct_encode_fields__, defaults)
    }


@functools.cache
def _resolve(annotation: str) -> Any:
    return _plain(eval(annotation, vars(T)))  # noqa: S307 (the types module's own annotations)


def _generate(spec: TopicSpec) -> Callable[..., DeliveryFuture]:
    """Compile ``spec.method`` for the event type of ``spec``."""
    cls = T.EVENT_TYPES_BY_NAME[spec.event_type]
    info = _fields(cls)
    env: dict[str, Any] = {
        "_cls": cls,
        "_REQUIRED": _REQUIRED,
        "_missing": _missing,
        "_UNSET": msgspec.UNSET,
        "_EventValidationError": EventValidationError,
        "_topic": cls.TOPIC,
        "_name": cls.__name__,
    }
    heads, fields, required, params = (
        [],
        [],
        [],
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)],
    )
    for name in spec.parameters:
        field = FIELD_OF_PARAMETER.get(name, name)
        if field not in info:
            raise TypeError(
                f"catalog: {spec.method} parameter {name!r} is not a field of {cls.__name__}"
            )
        _, field_default, annotation = info[field]
        value = name
        converter = CONVERTED.get((cls.__name__, name))
        if converter is not None:
            env[f"_convert_{name}"], annotation = converter
            value = f"_convert_{name}({name})"
        if (cls.__name__, name) in METHOD_DEFAULTS:
            default = METHOD_DEFAULTS[(cls.__name__, name)]
        elif field_default is msgspec.NODEFAULT:
            default = inspect.Parameter.empty
            required.append(name)
        elif field_default is msgspec.UNSET:  # optional: None means absent
            default, value = None, f"_UNSET if {name} is None else {value}"
        elif hasattr(
            field_default, "factory"
        ):  # a mutable default ({} or []), made fresh per event
            default, value = None, f"{field_default.factory()!r} if {name} is None else {value}"
        else:
            default = field_default
        annotation = Union[annotation, None] if default is None else annotation
        env[f"_default_{name}"] = default
        heads.append(
            f"{name}=_REQUIRED" if default is inspect.Parameter.empty else f"{name}=_default_{name}"
        )
        fields.append(f"{field}={value}")
        params.append(
            inspect.Parameter(
                name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=default,
                annotation=annotation,
            )
        )
    missing = sorted(
        set(info)
        - {FIELD_OF_PARAMETER.get(n, n) for n in spec.parameters}
        - set(T.Event.__struct_fields__)
    )
    if missing:
        raise TypeError(
            f"catalog: {spec.method} has no parameter for {cls.__name__} field(s) "
            f"{', '.join(missing)}"
        )
    check = (
        (
            f"    if {' or '.join(f'{n} is _REQUIRED' for n in required)}:\n"
            f"        _missing(self, _cls, {tuple(required)!r}, ({', '.join(required)},))\n"
        )
        if required
        else ""
    )
    source = (
        f"def {spec.method}(self, {', '.join(heads)}, **extra):\n{check}"
        f"    try:\n"
        f"        event = _cls({', '.join(fields)})\n"
        f"    except _EventValidationError as exc:\n"
        f"        self._reject(_topic, _name, exc)\n"
        f"        raise\n"
        f"    return self._emit(event, extra)\n"
    )
    exec(compile(source, f"<generated {__name__}.{spec.method}>", "exec"), env)  # noqa: S102
    method = env[spec.method]
    params.append(
        inspect.Parameter(
            "extra", inspect.Parameter.VAR_KEYWORD, annotation=typing.Unpack[EnvelopeArguments]
        )
    )  # type: ignore[misc]
    method.__signature__ = inspect.Signature(params, return_annotation=DeliveryFuture)
    method.__annotations__ = {p.name: p.annotation for p in params[1:]} | {"return": DeliveryFuture}
    method.__module__, method.__qualname__ = __name__, f"{CatalogMethods.__name__}.{spec.method}"
    method.__doc__ = (
        f"Validate and queue one {cls.__name__} on {spec.name} (record key: {spec.key_field}); "
        f"returns its DeliveryFuture.\n\n{cls.__doc__}\n\n``**extra``: envelope fields (event_id, "
        "timestamp, source, correlation_id, causation_id) and on_delivery. Raises "
        "EventValidationError "
        "naming the field; nothing is sent."
    )
    return method


for _spec in TOPICS:
    setattr(CatalogMethods, _spec.method, _generate(_spec))
del _spec
