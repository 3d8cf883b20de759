"""Join tokens on a real data directory: single use, bound to one identity, stored hashed,
persisted across restarts, safe against concurrent redeemers (threads and separate stores)."""

from __future__ import annotations

import datetime as dt
import os
import stat
import threading

import pytest
from meshidkit import Clock

from carbonplane.mesh.identity import (
    CAStateError,
    CertificateAuthority,
    CSRRejectedError,
    JoinTokens,
    TokenRejectedError,
    build_csr,
    generate_key,
    spiffe_id_of,
    workload_id,
)


@pytest.fixture
def store(tmp_path):
    return JoinTokens(tmp_path, CertificateAuthority(tmp_path))


def test_a_token_yields_a_certificate_for_its_service_once(store):
    token = store.issue_token("orders", "shop")
    key = generate_key()
    issued = store.redeem(token, build_csr(key))
    assert str(spiffe_id_of(issued.certificate)) == "spiffe://cluster.local/ns/shop/sa/orders"
    assert issued.certificate.public_key().public_numbers() == key.public_key().public_numbers()
    with pytest.raises(TokenRejectedError) as err:
        store.redeem(token, build_csr(generate_key()))
    assert err.value.reason == "redeemed"
    assert token.split(".")[2] not in str(err.value)


def test_a_token_for_a_cannot_obtain_bs_identity(store):
    token = store.issue_token("orders")
    other = workload_id("cluster.local", "default", "payments")
    with pytest.raises(CSRRejectedError, match="payments.*may only obtain.*orders"):
        store.redeem(token, build_csr(generate_key(), other))
    # nothing was issued, so the token still works for its own identity (and only once)
    mine = workload_id("cluster.local", "default", "orders")
    assert store.redeem(token, build_csr(generate_key(), mine)).identity == mine
    with pytest.raises(TokenRejectedError):
        store.redeem(token, build_csr(generate_key(), mine))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # wrong secret
        lambda t: "cpjt.000000000000." + t.split(".")[2],  # wrong id
    ],
)
def test_a_forged_token_is_unknown(store, mangle):
    token = store.issue_token("orders")
    with pytest.raises(TokenRejectedError) as err:
        store.redeem(mangle(token), build_csr(generate_key()))
    assert err.value.reason == "unknown"
    assert store.redeem(token, build_csr(generate_key())).identity.service == "orders"


@pytest.mark.parametrize(
    "bad",
    ["", "cpjt", "cpjt.abc.def", "x" * 5000, None, b"cpjt.", "cpjt.0123456789ab." + "a" * 42 + "!"],
)
def test_a_malformed_token_is_refused_without_echoing_it(store, bad):
    with pytest.raises(TokenRejectedError) as err:
        store.redeem(bad, build_csr(generate_key()))
    assert err.value.reason == "malformed"
    assert "x" * 50 not in str(err.value)


def test_an_expired_token_is_refused(tmp_path):
    clock = Clock()
    store = JoinTokens(
        tmp_path, CertificateAuthority(tmp_path, clock=clock), token_ttl=dt.timedelta(minutes=10)
    )
    token = store.issue_token("orders")
    clock.advance(minutes=10)
    with pytest.raises(TokenRejectedError) as err:
        store.redeem(token, build_csr(generate_key()))
    assert err.value.reason == "expired"


def test_tokens_are_stored_hashed_in_a_private_file(tmp_path, store):
    path = tmp_path / "out" / "orders.token"
    path.parent.mkdir()
    token = store.issue_token("orders", write_to=path)
    assert path.read_text() == token + "\n"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    stored = tmp_path / "tokens" / "tokens.json"
    assert stat.S_IMODE(os.stat(stored).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "tokens").st_mode) == 0o700
    text = stored.read_text()
    assert token.split(".")[2] not in text and token not in text
    [info] = store.tokens()
    assert info.id == token.split(".")[1] and info.redeemed is None


def test_a_restarted_control_plane_honours_unredeemed_and_remembers_redeemed(tmp_path):
    ca = CertificateAuthority(tmp_path)
    first = JoinTokens(tmp_path, ca)
    used, pending = first.issue_token("orders"), first.issue_token("billing")
    first.redeem(used, build_csr(generate_key()))
    fingerprint = ca.active.fingerprint
    del first, ca

    ca = CertificateAuthority(tmp_path)
    again = JoinTokens(tmp_path, ca)
    assert ca.active.fingerprint == fingerprint
    with pytest.raises(TokenRejectedError) as err:
        again.redeem(used, build_csr(generate_key()))
    assert err.value.reason == "redeemed"
    assert again.redeem(pending, build_csr(generate_key())).identity.service == "billing"


def test_concurrent_redeemers_get_exactly_one_certificate(tmp_path):
    ca = CertificateAuthority(tmp_path)
    # two stores over one directory stand for two processes: only the file lock is shared
    stores = [JoinTokens(tmp_path, ca), JoinTokens(tmp_path, CertificateAuthority(tmp_path))]
    token = stores[0].issue_token("orders")
    csrs = [build_csr(generate_key()) for _ in range(8)]
    wins, refusals = [], []
    barrier = threading.Barrier(len(csrs))

    def attempt(i):
        barrier.wait()
        try:
            wins.append(stores[i % 2].redeem(token, csrs[i]))
        except TokenRejectedError as exc:
            refusals.append(exc.reason)

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(csrs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(wins) == 1 and refusals == ["redeemed"] * 7


def test_a_token_store_readable_by_others_is_refused(tmp_path, store):
    store.issue_token("orders")
    os.chmod(tmp_path / "tokens" / "tokens.json", 0o644)
    with pytest.raises(CAStateError, match="chmod 600"):
        JoinTokens(tmp_path, store.ca)


def test_bad_service_names_are_refused_when_issuing(store):
    from carbonplane.mesh.identity import SpiffeIdError

    for service in ("", "a/b", "..", "a b", "ä"):
        with pytest.raises(SpiffeIdError):
            store.issue_token(service)
    assert store.tokens() == []
