"""The declarative loader: Kong's format, nesting, references, uniqueness, stable ids, and errors
that name file:line, entity and field."""

from __future__ import annotations

import hashlib
import json
import textwrap

import pytest

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.config import typedefs as t
from carbonplane.gateway.config.entities import register_plugin_schema, unregister_plugin_schema
from carbonplane.gateway.config.loader import load_config_data, load_config_file, load_config_text
from carbonplane.gateway.config.schema import record


@pytest.fixture(autouse=True)
def demo_plugin():
    register_plugin_schema("demo-auth", record(("header", t.string("Header.", default="x-key"))))
    yield
    unregister_plugin_schema("demo-auth")


def problems(text: str, source: str = "kong.yml") -> list[str]:
    with pytest.raises(GatewayConfigError) as info:
        load_config_text(textwrap.dedent(text), source=source)
    return [str(p) for p in info.value.problems]


def test_nested_kong_example_loads():
    cfg = load_config_text(
        textwrap.dedent("""\
        _format_version: "3.0"
        _transform: true
        _comment: the Kong docs' example, with a consumer and an upstream
        services:
          - name: my-service
            url: https://example.com
            plugins:
              - name: demo-auth
            routes:
              - name: my-route
                paths: ["/"]
                plugins:
                  - name: demo-auth
                    config: {header: x-route-key}
        consumers:
          - username: alice
            keyauth_credentials: [{key: alice-key}]
            acls: [{group: admins}]
            jwt_secrets: [{key: alice-iss, secret: s3cr3t}]
            basicauth_credentials: [{username: alice, password: pw}]
            plugins:
              - name: demo-auth
        upstreams:
          - name: pool.internal
            targets: [{target: 10.0.0.1}, {target: "10.0.0.2:9000", weight: 50}]
        """)
    )
    svc = cfg.get("services", "my-service")
    assert (svc["protocol"], svc["host"], svc["port"]) == ("https", "example.com", 443)
    route = cfg.get("routes", "my-route")
    assert route["service"]["id"] == svc["id"]
    scopes = sorted(
        (bool(p["service"]), bool(p["route"]), bool(p["consumer"]), p["config"]["header"])
        for p in cfg.plugins
    )
    assert scopes == [
        (False, False, True, "x-key"),
        (False, True, False, "x-route-key"),
        (True, False, False, "x-key"),
    ]
    alice = cfg.get("consumers", "alice")
    assert cfg.get("keyauth_credentials", "alice-key")["consumer"]["id"] == alice["id"]
    assert [a["group"] for a in cfg.entities("acls")] == ["admins"]
    assert cfg.get("jwt_secrets", "alice-iss")["algorithm"] == "HS256"
    assert [x["target"] for x in cfg.targets_of(cfg.upstream_named("pool.internal")["id"])] == [
        "10.0.0.1:8000",
        "10.0.0.2:9000",
    ]


def test_unknown_field_names_file_line_entity_and_path():
    text = "\n".join(
        ['_format_version: "3.0"', "services:"]
        + [f"  - name: s{i}\n    host: h{i}.internal" for i in range(2)]
        + ["  - name: trino", "    host: trino.internal", "    routes:"]
        + ["      # padding to move the error down"] * 12
        + ["      - name: trino-api", "        pathz: [/api/trino]"]
    )
    assert text.splitlines()[22] == "        pathz: [/api/trino]"
    got = problems(text)
    assert got[0] == "kong.yml:23: services[2].routes[0].pathz: unknown field (route 'trino-api')"


def test_every_problem_is_reported_at_once():
    got = problems("""\
        _format_version: "3.0"
        services:
          - name: a
            host: a.internal
            retries: -1
          - name: b
            routes:
              - paths: [api]
        """)
    assert got == [
        "kong.yml:5: services[0].retries: value should be between 0 and 32767 (service 'a')",
        "kong.yml:6: services[1].host: required field missing (service 'b')",
        "kong.yml:8: services[1].routes[0].paths[0]: should start with: / (fixed path) or ~/ "
        "(regex path)",
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        ("services: []\n", 'kong.yml:1: _format_version: required field missing (use "3.0")'),
        ('_format_version: "4.0"\n', "kong.yml:1: _format_version: expected one of: 1.1, 2.1, 3.0"),
        ('_format_version: "3.0"\nservicez: []\n', "kong.yml:2: servicez: unknown field"),
        (
            '_format_version: "3.0"\n_transform: "yes"\n',
            "kong.yml:2: _transform: expected a boolean",
        ),
        (
            '_format_version: "3.0"\nservices: {name: a}\n',
            "kong.yml:2: services: expected an array",
        ),
        ('_format_version: "3.0"\nservices: [a]\n', "kong.yml:2: services[0]: expected a record"),
    ],
)
def test_top_level_problems(text, expected):
    assert problems(text) == [expected]


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            '_format_version: "3.0"\nservices:\n  - name: [unclosed\n',
            "kong.yml:4: could not parse YAML",
        ),
        (
            '_format_version: "3.0"\nservices:\n  - name: a\n    name: b\n    host: h\n',
            "kong.yml:4: could not parse YAML: duplicate key 'name' (first at line 3)",
        ),
        ("- just\n- a list\n", "kong.yml:1: config must be a mapping at the top level, not a list"),
        ("", "kong.yml:1: config is empty"),
        ('{"_format_version": "3.0", "services": [}', "kong.yml:1: could not parse JSON"),
    ],
)
def test_unparseable_text_names_the_line(text, expected):
    assert problems(text)[0].startswith(expected)


def test_json_file_loads(tmp_path):
    path = tmp_path / "kong.json"
    path.write_text(
        json.dumps(
            {
                "_format_version": "3.0",
                "services": [
                    {
                        "name": "a",
                        "url": "http://a.internal:81/x",
                        "routes": [{"name": "r", "paths": ["/a"]}],
                    }
                ],
            }
        )
    )
    cfg = load_config_file(path)
    assert cfg.router.match("GET", "h", "/a/b").upstream_path == "/x/b"


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(GatewayConfigError, match="cannot read config"):
        load_config_file(tmp_path / "absent.yml")


def test_top_level_references_by_name_id_or_object():
    cfg = load_config_text(
        textwrap.dedent("""\
        _format_version: "3.0"
        services:
          - {name: a, id: 0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11, host: a.internal}
        routes:
          - {name: by-name, service: a, paths: [/1]}
          - {name: by-id, service: 0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11, paths: [/2]}
          - {name: by-object, service: {name: a}, paths: [/3]}
          - {name: by-id-object, service: {id: 0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11}, paths: [/4]}
        plugins:
          - {name: demo-auth, route: by-name}
        """)
    )
    assert {r["service"]["id"] for r in cfg.routes} == {"0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11"}
    assert cfg.plugins[0]["route"]["id"] == cfg.get("routes", "by-name")["id"]


def test_reference_problems():
    got = problems("""\
        _format_version: "3.0"
        services:
          - name: a
            host: a.internal
            routes:
              - {name: r, paths: [/], service: a}
        routes:
          - {name: lost, service: nowhere, paths: [/x]}
          - {name: odd, service: [1], paths: [/y]}
        """)
    assert got == [
        "kong.yml:6: services[0].routes[0].service: must not be set: this route is nested under "
        "services[0] and belongs to it (route 'r')",
        "kong.yml:8: routes[0].service: 'nowhere' does not name or identify a service declared in "
        "this config (route 'lost')",
        "kong.yml:9: routes[1].service: expected the name or id of a service (route 'odd')",
    ]


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "services:\n  - {name: a, host: h}\n  - {name: a, host: h}\n",
            "kong.yml:4: services[1].name: uniqueness violation: 'services' entity with name set "
            "to 'a' already "
            "declared (service 'a')",
        ),
        (
            "consumers:\n  - {username: u}\n  - {username: u}\n",
            "kong.yml:4: consumers[1].username: uniqueness violation: 'consumers' entity with "
            "username set to 'u' "
            "already declared (consumer 'u')",
        ),
        (
            "consumers:\n  - {username: u, keyauth_credentials: [{key: k}]}\n"
            "  - {username: v, keyauth_credentials: [{key: k}]}\n",
            "kong.yml:4: consumers[1].keyauth_credentials[0].key: uniqueness violation: "
            "'keyauth_credentials' "
            "entity with key set to 'k' already declared (key-auth 'k')",
        ),
        (
            "upstreams:\n  - name: p\n    targets: [{target: 'h:1'}, {target: 'h:1'}]\n",
            "kong.yml:4: upstreams[0].targets[1]: target 'h:1' is declared more than once for "
            "upstream",
        ),
        (
            "services:\n  - {name: a, host: h, plugins: [{name: demo-auth}, {name: demo-auth}]}\n",
            "kong.yml:3: services[0].plugins[1]: plugin 'demo-auth' is configured more than once "
            "on service",
        ),
        (
            "plugins:\n  - {name: demo-auth}\n  - {name: demo-auth}\n",
            "kong.yml:4: plugins[1]: plugin 'demo-auth' is configured more than once on the global "
            "scope",
        ),
        (
            "services:\n  - {id: 0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11, host: h}\n"
            "  - {id: 0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11, host: h}\n",
            "kong.yml:4: services[1].id: uniqueness violation: 'services' entity with primary key "
            "set to "
            "'0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11' already declared",
        ),
        (
            "services:\n  - {id: not-a-uuid, host: h}\n",
            "kong.yml:3: services[0].id: expected a valid UUID",
        ),
    ],
)
def test_uniqueness_and_ids(text, expected):
    assert problems('_format_version: "3.0"\n' + text)[0].startswith(expected)


def test_ids_and_hash_are_stable_across_reloads():
    text = (
        '_format_version: "3.0"\nservices:\n  - {name: a, host: h, routes: '
        "[{paths: [/a]}, {paths: [/b]}]}\n"
    )
    first = load_config_text(text, now=1_700_000_000)
    second = load_config_text(text, now=1_800_000_000)
    assert [r["id"] for r in first.routes] == [r["id"] for r in second.routes]
    assert first.services[0]["id"] == second.services[0]["id"]
    assert first.hash == second.hash
    assert first.services[0]["created_at"] != second.services[0]["created_at"]
    changed = load_config_text(text.replace("/b", "/c"))
    assert changed.hash != first.hash


def test_canonical_form_round_trips():
    cfg = load_config_text(
        textwrap.dedent("""\
        _format_version: "3.0"
        services:
          - name: a
            url: http://a.internal/base
            tags: [t1]
            routes:
              - {name: r, paths: ["~/v(?<n>\\\\d+)", /x], headers: {x-a: [b]}, methods: [GET]}
        consumers:
          - username: alice
            basicauth_credentials: [{username: alice, password: secret}]
        upstreams:
          - name: pool.internal
            healthchecks: {active: {healthy: {interval: 5, successes: 2}}}
            targets: [{target: 10.0.0.1}]
        plugins:
          - {name: demo-auth, service: a, config: {header: x-k}}
        """),
        now=1_700_000_000,
    )
    canonical = cfg.canonical()
    again = load_config_data(json.loads(json.dumps(canonical)), now=1_900_000_000)
    assert again.canonical() == canonical
    assert again.hash == cfg.hash


def test_transform_hashes_basic_auth_passwords_once():
    text = (
        '_format_version: "3.0"\n_transform: {t}\nconsumers:\n'
        "  - {{username: alice, id: 0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11, "
        "basicauth_credentials: [{{username: alice, password: pw}}]}}\n"
    )
    hashed = load_config_text(text.format(t="true")).entities("basicauth_credentials")[0][
        "password"
    ]
    assert hashed == hashlib.sha1(b"pw0b0d8a4c-6c56-4c0c-9a43-2a1c3f0b7e11").hexdigest()
    plain = load_config_text(text.format(t="false")).entities("basicauth_credentials")[0][
        "password"
    ]
    assert plain == "pw"


def test_format_2_1_regex_paths_are_migrated():
    cfg = load_config_text(
        textwrap.dedent("""\
        _format_version: "2.1"
        services:
          - name: a
            host: h
            routes: [{name: r, paths: ["/users/\\\\d+$", /plain]}]
        """)
    )
    assert list(cfg.get("routes", "r")["paths"]) == ["~/users/\\d+$", "/plain"]


def test_error_report_lists_everything_and_is_a_config_error():
    with pytest.raises(GatewayConfigError) as info:
        load_config_data({"_format_version": "3.0", "services": [{"name": "a"}]}, source="api")
    assert info.value.source == "api"
    assert "invalid gateway configuration in api" in str(info.value)
    assert "services[0].host: required field missing" in str(info.value)


def test_loading_does_not_modify_the_callers_data():
    data = {
        "_format_version": "2.1",
        "services": [{"name": "a", "host": "h", "routes": [{"paths": ["/users/\\d+$"]}]}],
    }
    snapshot = json.dumps(data)
    load_config_data(data)
    assert json.dumps(data) == snapshot


def test_comment_and_ignore_are_accepted_on_every_entity_and_dropped():
    """Kong's declarative schema adds ``_comment`` (string) and ``_ignore`` (array of anything) to
    every entity, nested or not, and to the top level; widely copied kong.yml files use them."""
    plain = textwrap.dedent("""\
        _format_version: "3.0"
        services:
          - name: a
            host: a.internal
            routes:
              - name: r
                paths: [/a]
                plugins: [{name: demo-auth}]
        consumers:
          - username: alice
            keyauth_credentials: [{key: k1}]
        upstreams:
          - name: pool.internal
            targets: [{target: 10.0.0.1}]
        """)
    annotated = textwrap.dedent("""\
        _format_version: "3.0"
        _comment: the whole file
        _ignore: [{anything: [1, 2]}, plain]
        services:
          - name: a
            host: a.internal
            _comment: the service
            _ignore: [{note: kept out of the config}]
            routes:
              - name: r
                paths: [/a]
                _comment: the route
                plugins: [{name: demo-auth, _comment: a plugin, _ignore: [x]}]
        consumers:
          - username: alice
            _ignore: [{old_key: k0}]
            keyauth_credentials: [{key: k1, _comment: the credential}]
        upstreams:
          - name: pool.internal
            _comment: the upstream
            targets: [{target: 10.0.0.1, _ignore: []}]
        """)
    first = load_config_text(plain, now=1_700_000_000)
    second = load_config_text(annotated, now=1_700_000_000)
    assert second.canonical() == first.canonical()
    assert second.hash == first.hash
    assert "_comment" not in json.dumps(second.canonical())


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("_comment: [not, text]\n", "kong.yml:2: _comment: expected a string"),
        ("_ignore: not a list\n", "kong.yml:2: _ignore: expected an array"),
        (
            "services:\n  - {name: a, host: h, _comment: 5}\n",
            "kong.yml:3: services[0]._comment: expected a string (service 'a')",
        ),
        (
            "services:\n  - name: a\n    host: h\n    routes: [{name: r, paths: [/a], _ignore: {k: "
            "v}}]\n",
            "kong.yml:5: services[0].routes[0]._ignore: expected an array (route 'r')",
        ),
    ],
)
def test_comment_and_ignore_of_the_wrong_type_are_refused(text, expected):
    assert expected in problems('_format_version: "3.0"\n' + text)
