"""The SPIFFE id parser against valid ids, adversarial inputs and random text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from carbonplane.mesh.identity import SpiffeIdError, parse, parse_workload, workload_id
from carbonplane.mesh.identity.spiffe import SpiffeId, WorkloadId


@pytest.mark.parametrize(
    "text,td,path",
    [
        ("spiffe://cluster.local/ns/default/sa/orders", "cluster.local", "/ns/default/sa/orders"),
        ("spiffe://example.org", "example.org", ""),
        ("spiffe://a_b-c.9/X.y_-z/..a/a..", "a_b-c.9", "/X.y_-z/..a/a.."),
    ],
)
def test_valid_ids_parse_and_round_trip(text, td, path):
    sid = parse(text)
    assert sid == SpiffeId(td, path) and str(sid) == text


@pytest.mark.parametrize(
    "text,problem",
    [
        ("", "does not start with 'spiffe://'"),
        ("http://cluster.local/ns/a", "does not start with 'spiffe://'"),
        ("spiffe:/cluster.local/a", "does not start with 'spiffe://'"),
        ("SPIFFE://cluster.local/a", "scheme must be lowercase"),
        ("Spiffe://cluster.local/a", "scheme must be lowercase"),
        (" spiffe://cluster.local/a", "does not start"),
        ("spiffe://", "trust domain is empty"),
        ("spiffe:///ns/a", "trust domain is empty"),
        ("spiffe://Cluster.local/a", "uppercase letter 'C'"),
        ("spiffe://cluster.local:8080/a", "port"),
        ("spiffe://user@cluster.local/a", "userinfo"),
        ("spiffe://user:pw@cluster.local/a", "port"),
        ("spiffe://clu%41ster/a", "percent-encoded"),
        ("spiffe://clüster.local/a", "contains 'ü'"),
        ("spiffe://[::1]/a", "contains '['"),
        ("spiffe://cluster.local/", "path segment 1 is empty"),
        ("spiffe://cluster.local/ns//sa", "path segment 2 is empty"),
        ("spiffe://cluster.local/ns/a/", "path segment 3 is empty"),
        ("spiffe://cluster.local/./a", "is '.'"),
        ("spiffe://cluster.local/a/..", "is '..'"),
        ("spiffe://cluster.local/a?x=1", "query"),
        ("spiffe://cluster.local/a#frag", "fragment"),
        ("spiffe://cluster.local?x", "query"),
        ("spiffe://cluster.local/a b", "contains ' '"),
        ("spiffe://cluster.local/a%2Fb", "contains '%'"),
        ("spiffe://cluster.local/ä", "contains 'ä'"),
        ("spiffe://cluster.local/a\x00", "contains '\\x00'"),
        ("spiffe://cluster.local/a\n", "contains '\\n'"),
        ("spiffe://cluster.local\\a", "contains '\\\\'"),
        ("spiffe://" + "a" * 256 + "/x", "longer than 255 bytes"),
        ("spiffe://td/" + "a" * 2037, "longer than 2048 bytes"),
    ],
)
def test_invalid_ids_are_refused_naming_the_rule(text, problem):
    with pytest.raises(SpiffeIdError) as err:
        parse(text)
    assert problem in err.value.problem, err.value.problem
    assert err.value.value == text


def test_the_length_limits_are_inclusive():
    assert parse("spiffe://" + "a" * 255).trust_domain == "a" * 255
    longest = "spiffe://td/" + "a" * (2048 - len("spiffe://td/"))
    assert len(longest) == 2048 and parse(longest).path.startswith("/a")


@pytest.mark.parametrize("value", [None, 42, b"spiffe://td/a", ["spiffe://td/a"]])
def test_non_strings_are_refused(value):
    with pytest.raises(SpiffeIdError, match="str"):
        parse(value)


def test_the_error_message_is_bounded_for_huge_inputs():
    with pytest.raises(SpiffeIdError) as err:
        parse("x" * 100_000)
    assert len(str(err.value)) < 300


@pytest.mark.parametrize(
    "text,problem",
    [
        ("spiffe://cluster.local/ns/a/sa", "/ns/<namespace>/sa/<service>"),
        ("spiffe://cluster.local/ns/a/sa/b/c", "/ns/<namespace>/sa/<service>"),
        ("spiffe://cluster.local/sa/a/ns/b", "/ns/<namespace>/sa/<service>"),
        ("spiffe://cluster.local", "(none)"),
    ],
)
def test_workload_ids_need_the_ns_sa_path(text, problem):
    with pytest.raises(SpiffeIdError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_workload(text)


def test_workload_ids_from_another_trust_domain_are_refused_when_asked():
    wid = parse_workload("spiffe://other.example/ns/a/sa/b")
    assert wid == WorkloadId("other.example", "a", "b")
    assert wid.principal == "other.example/ns/a/sa/b"
    with pytest.raises(SpiffeIdError, match="not this mesh's 'cluster.local'"):
        parse_workload("spiffe://other.example/ns/a/sa/b", trust_domain="cluster.local")


@pytest.mark.parametrize(
    "ns,sa,problem",
    [
        ("default", "a/b", "one path segment"),
        ("a/b", "x", "one path segment"),
        ("", "x", "is empty"),
        ("default", "", "is empty"),
        ("default", "..", "'..'"),
        ("default", "a b", "contains ' '"),
        ("default", None, "must be a str"),
    ],
)
def test_workload_id_builder_refuses_bad_parts(ns, sa, problem):
    with pytest.raises(SpiffeIdError, match=problem):
        workload_id("cluster.local", ns, sa)


def test_workload_id_builder_refuses_bad_trust_domains():
    for td, problem in (("", "empty"), ("Cluster", "uppercase"), ("td:1", "port"), (None, "str")):
        with pytest.raises(SpiffeIdError, match=problem):
            workload_id(td, "ns", "sa")


_SEG = st.text(alphabet="abcXYZ019.-_", min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..")
)
_TD = st.text(alphabet="abcz09.-_", min_size=1, max_size=30)


@settings(max_examples=300, deadline=None)
@given(_TD, st.lists(_SEG, max_size=6))
def test_generated_valid_ids_round_trip(td, segments):
    text = "spiffe://" + td + "".join("/" + s for s in segments)
    sid = parse(text)
    assert str(sid) == text and sid.segments == tuple(segments)
    assert parse(str(sid)) == sid


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80))
def test_arbitrary_text_either_parses_or_raises_spiffe_id_error(text):
    for candidate in (text, "spiffe://" + text, "spiffe://td/" + text):
        try:
            sid = parse(candidate)
        except SpiffeIdError:
            continue
        assert str(sid) == candidate  # anything accepted is already canonical


@pytest.mark.parametrize(
    "text", ["spiffe://td/\ud800", "spiffe://t\udfffd/a", "spiffe://td/a\ufeff"]
)
def test_lone_surrogates_and_invisible_characters_are_refused_cleanly(text):
    with pytest.raises(SpiffeIdError, match="contains"):
        parse(text)
