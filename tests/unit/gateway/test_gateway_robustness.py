"""Bounded property tests: no input makes the loader, the router or the Admin API raise
anything but their documented errors."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.config.loader import load_config_data, load_config_text

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(
    [
        "name",
        "host",
        "url",
        "paths",
        "routes",
        "service",
        "plugins",
        "targets",
        "target",
        "weight",
        "hosts",
        "headers",
        "methods",
        "id",
        "config",
        "username",
        "protocols",
        "algorithm",
        "healthchecks",
        "tags",
        "x",
    ]
)
entities = st.dictionaries(field_names, json_values, max_size=6)
configs = st.fixed_dictionaries(
    {"_format_version": st.sampled_from(["3.0", "2.1", 3, None])},
    optional={
        kind: st.lists(entities, max_size=3) | json_values
        for kind in ("services", "routes", "upstreams", "consumers", "plugins", "targets")
    },
)

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(configs)
def test_loader_reports_or_loads(data):
    try:
        cfg = load_config_data(json.loads(json.dumps(data)))
    except GatewayConfigError as exc:
        assert exc.problems and all(p.message for p in exc.problems)
    else:
        assert load_config_data(cfg.canonical()).hash == cfg.hash


@SETTINGS
@given(st.text(max_size=200))
def test_loader_text_never_crashes(text):
    try:
        load_config_text(text)
    except GatewayConfigError:
        pass


ROUTER = load_config_text("""\
_format_version: "3.0"
services:
  - name: s
    host: s.internal
    routes:
      - {paths: ["/a", "~/b/(?<id>\\\\d+)"], hosts: ["*.x.test", "y.*", "z.test:81"]}
      - {headers: {x-v: ["1", "~*^b"]}, methods: [GET]}
      - {paths: [/], snis: [s.test], protocols: [https]}
""").router


@SETTINGS
@given(
    st.text(max_size=8),
    st.one_of(st.none(), st.text(max_size=30)),
    st.text(max_size=60),
    st.dictionaries(st.sampled_from(["x-v", "X-V", "other"]), st.text(max_size=10), max_size=3),
    st.sampled_from(["http", "https"]),
    st.one_of(st.none(), st.text(max_size=10)),
)
def test_router_never_raises(method, host, path, headers, scheme, sni):
    m = ROUTER.match(method, host, "/" + path, headers, scheme=scheme, sni=sni)
    assert m is None or m.upstream_path.startswith("/")


PATHS = st.sampled_from(
    [
        "/",
        "/services",
        "/services/s",
        "/services/s/routes",
        "/routes",
        "/routes/r/service",
        "/upstreams/u/targets",
        "/upstreams/u/targets/all",
        "/upstreams/u/health",
        "/consumers/c/key-auth",
        "/consumers/c/acls/g",
        "/plugins/enabled",
        "/config",
        "/schemas/routes/validate",
        "/status",
        "/tags/t",
        "/%ZZ",
        "/services/%2F",
    ]
)
BODIES = st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(
        st.tuples(
            st.sampled_from(
                [
                    "name",
                    "host",
                    "paths[]",
                    "config.x",
                    "a.[1]",
                    "[]",
                    "service.name",
                    "url",
                    "target",
                ]
            ),
            st.text(max_size=8),
        ),
        max_size=4,
    ).map(lambda kv: "&".join(f"{k}={v}" for k, v in kv).encode()),
)


@SETTINGS
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"]),
            PATHS,
            st.sampled_from(
                ["application/json", "application/x-www-form-urlencoded", "", "text/yaml"]
            ),
            BODIES,
        ),
        min_size=1,
        max_size=6,
    )
)
def test_admin_api_answers_every_request(calls):
    api = AdminAPI()
    api.handle(
        "POST",
        "/services",
        {},
        {"content-type": "application/json"},
        b'{"name": "s", "host": "s.internal"}',
    )
    for method, path, ctype, body in calls:
        status, headers, out = api.handle(method, path, {}, {"content-type": ctype}, body)
        assert status in (200, 201, 204, 304, 400, 404, 405, 409, 415, 503), (
            method,
            path,
            status,
            out,
        )
        if out:
            assert dict(headers)[b"content-type"].startswith(b"application/json")
            json.loads(out)
