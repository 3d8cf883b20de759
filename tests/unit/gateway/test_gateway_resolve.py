"""Kong's plugin precedence (gateway/runtime/resolve.py): the eight scope levels and consumer
timing."""

from __future__ import annotations

import itertools

import pytest

from carbonplane.gateway.runtime.resolve import LEVELS, PluginIndex, resolve, scope_of

R, S, C = "route-1", "service-1", "consumer-1"
R2, S2, C2 = "route-2", "service-2", "consumer-2"


def plugin(name: str, route=None, service=None, consumer=None, enabled=True, tag=None) -> dict:
    return {
        "id": tag or f"{name}:{route}:{service}:{consumer}",
        "name": name,
        "route": {"id": route} if route else None,
        "service": {"id": service} if service else None,
        "consumer": {"id": consumer} if consumer else None,
        "enabled": enabled,
    }


ALL_LEVELS = [
    plugin("p", R, S, C, tag="1 route+service+consumer"),
    plugin("p", R, None, C, tag="2 route+consumer"),
    plugin("p", None, S, C, tag="3 service+consumer"),
    plugin("p", R, S, None, tag="4 route+service"),
    plugin("p", None, None, C, tag="5 consumer"),
    plugin("p", R, None, None, tag="6 route"),
    plugin("p", None, S, None, tag="7 service"),
    plugin("p", tag="8 global"),
]


def test_levels_table_is_kongs_order():
    assert len(LEVELS) == 8
    assert LEVELS[0] == (True, True, True) and LEVELS[-1] == (False, False, False)


@pytest.mark.parametrize("drop", range(8))
def test_most_specific_instance_wins_at_every_level(drop):
    """Remove the levels above ``drop`` one by one: the next level down must win."""
    available = ALL_LEVELS[drop:]
    got = resolve(available, R, S, C)["p"]
    assert got["id"] == ALL_LEVELS[drop]["id"]


def test_every_pair_of_levels_orders_by_specificity():
    for a, b in itertools.combinations(range(8), 2):
        got = resolve([ALL_LEVELS[b], ALL_LEVELS[a]], R, S, C)["p"]
        assert got["id"] == ALL_LEVELS[a]["id"], (ALL_LEVELS[a]["id"], ALL_LEVELS[b]["id"])


def test_instances_for_other_scopes_do_not_fit():
    plugins = [
        plugin("p", R2),
        plugin("p", None, S2),
        plugin("p", None, None, C2),
        plugin("p", R, S2),
        plugin("q", R, None, C2),
    ]
    assert resolve(plugins, R, S, C) == {}
    assert resolve(plugins, R, S, None) == {}


def test_no_consumer_known_skips_consumer_levels():
    got = resolve(ALL_LEVELS, R, S, None)["p"]
    assert got["id"] == "4 route+service"


def test_route_and_service_levels_beat_a_consumer_only_instance():
    """Level 4 (route+service) ranks above level 5 (consumer): Kong's order, not intuition."""
    got = resolve(
        [plugin("p", None, None, C, tag="consumer"), plugin("p", R, S, tag="rs")], R, S, C
    )
    assert got["p"]["id"] == "rs"


def test_disabled_instances_never_run_and_do_not_shadow():
    plugins = [plugin("p", R, tag="route", enabled=False), plugin("p", tag="global")]
    assert resolve(plugins, R, S, None)["p"]["id"] == "global"


def test_plugins_of_different_names_resolve_independently():
    plugins = [
        plugin("cors", None, S),
        plugin("jwt", R),
        plugin("prometheus"),
        plugin("rate-limiting", None, None, C),
    ]
    got = resolve(plugins, R, S, None)
    assert sorted(got) == ["cors", "jwt", "prometheus"]
    assert sorted(resolve(plugins, R, S, C)) == ["cors", "jwt", "prometheus", "rate-limiting"]


def test_route_plugins_precompute_base_and_consumer_variants():
    plugins = [
        plugin("rate-limiting", None, S, tag="service"),
        plugin("rate-limiting", None, None, C, tag="consumer-1"),
        plugin("rate-limiting", R, None, C2, tag="route+consumer-2"),
        plugin("rate-limiting", R2, None, C, tag="other route"),
        plugin("acl", None, None, C, tag="acl-consumer-1"),
    ]
    rp = PluginIndex(plugins).for_route(R, S)
    assert rp.base["rate-limiting"]["id"] == "service"
    assert "acl" not in rp.base
    # consumer-1 only has a consumer-level instance: level 7 (service) is less specific than 5
    assert rp.resolve("rate-limiting", C)["id"] == "consumer-1"
    assert rp.resolve("rate-limiting", C2)["id"] == "route+consumer-2"
    assert rp.resolve("rate-limiting", "someone-else")["id"] == "service"
    assert rp.resolve("rate-limiting", None)["id"] == "service"
    assert rp.resolve("acl", C)["id"] == "acl-consumer-1"
    assert rp.resolve("acl", C2) is None
    assert rp.names() == {"rate-limiting", "acl"}


def test_route_plugins_agree_with_resolve_for_every_combination():
    """The precomputed table gives exactly what the direct rule gives, for random-ish configs."""
    routes, services, consumers = [R, R2, None], [S, S2, None], [C, C2, None]
    plugins = []
    for i, (r, s, c) in enumerate(itertools.product(routes, services, consumers)):
        if i % 3 != 1:  # leave holes so that lower levels matter
            plugins.append(plugin("p", r, s, c, tag=f"p{i}"))
        if i % 4 == 0:
            plugins.append(plugin("q", r, s, c, tag=f"q{i}"))
    index = PluginIndex(plugins)
    for route, service in itertools.product([R, R2], [S, S2]):
        rp = index.for_route(route, service)
        for consumer in (C, C2, None, "nobody"):
            want = resolve(plugins, route, service, consumer)
            got = {n: rp.resolve(n, consumer) for n in rp.names()}
            got = {n: p for n, p in got.items() if p is not None}
            assert {n: p["id"] for n, p in got.items()} == {n: p["id"] for n, p in want.items()}


def test_scope_accepts_references_as_mappings_or_ids():
    assert scope_of({"route": {"id": R}, "service": S, "consumer": None}) == (R, S, None)


def test_global_plugins_are_the_unscoped_ones():
    plugins = [plugin("prometheus"), plugin("cors", R), plugin("file-log", enabled=False)]
    assert list(PluginIndex(plugins).global_plugins()) == ["prometheus"]
