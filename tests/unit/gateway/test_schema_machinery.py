"""The schema machinery behind the entities: plugin schemas in the registry, generated fields,
frozen entities, and Kong's error shapes."""

from __future__ import annotations

import re

import pytest
from entitykit import problems_of, valid

from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.entities import (
    ENTITY_TYPES,
    fill_auto,
    register_plugin_schema,
    unregister_plugin_schema,
)
from carbonplane.gateway.config.problems import nest_problems, violation_message
from carbonplane.gateway.config.schema import freeze, record, thaw, validate

# -- plugins and the registry hook ---------------------------------------------------------


@pytest.fixture
def demo_plugin():
    schema = record(
        ("minute", t.integer("Requests per minute.", between=(1, 10**9))),
        ("policy", t.string("Counter store.", default="local", one_of=("local", "redis"))),
    )
    register_plugin_schema("demo-limit", schema, no_consumer=True)
    yield
    unregister_plugin_schema("demo-limit")


def test_plugin_config_is_validated_by_the_registered_schema(demo_plugin):
    plugin = valid("plugins", {"name": "demo-limit", "config": {"minute": 5}})
    assert plugin["config"] == {"minute": 5, "policy": "local"}
    assert plugin["enabled"] is True and plugin["protocols"] == ["grpc", "grpcs", "http", "https"]
    assert problems_of("plugins", {"name": "demo-limit", "config": {"minute": 0, "burst": 1}}) == {
        "config.minute": "value should be between 1 and 1000000000",
        "config.burst": "unknown field",
    }


def test_plugin_scope_restrictions(demo_plugin):
    assert problems_of(
        "plugins",
        {"name": "demo-limit", "consumer": {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}},
    ) == {"consumer": "value must be null (the demo-limit plugin cannot be scoped to a consumer)"}


def test_register_plugin_schema_rejects_non_records():
    from carbonplane.errors import GatewayError

    with pytest.raises(GatewayError):
        register_plugin_schema("bad", {"minute": 1})


# -- auto fields, freezing, error shapes -----------------------------------------------------


def test_fill_auto_adds_ids_timestamps_and_generated_keys():
    svc = fill_auto("services", valid("services", {"host": "h"}), 1_700_000_000.7)
    assert re.fullmatch(r"[0-9a-f-]{36}", svc["id"])
    assert svc["created_at"] == svc["updated_at"] == 1_700_000_000
    tgt = fill_auto("targets", {"target": "h:1"}, 1_700_000_000.12345)
    assert tgt["created_at"] == 1_700_000_000.123
    cred = fill_auto("jwt_secrets", {"id": "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"}, 1.0)
    assert cred["id"] == "4a2f0c63-3b5e-4f4e-9a43-6b7f4b2b9f10"
    assert re.fullmatch(r"[0-9a-f]{32}", cred["key"]) and re.fullmatch(
        r"[0-9a-f]{32}", cred["secret"]
    )
    assert cred["key"] != cred["secret"]


def test_frozen_entities_are_read_only_and_thaw_back():
    frozen = freeze({"a": [1, {"b": 2}]})
    with pytest.raises(TypeError):
        frozen["a"] = 1
    assert isinstance(frozen["a"], tuple)
    assert thaw(frozen) == {"a": [1, {"b": 2}]}


def test_kong_error_shapes():
    _, problems = validate(ENTITY_TYPES["routes"].schema, {"paths": ["/ok", "bad"], "hots": 1})
    assert nest_problems(problems) == {
        "hots": "unknown field",
        "paths": [None, "should start with: / (fixed path) or ~/ (regex path)"],
    }
    assert violation_message(problems) == (
        "2 schema violations (hots: unknown field; paths[1]: should start with: / (fixed path) or "
        "~/ (regex path))"
    )
    _, one = validate(ENTITY_TYPES["services"].schema, {})
    assert violation_message(one) == "schema violation (host: required field missing)"
    _, entity_level = validate(ENTITY_TYPES["consumers"].schema, {})
    assert nest_problems(entity_level) == {
        "@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"]
    }
