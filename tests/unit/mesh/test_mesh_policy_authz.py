"""AuthorizationPolicy: each supported field parsed, each unknown/unsupported one reported with
its line, and Istio's evaluation order and empty-rules semantics as a table."""

from __future__ import annotations

import pytest
from policytools import authz, bundle, issues

from carbonplane.mesh.policy import RBAC_DENIED_BODY, Decision, Request

ALICE = "cluster.local/ns/foo/sa/alice"
BOB = "cluster.local/ns/bar/sa/bob"


def decide(
    *specs: tuple[str, str], request: Request, ns: str = "foo", labels: dict[str, str] | None = None
) -> Decision:
    """specs: (name, spec yaml) policies in namespace foo, loaded in order."""
    b = bundle(*(authz(spec, name=name) for name, spec in specs))
    return b.decide(ns, labels or {"app": "web"}, request)


ALLOW_ALICE = "action: ALLOW\nrules:\n- from: [{source: {principals: ['%s']}}]" % ALICE
DENY_BOB = "action: DENY\nrules:\n- from: [{source: {principals: ['%s']}}]" % BOB
DENY_ADMIN = "action: DENY\nrules:\n- to: [{operation: {paths: ['/admin*']}}]"
AUDIT_ALL = "action: AUDIT\nrules: [{}]"

# (case, policies, request, expected (allowed, policy, rule, audit))
ORDER = [
    ("no policy: allow", [], Request(principal=BOB), (True, None, None, None)),
    ("ALLOW matches", [("a", ALLOW_ALICE)], Request(principal=ALICE), (True, "foo/a", 0, None)),
    (
        "ALLOW applies, no match: deny",
        [("a", ALLOW_ALICE)],
        Request(principal=BOB),
        (False, None, None, None),
    ),
    (
        "plaintext has no principal: deny",
        [("a", ALLOW_ALICE)],
        Request(),
        (False, None, None, None),
    ),
    (
        "DENY before ALLOW",
        [("a", "action: ALLOW\nrules: [{}]"), ("d", DENY_BOB)],
        Request(principal=BOB),
        (False, "foo/d", 0, None),
    ),
    (
        "DENY not matching, no ALLOW: allow",
        [("d", DENY_BOB)],
        Request(principal=ALICE),
        (True, None, None, None),
    ),
    (
        "DENY no match then ALLOW",
        [("d", DENY_ADMIN), ("a", ALLOW_ALICE)],
        Request(principal=ALICE, path="/api"),
        (True, "foo/a", 0, None),
    ),
    (
        "DENY wins over matching ALLOW",
        [("a", ALLOW_ALICE), ("d", DENY_ADMIN)],
        Request(principal=ALICE, path="/admin/users"),
        (False, "foo/d", 0, None),
    ),
    ("AUDIT does not decide (allow)", [("au", AUDIT_ALL)], Request(), (True, None, None, "foo/au")),
    (
        "AUDIT does not decide (deny)",
        [("au", AUDIT_ALL), ("a", ALLOW_ALICE)],
        Request(principal=BOB),
        (False, None, None, "foo/au"),
    ),
    (
        "AUDIT alone is not an ALLOW policy",
        [("au", "action: AUDIT\nrules:\n- to: [{operation: {methods: [POST]}}]")],
        Request(method="GET"),
        (True, None, None, None),
    ),
    # empty-rules semantics
    (
        "ALLOW without rules denies all",
        [("a", "action: ALLOW")],
        Request(principal=ALICE),
        (False, None, None, None),
    ),
    (
        "spec {} is ALLOW without rules",
        [("a", "{}")],
        Request(principal=ALICE),
        (False, None, None, None),
    ),
    (
        "ALLOW rules: [] denies all",
        [("a", "rules: []")],
        Request(principal=ALICE),
        (False, None, None, None),
    ),
    ("ALLOW rules: [{}] allows all", [("a", "rules: [{}]")], Request(), (True, "foo/a", 0, None)),
    (
        "allow-nothing beside a matching ALLOW",
        [("n", "{}"), ("a", ALLOW_ALICE)],
        Request(principal=ALICE),
        (True, "foo/a", 0, None),
    ),
    (
        "DENY without rules denies nothing",
        [("d", "action: DENY")],
        Request(),
        (True, None, None, None),
    ),
    (
        "DENY rules: [{}] denies all",
        [("d", "action: DENY\nrules: [{}]")],
        Request(principal=ALICE),
        (False, "foo/d", 0, None),
    ),
    (
        "AUDIT without rules audits nothing",
        [("au", "action: AUDIT")],
        Request(),
        (True, None, None, None),
    ),
    (
        "second rule matches",
        [("a", ALLOW_ALICE + "\n- to: [{operation: {methods: [GET]}}]")],
        Request(principal=BOB, method="GET"),
        (True, "foo/a", 1, None),
    ),
]


@pytest.mark.parametrize(
    "policies, request_, expected", [c[1:] for c in ORDER], ids=[c[0] for c in ORDER]
)
def test_evaluation_order_and_empty_rules(policies, request_, expected):
    d = decide(*policies, request=request_)
    assert (d.allowed, d.policy_name, d.rule_index, d.audit) == expected


def test_scope_root_namespace_namespace_and_selector():
    mesh_deny = authz(
        "action: DENY\nrules: [{to: [{operation: {paths: ['/secret']}}]}]",
        name="mesh",
        namespace="istio-system",
    )
    ns_allow = authz("rules: [{}]", name="ns", namespace="foo")
    web_only = authz(
        "selector: {matchLabels: {app: web}}\naction: DENY\n"
        "rules: [{to: [{operation: {methods: [DELETE]}}]}]",
        name="w",
        namespace="foo",
    )
    root_sel = authz("selector: {matchLabels: {tier: db}}\n", name="dbs", namespace="istio-system")
    b = bundle(mesh_deny, ns_allow, web_only, root_sel)
    assert not b.decide("other", {}, Request(path="/secret")).allowed  # root: every namespace
    assert b.decide("other", {}, Request(path="/x")).allowed  # no ALLOW applies there
    assert not b.decide("foo", {"app": "web"}, Request(method="DELETE")).allowed
    assert b.decide("foo", {"app": "api"}, Request(method="DELETE")).allowed  # selector
    # a root-namespace policy with a selector applies to matching workloads everywhere
    assert not b.decide("other", {"tier": "db"}, Request()).allowed
    assert b.authorization.for_workload("foo", {"app": "web"}).policies == (
        "istio-system/mesh",
        "foo/ns",
        "foo/w",
    )


@pytest.mark.parametrize(
    "source, request_, allowed",
    [
        ("principals: ['cluster.local/ns/foo/*']", Request(principal=ALICE), True),
        ("principals: ['*/sa/alice']", Request(principal="spiffe://" + ALICE), True),
        ("principals: ['*']", Request(principal=BOB), True),
        ("principals: ['*']", Request(), False),
        ("notPrincipals: ['*']", Request(), True),
        ("notPrincipals: ['%s']" % ALICE, Request(principal=ALICE), False),
        ("namespaces: [foo]", Request(principal=ALICE), True),
        ("namespaces: [foo]", Request(principal=BOB), False),
        ("notNamespaces: [foo]", Request(principal=BOB), True),
        ("namespaces: ['*']", Request(), False),
        ("ipBlocks: ['10.0.0.0/8']", Request(source_ip="10.1.2.3"), True),
        ("ipBlocks: ['10.0.0.0/8', '192.0.2.7']", Request(source_ip="192.0.2.7"), True),
        ("ipBlocks: ['10.0.0.0/8']", Request(source_ip="11.0.0.1"), False),
        ("notIpBlocks: ['10.0.0.0/8']", Request(source_ip="11.0.0.1"), True),
        ("ipBlocks: ['2001:db8::/32']", Request(source_ip="2001:db8::1"), True),
        ("principals: ['%s']\n  namespaces: [bar]" % ALICE, Request(principal=ALICE), False),
    ],
)
def test_source_fields(source, request_, allowed):
    spec = "rules:\n- from:\n  - source:\n      " + source.replace("\n  ", "\n      ")
    assert decide(("a", spec), request=request_).allowed is allowed


@pytest.mark.parametrize(
    "operation, request_, allowed",
    [
        ("paths: ['/api/*']", Request(path="/api/v1?x=1"), True),
        ("paths: ['/api/*']", Request(path="/apix"), False),
        ("paths: ['*.json']", Request(path="/a/b.json"), True),
        ("paths: ['/exact']", Request(path="/exact/"), False),
        ("notPaths: ['/admin*']", Request(path="/admin"), False),
        ("notPaths: ['/admin*']", Request(path="/home"), True),
        ("methods: [GET, HEAD]", Request(method="HEAD"), True),
        ("methods: [GET]", Request(method="get"), False),
        ("notMethods: [DELETE]", Request(method="GET"), True),
        ("ports: ['8080']", Request(port=8080), True),
        ("ports: [8080]", Request(port=9090), False),
        ("notPorts: ['8080']", Request(port=9090), True),
        ("hosts: ['*.example.com']", Request(host="API.Example.com:8443"), True),
        ("hosts: ['api.example.com']", Request(host="api.example.com:8443"), True),
        ("hosts: ['api.example.com']", Request(host="evil.com"), False),
        ("notHosts: ['api.example.com']", Request(host="evil.com"), True),
        ("methods: [GET]\n  paths: ['/a']", Request(method="GET", path="/b"), False),
    ],
)
def test_operation_fields(operation, request_, allowed):
    spec = "rules:\n- to:\n  - operation:\n      " + operation.replace("\n  ", "\n      ")
    assert decide(("a", spec), request=request_).allowed is allowed


@pytest.mark.parametrize(
    "condition, request_, allowed",
    [
        (
            "{key: 'request.headers[X-Tenant]', values: ['acme*']}",
            Request(headers={"x-tenant": "acme-1"}),
            True,
        ),
        ("{key: 'request.headers[x-tenant]', values: ['acme']}", Request(), False),
        ("{key: 'request.headers[x-tenant]', notValues: ['evil']}", Request(), True),
        ("{key: source.ip, values: ['10.0.0.0/8']}", Request(source_ip="10.9.9.9"), True),
        ("{key: source.ip, notValues: ['10.0.0.0/8']}", Request(source_ip="10.9.9.9"), False),
        ("{key: destination.port, values: ['8080']}", Request(port=8080), True),
        (
            "{key: destination.port, values: ['8080'], notValues: ['8080']}",
            Request(port=8080),
            False,
        ),
        ("{key: source.principal, values: ['*/sa/alice']}", Request(principal=ALICE), True),
        ("{key: source.namespace, values: ['bar']}", Request(principal=ALICE), False),
    ],
)
def test_when_conditions(condition, request_, allowed):
    assert decide(("a", f"rules:\n- when:\n  - {condition}"), request=request_).allowed is allowed


def test_rule_needs_all_of_from_to_when_and_any_item_of_each():
    spec = f"""\
        rules:
        - from: [{{source: {{principals: ['{ALICE}']}}}}, {{source: {{namespaces: [bar]}}}}]
          to: [{{operation: {{methods: [GET]}}}}, {{operation: {{paths: ['/open']}}}}]
          when: [{{key: 'request.headers[x-ok]', values: ['1']}}]
        """
    ok = {"x-ok": "1"}
    assert decide(("a", spec), request=Request(principal=BOB, path="/open", headers=ok)).allowed
    assert decide(("a", spec), request=Request(principal=ALICE, method="GET", headers=ok)).allowed
    assert not decide(("a", spec), request=Request(principal=ALICE, method="GET")).allowed
    assert not decide(
        ("a", spec), request=Request(principal=ALICE, method="POST", headers=ok)
    ).allowed


def test_unknown_and_unsupported_fields_are_reported_with_lines():
    spec = """\
        selector: {matchLabels: {app: web}}
        targetRef: {kind: Service, name: web}
        rules:
        - from:
          - source:
              requestPrincipals: ['*']
              remoteIpBlocks: ['1.2.3.4']
              serviceAccounts: [foo/alice]
              trustDomains: [cluster.local]
              principal: [x]
          to:
          - operation:
              pathz: ['/a']
              paths: ['/a/{*}/b']
          when:
          - key: request.auth.claims[iss]
            values: [x]
          - key: source.ip
          verbs: [GET]
        """
    found = issues(authz(spec))
    lines = {(line, path) for line, path, _ in found}
    assert lines == {
        (8, "spec.targetRef"),
        (12, "spec.rules[0].from[0].source.requestPrincipals"),
        (13, "spec.rules[0].from[0].source.remoteIpBlocks"),
        (14, "spec.rules[0].from[0].source.serviceAccounts"),
        (15, "spec.rules[0].from[0].source.trustDomains"),
        (16, "spec.rules[0].from[0].source.principal"),
        (19, "spec.rules[0].to[0].operation.pathz"),
        (20, "spec.rules[0].to[0].operation.paths[0]"),
        (22, "spec.rules[0].when[0].key"),
        (24, "spec.rules[0].when[1]"),
        (25, "spec.rules[0].verbs"),
    }
    messages = {path: msg for _, path, msg in found}
    assert "did you mean 'principals'" in messages["spec.rules[0].from[0].source.principal"]
    assert "did you mean 'paths'" in messages["spec.rules[0].to[0].operation.pathz"]
    assert messages["spec.rules[0].from[0].source.requestPrincipals"].startswith("unsupported")


@pytest.mark.parametrize(
    "spec, path, words",
    [
        ("action: CUSTOM\nprovider: {name: ext}", "spec.provider", "unsupported"),
        ("action: CUSTOM", "spec.action", "CUSTOM"),
        ("action: allow", "spec.action", "not one of"),
        (
            "rules: [{from: [{source: {principals: ['spiffe://cluster.local/ns/a/sa/b']}}]}]",
            "spec.rules[0].from[0].source.principals[0]",
            "without 'spiffe://'",
        ),
        (
            "rules: [{from: [{source: {principals: ['cluster.local/*/sa/b']}}]}]",
            "spec.rules[0].from[0].source.principals[0]",
            "first or last",
        ),
        ("rules: [{from: [{source: {}}]}]", "spec.rules[0].from[0].source", "empty source"),
        ("rules: [{from: [{}]}]", "spec.rules[0].from[0]", "needs a 'source'"),
        ("rules: [{to: [{operation: {}}]}]", "spec.rules[0].to[0].operation", "empty operation"),
        (
            "rules: [{to: [{operation: {ports: ['0']}}]}]",
            "spec.rules[0].to[0].operation.ports[0]",
            "port number",
        ),
        (
            "rules: [{to: [{operation: {methods: [get]}}]}]",
            "spec.rules[0].to[0].operation.methods[0]",
            "case-sensitive",
        ),
        (
            "rules: [{from: [{source: {ipBlocks: ['10.0.0.0/33']}}]}]",
            "spec.rules[0].from[0].source.ipBlocks[0]",
            "CIDR",
        ),
        (
            "rules: [{when: [{key: destination.port, values: ['http']}]}]",
            "spec.rules[0].when[0].values[0]",
            "port number",
        ),
        ("selector: {matchLabels: {}}\nrules: [{}]", "spec.selector", "no matchLabels"),
        ("selector: {matchLabels: {version: 1}}", "spec.selector.matchLabels.version", "quote"),
        ("rules: {from: []}", "spec.rules", "must be a list"),
        ("rules:\n-\n", "spec.rules[0]", "empty rule item"),
        ("selector:\nrules: [{}]", "spec.selector", "no matchLabels"),
        ("selector: {matchLabels: [app]}", "spec.selector.matchLabels", "must be a mapping"),
        (
            "rules: [{when: [{key: destination.port, values: [8080]}]}]",
            "spec.rules[0].when[0].values[0]",
            "quote it",
        ),
    ],
)
def test_invalid_values(spec, path, words):
    found = issues(authz(spec))
    assert any(p == path and words in msg for _, p, msg in found), found


def test_rbac_denied_body_is_envoys():
    assert RBAC_DENIED_BODY == b"RBAC: access denied"


def test_workload_authorizer_is_cached_and_compiled_once():
    b = bundle(authz(ALLOW_ALICE))
    first = b.authorization.for_workload("foo", {"app": "web"})
    assert b.authorization.for_workload("foo", {"app": "web"}) is first
    assert first.decide(Request(principal=ALICE)).allowed
