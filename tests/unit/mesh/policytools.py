"""Helpers for the mesh policy tests: load YAML texts, collect issues as (line, path, message)."""

from __future__ import annotations

import textwrap

import pytest

from carbonplane.mesh.policy import PolicyBundle, PolicyError, load_texts
from carbonplane.mesh.policy.fields import dotted


def bundle(*texts: str, root: str = "istio-system") -> PolicyBundle:
    """Load dedented texts as files a.yaml, b.yaml, ... in that order."""
    return load_texts(
        [(f"{chr(97 + i)}.yaml", textwrap.dedent(t)) for i, t in enumerate(texts)],
        root_namespace=root,
    )


def issues(*texts: str, root: str = "istio-system") -> list[tuple[int | None, str, str]]:
    """The issues loading ``texts`` reports, as (line, dotted path, message); fails if none."""
    with pytest.raises(PolicyError) as info:
        bundle(*texts, root=root)
    return [(i.line, dotted(i.path), i.message) for i in info.value.issues]


def authz(spec: str, *, name: str = "p", namespace: str = "foo") -> str:
    """An AuthorizationPolicy document whose spec is ``spec`` (YAML, indented by 2 in the doc).
    Line 7 of the text is the first line of the spec."""
    body = textwrap.indent(textwrap.dedent(spec).strip("\n"), "  ")
    return (
        f"apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata:\n"
        f"  name: {name}\n  namespace: {namespace}\nspec:\n{body}\n"
    )
