"""Path normalisation (RFC 3986 §6.2.2 / §5.2.4) and the encoded-slash policy."""

from __future__ import annotations

import pytest
from rawhttp import read_requests

from carbonplane.errors import HttpError
from carbonplane.http import normalize_path, split_target

CASES = [
    (b"/", b"/"),
    (b"/a/b/c", b"/a/b/c"),
    (b"/a/./b", b"/a/b"),
    (b"/a/../b", b"/b"),
    (b"/a/b/..", b"/a/"),
    (b"/a/b/.", b"/a/b/"),
    (b"/..", b"/"),
    (b"/../../etc/passwd", b"/etc/passwd"),
    (b"/a//b///c", b"/a/b/c"),
    (b"//admin", b"/admin"),
    (b"/a/%2e%2e/admin", b"/admin"),
    (b"/a/%2E./admin", b"/admin"),
    (b"/a/.%2e/admin", b"/admin"),
    (b"/%61%62%63", b"/abc"),
    (b"/%7e%2d%5f%2E", b"/~-_."),
    (b"/a%20b", b"/a%20b"),
    (b"/a%3ab", b"/a%3Ab"),
    (b"/caf%c3%a9", b"/caf%C3%A9"),
    (b"/a/b/", b"/a/b/"),
    (b"/api/trino/../admin", b"/api/admin"),
    (b"/a/..//b", b"/b"),
    (b"/a//../b", b"/a/b"),
    (b"/a;x=1/b", b"/a;x=1/b"),
    (b"/.hidden/x", b"/.hidden/x"),
    (b"/a/...", b"/a/..."),
]


@pytest.mark.parametrize("raw,expected", CASES)
def test_normalisation(raw, expected):
    assert normalize_path(raw) == expected


@pytest.mark.parametrize("raw,expected", CASES)
def test_normalisation_is_idempotent(raw, expected):
    assert normalize_path(normalize_path(raw)) == normalize_path(raw)


@pytest.mark.parametrize("raw", [b"/a%2fb", b"/a%2Fb", b"/a%5cb", b"/a%5Cb", b"/x/..%2fadmin"])
def test_encoded_slash_rejected_by_default(raw):
    with pytest.raises(HttpError) as info:
        normalize_path(raw)
    assert info.value.status == 400


def test_encoded_slash_kept_encoded_when_configured():
    assert normalize_path(b"/a%2fb/../c", "keep") == b"/c"
    assert normalize_path(b"/x/..%2fadmin", "keep") == b"/x/..%2Fadmin"


@pytest.mark.parametrize("raw", [b"/a%00b", b"/a%zz", b"/a%4", b"/a%", b"/..;/admin", b"/a/.;x/b"])
def test_invalid_paths(raw):
    with pytest.raises(HttpError) as info:
        normalize_path(raw, "keep")
    assert info.value.status == 400


def test_raw_backslash_rejected():
    with pytest.raises(HttpError):
        split_target(b"GET", b"/a\\..\\admin")


def test_query_is_untouched_and_path_normalised_in_heads():
    head = read_requests(b"GET /a/../b/%7euser?x=%2F..&y=1 HTTP/1.1\r\nHost: a\r\n\r\n")[0]
    assert head.path == b"/b/~user" and head.query == b"?x=%2F..&y=1"
    assert head.target == b"/a/../b/%7euser?x=%2F..&y=1"
