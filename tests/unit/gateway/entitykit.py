"""Helpers of the entity schema tests: validate one entity, its problems keyed by field path."""

from __future__ import annotations

from carbonplane.gateway.config.entities import validate_entity


def problems_of(kind, data):
    _, problems = validate_entity(kind, data)
    return {".".join(str(p) for p in path): message for path, message in problems}


def valid(kind, data):
    entity, problems = validate_entity(kind, data)
    assert problems == [], problems
    return entity
