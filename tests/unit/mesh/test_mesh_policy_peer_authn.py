"""PeerAuthentication: modes, scope (mesh, namespace, workload), port-level modes, UNSET
inheritance, "oldest wins" as load order, and refused shapes with their lines."""

from __future__ import annotations

import pytest
from policytools import bundle, issues


def pa(name: str, ns: str, spec: str) -> str:
    return (
        f"apiVersion: security.istio.io/v1beta1\nkind: PeerAuthentication\nmetadata:\n"
        f"  name: {name}\n  namespace: {ns}\nspec:\n"
        + "".join(f"  {line}\n" for line in spec.strip("\n").splitlines())
    )


MESH_STRICT = pa("default", "istio-system", "mtls: {mode: STRICT}")
FOO_PERMISSIVE = pa("default", "foo", "mtls: {mode: PERMISSIVE}")
DB = pa(
    "db",
    "foo",
    """\
selector: {matchLabels: {app: db}}
mtls: {mode: UNSET}
portLevelMtls:
  5432: {mode: DISABLE}
  8080: {mode: UNSET}
  9090: {mode: STRICT}
""",
)


@pytest.mark.parametrize(
    "ns, labels, port, expected",
    [
        ("bar", {}, 80, ("STRICT", "istio-system/default")),  # mesh-wide
        ("foo", {}, 80, ("PERMISSIVE", "foo/default")),  # namespace beats mesh
        ("foo", {"app": "db"}, 5432, ("DISABLE", "foo/db")),  # port level beats all
        ("foo", {"app": "db"}, 9090, ("STRICT", "foo/db")),
        ("foo", {"app": "db"}, 8080, ("PERMISSIVE", "foo/default")),  # UNSET port -> UNSET wl -> ns
        ("foo", {"app": "db"}, 1234, ("PERMISSIVE", "foo/default")),
        ("foo", {"app": "web"}, 5432, ("PERMISSIVE", "foo/default")),  # selector does not match
    ],
)
def test_precedence(ns, labels, port, expected):
    b = bundle(MESH_STRICT, FOO_PERMISSIVE, DB)
    d = b.peer_authentication.resolve(ns, labels, port)
    assert (d.mode, d.policy) == expected
    assert b.mtls_mode(ns, labels, port) == expected[0]


def test_nothing_configured_is_permissive():
    b = bundle(pa("x", "foo", "selector: {matchLabels: {app: x}}\nmtls: {mode: STRICT}"))
    assert b.peer_authentication.resolve("bar", {}, 80).mode == "PERMISSIVE"
    assert b.peer_authentication.resolve("bar", {}, 80).policy is None


def test_unset_namespace_inherits_mesh_and_missing_mtls_is_unset():
    b = bundle(
        MESH_STRICT, pa("default", "foo", "{}"), pa("w", "foo", "selector: {matchLabels: {app: w}}")
    )
    assert b.mtls_mode("foo", {}, 80) == "STRICT"
    assert b.mtls_mode("foo", {"app": "w"}, 80) == "STRICT"


def test_oldest_is_first_loaded_among_equals():
    a = pa("zz-first", "foo", "mtls: {mode: STRICT}")
    b_ = pa("aa-second", "foo", "mtls: {mode: DISABLE}")
    assert bundle(a, b_).peer_authentication.resolve("foo", {}, 80).policy == "foo/zz-first"
    assert bundle(b_, a).peer_authentication.resolve("foo", {}, 80).policy == "foo/aa-second"
    w1 = pa("w1", "foo", "selector: {matchLabels: {app: w}}\nmtls: {mode: STRICT}")
    w2 = pa("w2", "foo", "selector: {matchLabels: {app: w, v: '1'}}\nmtls: {mode: DISABLE}")
    assert bundle(w2, w1).mtls_mode("foo", {"app": "w", "v": "1"}, 80) == "DISABLE"
    assert bundle(w1, w2).mtls_mode("foo", {"app": "w", "v": "1"}, 80) == "STRICT"


@pytest.mark.parametrize(
    "spec, ns, line, path, words",
    [
        (
            "portLevelMtls: {8080: {mode: STRICT}}",
            "foo",
            7,
            "spec.portLevelMtls",
            "requires a selector",
        ),
        (
            "selector: {matchLabels: {app: x}}\nmtls: {mode: STRICT}",
            "istio-system",
            7,
            "spec.selector",
            "root namespace",
        ),
        ("mtls: {mode: strict}", "foo", 7, "spec.mtls.mode", "not one of"),
        ("mtls: {mode: STRICT, level: 2}", "foo", 7, "spec.mtls.level", "unknown field"),
        (
            "selector: {matchLabels: {app: x}}\nportLevelMtls:\n  0: {mode: STRICT}",
            "foo",
            9,
            "spec.portLevelMtls.0",
            "1 to 65535",
        ),
        (
            "selector: {matchLabels: {app: x}}\nportLevelMtls:\n  http: {mode: STRICT}",
            "foo",
            9,
            "spec.portLevelMtls.http",
            "1 to 65535",
        ),
        (
            "selector: {matchLabels: {app: x}}\nportLevelMtls:\n  80: {mod: STRICT}",
            "foo",
            9,
            "spec.portLevelMtls.80.mod",
            "did you mean 'mode'",
        ),
        ("mtls: {mode: STRICT}\nmutualTls: {}", "foo", 8, "spec.mutualTls", "unknown field"),
    ],
)
def test_refused_with_line(spec, ns, line, path, words):
    found = issues(pa("p", ns, spec))
    assert any(n == line and p == path and words in m for n, p, m in found), found
