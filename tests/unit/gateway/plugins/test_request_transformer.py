"""The request-transformer plugin on hand-built request contexts: Kong's operation order for
headers, query and bodies, Host, method and path, templates (and their refusals), header
injection through templates, and which configs touch bodies at all."""

from __future__ import annotations

import json

import pytest
from reqkit import request, upstream_headers
from tests.kits.plugins import handler, problems

from carbonplane.gateway.plugins.request_transformer import handler as rt_handler
from carbonplane.gateway.plugins.request_transformer.templates import Template


def rt(**config):
    return handler("request-transformer", config)


def run(config: dict, ctx=None, **kw):
    ctx = ctx or request(**kw)
    assert rt(**config).on_request(ctx) is None
    return ctx


# -- headers -----------------------------------------------------------------------------------


def test_header_operations_in_kong_order():
    ctx = run(
        {
            "remove": {"headers": ["X-Drop", "X-Renamed-Away:ignored"]},
            "rename": {"headers": ["X-Old:X-New", "X-Missing:X-Never"]},
            "replace": {"headers": ["X-Keep:replaced", "X-Absent:never"]},
            "add": {"headers": ["X-Keep:not-added", "X-Platform:254carbon"]},
            "append": {"headers": ["X-Keep:appended", "X-Multi:one"]},
        },
        headers=[
            ("X-Drop", "1"),
            ("X-Renamed-Away", "2"),
            ("X-Old", "v"),
            ("X-New", "lost"),
            ("X-Keep", "a"),
            ("X-Keep", "b"),
        ],
    )
    up = upstream_headers(ctx)
    assert "x-drop" not in up and "x-renamed-away" not in up and "x-old" not in up
    assert up["x-new"] == ["v"]
    assert up["x-keep"] == ["replaced", "appended"]
    assert "x-absent" not in up and "x-never" not in up
    assert up["x-platform"] == ["254carbon"] and up["x-multi"] == ["one"]


def test_host_can_only_be_replaced():
    ctx = run(
        {
            "replace": {"headers": ["Host:internal.svc"]},
            "add": {"headers": ["host:nope"]},
            "remove": {"headers": ["host"]},
        }
    )
    assert ctx.upstream_host == b"internal.svc"
    assert upstream_headers(ctx)["host"] == ["gw.test"]  # the client's, never sent upstream


def test_origin_platform_headers():
    ctx = run({"add": {"headers": ["X-Platform:254carbon", "X-Environment:production"]}})
    up = upstream_headers(ctx)
    assert up["x-platform"] == ["254carbon"] and up["x-environment"] == ["production"]


# -- query, method, uri --------------------------------------------------------------------------


def test_query_operations_are_sorted_like_kongs_set_query():
    ctx = run(
        {
            "remove": {"querystring": ["secret"]},
            "rename": {"querystring": ["old:new"]},
            "replace": {"querystring": ["page:1"]},
            "add": {"querystring": ["z:last", "a:x y"]},
            "append": {"querystring": ["tag:c"]},
        },
        target="/s?tag=a&secret=1&old=o&page=9&tag=b&flag",
    )
    assert ctx.upstream_target == b"/s?a=x%20y&flag&new=o&page=1&tag=a&tag=b&tag=c&z=last"


def test_query_untouched_when_nothing_applies():
    ctx = run({"remove": {"querystring": ["absent"]}}, target="/s?b=2&a=%2F")
    assert ctx.upstream_target == b"/s?b=2&a=%2F"


def test_query_starts_from_what_goes_upstream():
    ctx = request(target="/s?apikey=k&a=1")
    ctx.upstream_target = b"/s?a=1"  # an auth plugin hid the key already
    run({"add": {"querystring": ["b:2"]}}, ctx)
    assert ctx.upstream_target == b"/s?a=1&b=2"


def test_method_and_uri():
    ctx = run(
        {"http_method": "POST", "replace": {"uri": "/v2/items/$(uri_captures.id)"}},
        target="/items/7?x=1",
    )
    ctx2 = request(target="/items/7?x=1")
    ctx2.vars["uri_captures"] = {0: "/items/7", 1: "7", "id": "7"}
    run(
        {
            "http_method": "POST",
            "replace": {"uri": "/v2/items/$(uri_captures.id)/$(uri_captures[1])"},
        },
        ctx2,
    )
    assert ctx.request.method == b"POST"
    assert ctx.upstream_target == b"/v2/items/?x=1"
    assert ctx2.upstream_target == b"/v2/items/7/7?x=1"


def test_uri_from_a_template_is_percent_encoded():
    ctx = run({"replace": {"uri": "/u/$(query_params.name)"}}, target="/x?name=a%20b%0D%0Ac")
    assert ctx.upstream_target == b"/u/a%20b%0D%0Ac?name=a%20b%0D%0Ac"


# -- templates -----------------------------------------------------------------------------------


def test_template_sources_and_forms():
    ctx = request(target="/p?region=eu&blank=", headers={"X-User-Id": "u1", "X-Team": "data"})
    ctx.vars["uri_captures"] = {1: "first", "name": "named"}
    ctx.vars["tenant"] = "t9"
    run(
        {
            "add": {
                "headers": [
                    "A:$(headers.x_user_id)",
                    'B:$(headers["X-Team"])',
                    "C:$(query_params.region)",
                    "D:$(query_params['region'])-$(uri_captures[1])-$(uri_captures.name)",
                    "E:$(shared.tenant)",
                    "F:$('$(not a template)')",
                    "G:$(headers.absent)",
                    "H:prefix-$(query_params.blank)",
                ]
            }
        },
        ctx,
    )
    up = upstream_headers(ctx)
    assert up["a"] == ["u1"] and up["b"] == ["data"] and up["c"] == ["eu"]
    assert up["d"] == ["eu-first-named"] and up["e"] == ["t9"]
    assert up["f"] == ["$(not a template)"]
    assert "g" not in up  # renders empty: the operation does nothing
    assert up["h"] == ["prefix-"]


def test_template_cannot_inject_header_lines():
    ctx = run(
        {"add": {"headers": ["X-Echo:$(query_params.v)"]}}, target="/p?v=a%0D%0AX-Injected:%201"
    )
    up = upstream_headers(ctx)
    assert "x-echo" not in up and "x-injected" not in up


@pytest.mark.parametrize(
    "entry,problem",
    [
        ("X-A:$(os.execute('id'))", "unsupported template expression"),
        ("X-A:$(headers.a .. 'b')", "unsupported template expression"),
        ("X-A:$(headers.a", "unterminated template"),
        ("X-A:$(type(1))", "unsupported template expression"),
    ],
)
def test_lua_templates_are_refused_at_validation(entry, problem):
    found = problems("request-transformer", {"add": {"headers": [entry]}})
    assert len(found) == 1 and problem in found[0], found


def test_schema_checks():
    assert problems("request-transformer", {"add": {"headers": ["no-colon"]}}) == [
        "config.add.headers.0: invalid value: no-colon"
    ]
    assert problems("request-transformer", {"remove": {"headers": ["bad header"]}}) == [
        "config.remove.headers.0: 'bad header' is not a valid header"
    ]
    assert problems("request-transformer", {"rename": {"headers": ["a:b c"]}}) == [
        "config.rename.headers.0: 'b c' is not a valid header"
    ]
    assert (
        "control character"
        in problems("request-transformer", {"add": {"headers": ["X-A:1\r\nX-B: 2"]}})[0]
    )
    assert problems("request-transformer", {"http_method": "post"}) == [
        "config.http_method: invalid value: post"
    ]
    assert problems("request-transformer", {"replace": {"json": []}}) == [
        "config.replace.json: unknown field"
    ]


def test_static_templates_render_without_a_request():
    assert Template("plain:value").render(None) == "plain:value"


# -- bodies --------------------------------------------------------------------------------------


def body_run(config: dict, content_type: str, chunks: list[bytes]) -> bytes:
    size = sum(len(c) for c in chunks)
    ctx = request("POST", headers={"Content-Type": content_type}, body_framing=f"length:{size}")
    h = rt(**config)
    assert h.on_request(ctx) is None
    out = [h.on_request_body(ctx, c, i == len(chunks) - 1) for i, c in enumerate(chunks)]
    return b"".join(out)


BODY_OPS = {
    "remove": {"body": ["password"]},
    "rename": {"body": ["user:username"]},
    "replace": {"body": ["role:viewer", "absent:x"]},
    "add": {"body": ["source:gateway"]},
    "append": {"body": ["tags:new", "fresh:one"]},
}


def test_json_body_operations():
    doc = {"user": "al", "password": "p", "role": "admin", "tags": ["a"], "n": 1}
    raw = json.dumps(doc).encode()
    out = json.loads(body_run(BODY_OPS, "application/json; charset=utf-8", [raw[:10], raw[10:]]))
    assert out == {
        "username": "al",
        "role": "viewer",
        "tags": ["a", "new"],
        "n": 1,
        "source": "gateway",
        "fresh": ["one"],
    }
    out = json.loads(body_run({"append": {"body": ["n:2"]}}, "application/json", [raw]))
    assert out["n"] == [1, "2"]


def test_form_body_operations():
    out = body_run(
        BODY_OPS,
        "application/x-www-form-urlencoded",
        [b"user=al&password=p&role=admin&tags=a&x=%26"],
    )
    assert out == b"fresh=one&role=viewer&source=gateway&tags=a&tags=new&username=al&x=%26"


@pytest.mark.parametrize(
    "content_type,raw",
    [
        ("text/plain", b'{"password":"p"}'),
        ("application/json", b"{not json"),
        ("application/json", b"[1,2]"),
    ],
)
def test_other_bodies_pass_unchanged(content_type, raw):
    assert body_run(BODY_OPS, content_type, [raw]) == raw


def test_huge_bodies_pass_through_untransformed(monkeypatch):
    monkeypatch.setattr(rt_handler, "MAX_BUFFERED", 16)
    raw = json.dumps({"password": "x" * 40}).encode()
    assert body_run(BODY_OPS, "application/json", [raw[:8], raw[8:30], raw[30:]]) == raw


def test_only_body_configs_get_a_body_hook():
    assert not hasattr(rt(add={"headers": ["A:1"]}), "on_request_body")
    assert hasattr(rt(add={"body": ["a:1"]}), "on_request_body")
    assert rt().on_request(request()) is None  # an empty config is a no-op
