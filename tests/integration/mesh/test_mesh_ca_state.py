"""The CA's data directory on a real filesystem: permissions, restart, supplied roots and
intermediates, rotation state, and a process killed in the middle of a rotation."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from meshidkit import Clock, creds_for, exchange, start_echo

from carbonplane.mesh.identity import (
    CAStateError,
    CertificateAuthority,
    MeshTLS,
    SuppliedRoot,
    client_context,
)
from carbonplane.mesh.identity.certificates import build_root, cert_pem, generate_key, key_pem


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_first_start_generates_a_root_with_a_private_key_file(tmp_path):
    ca = CertificateAuthority(tmp_path)
    d = tmp_path / "ca"
    assert mode(d) == 0o700
    key = d / f"root-{ca.active.id}.key"
    assert mode(key) == 0o600 and mode(d / "state.json") == 0o600
    assert mode(d / f"root-{ca.active.id}.crt") == 0o644
    assert not [p for p in d.iterdir() if p.name.startswith(".tmp-")]
    root = ca.active.cert
    assert root.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    life = root.not_valid_after_utc - root.not_valid_before_utc
    assert dt.timedelta(days=3649) < life < dt.timedelta(days=3651)


def test_restart_keeps_the_root(tmp_path):
    first = CertificateAuthority(tmp_path).active.fingerprint
    again = CertificateAuthority(tmp_path)
    assert again.active.fingerprint == first and len(again.roots) == 1


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o700])
def test_start_is_refused_when_the_key_file_is_readable_by_others(tmp_path, loose):
    ca = CertificateAuthority(tmp_path)
    key = tmp_path / "ca" / f"root-{ca.active.id}.key"
    os.chmod(key, loose)
    with pytest.raises(CAStateError, match=r"chmod 600") as err:
        CertificateAuthority(tmp_path)
    assert str(key) in str(err.value)
    os.chmod(key, 0o400)  # stricter than 0600 is fine
    assert CertificateAuthority(tmp_path).active.id == ca.active.id


def test_start_is_refused_when_the_key_does_not_match_the_certificate(tmp_path):
    ca = CertificateAuthority(tmp_path)
    key = tmp_path / "ca" / f"root-{ca.active.id}.key"
    key.write_bytes(key_pem(generate_key()))
    with pytest.raises(CAStateError, match="do not match"):
        CertificateAuthority(tmp_path)


def test_start_is_refused_when_the_certificate_was_replaced_or_the_state_is_corrupt(tmp_path):
    ca = CertificateAuthority(tmp_path)
    d = tmp_path / "ca"
    state = (d / "state.json").read_bytes()
    (d / "state.json").write_bytes(b"{not json")
    with pytest.raises(CAStateError, match="unreadable"):
        CertificateAuthority(tmp_path)
    (d / "state.json").write_bytes(state)
    with pytest.raises(CAStateError, match="trust domain 'cluster.local', not 'other.example'"):
        CertificateAuthority(tmp_path, trust_domain="other.example")
    key, cert = build_root("cluster.local", dt.datetime.now(dt.timezone.utc), dt.timedelta(days=1))
    (d / f"root-{ca.active.id}.crt").write_bytes(cert_pem(cert))
    (d / f"root-{ca.active.id}.key").write_bytes(key_pem(key))
    with pytest.raises(CAStateError, match="fingerprint"):
        CertificateAuthority(tmp_path)


def _write_pair(tmp_path, name, key, cert, key_mode=0o600):
    cpath, kpath = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cpath.write_bytes(cert_pem(cert))
    kpath.write_bytes(key_pem(key))
    os.chmod(kpath, key_mode)
    return cpath, kpath


def test_supplied_root_is_imported_and_signs(tmp_path):
    key, cert = build_root("cluster.local", dt.datetime.now(dt.timezone.utc), dt.timedelta(days=30))
    cpath, kpath = _write_pair(tmp_path, "org", key, cert)
    ca = CertificateAuthority(tmp_path / "data", supplied=SuppliedRoot(cpath, kpath))
    assert ca.trust_bundle() == (cert,)
    leaf = creds_for(ca, "orders").certificate
    leaf.verify_directly_issued_by(cert)
    # the data directory alone is enough after import
    os.remove(kpath)
    assert CertificateAuthority(tmp_path / "data").active.cert == cert
    # but another supplied root does not silently replace it
    k2, c2 = build_root("cluster.local", dt.datetime.now(dt.timezone.utc), dt.timedelta(days=30))
    c2p, k2p = _write_pair(tmp_path, "org2", k2, c2)
    with pytest.raises(CAStateError, match="rotate"):
        CertificateAuthority(tmp_path / "data", supplied=SuppliedRoot(c2p, k2p))


def test_supplied_root_with_loose_key_or_mismatch_or_non_ca_is_refused(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    key, cert = build_root("cluster.local", now, dt.timedelta(days=30))
    cpath, kpath = _write_pair(tmp_path, "org", key, cert, key_mode=0o644)
    with pytest.raises(CAStateError, match="chmod 600"):
        CertificateAuthority(tmp_path / "d1", supplied=SuppliedRoot(cpath, kpath))
    os.chmod(kpath, 0o600)
    other = tmp_path / "other.key"
    other.write_bytes(key_pem(generate_key()))
    os.chmod(other, 0o600)
    with pytest.raises(CAStateError, match="do not match"):
        CertificateAuthority(tmp_path / "d2", supplied=SuppliedRoot(cpath, other))
    leafish = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.subject)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    lpath, lkey = _write_pair(tmp_path, "leafish", key, leafish)
    with pytest.raises(CAStateError, match="not a CA certificate"):
        CertificateAuthority(tmp_path / "d3", supplied=SuppliedRoot(lpath, lkey))


def _intermediate(org_key, org_cert, now):
    key = generate_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mesh intermediate")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(org_cert.subject)
        .public_key(key.public_key())
        .serial_number(11)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=10))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(org_key, hashes.SHA256())
    )
    return key, cert


def test_supplied_intermediate_chains_to_the_organisations_root_over_real_tls(tmp_path):
    now = dt.datetime.now(dt.timezone.utc)
    org_key = generate_key()  # the organisation's root allows one intermediate (pathlen 1)
    org_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "example org root")])
    org_cert = (
        x509.CertificateBuilder()
        .subject_name(org_name)
        .issuer_name(org_name)
        .public_key(org_key.public_key())
        .serial_number(5)
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(org_key.public_key()), critical=False
        )
        .sign(org_key, hashes.SHA256())
    )
    ikey, icert = _intermediate(org_key, org_cert, now)
    cpath, kpath = _write_pair(tmp_path, "inter", ikey, icert)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(cert_pem(org_cert))
    with pytest.raises(CAStateError, match="self-signed root"):
        CertificateAuthority(tmp_path / "bad", supplied=SuppliedRoot(cpath, kpath))
    ca = CertificateAuthority(tmp_path / "data", supplied=SuppliedRoot(cpath, kpath, chain))
    assert ca.trust_bundle() == (org_cert,)
    ca = CertificateAuthority(tmp_path / "data")  # restart reads the stored chain
    a, b = creds_for(ca, "orders"), creds_for(ca, "billing")
    assert a.chain_pem.count(b"BEGIN CERTIFICATE") == 2  # leaf + intermediate

    async def go():
        server = await start_echo(MeshTLS(a))
        try:
            return await exchange(server.port, client_context(b))
        finally:
            await server.close()

    server_id, answer, _ = asyncio.run(go())
    assert server_id.service == "orders" and answer.startswith(b"spiffe://cluster.local/")


def test_rotation_state_survives_restart_and_prune_drops_the_old_root(tmp_path):
    clock = Clock()
    ca = CertificateAuthority(tmp_path, clock=clock)
    old = ca.active
    new = ca.rotate(overlap=dt.timedelta(hours=1))
    again = CertificateAuthority(tmp_path, clock=clock)
    assert again.active.id == new.id
    assert {c.serial_number for c in again.trust_bundle()} == {
        old.cert.serial_number,
        new.cert.serial_number,
    }
    [kept_old] = [r for r in again.roots if r.id == old.id]
    assert kept_old.trusted_until == clock.now + dt.timedelta(hours=1)
    clock.advance(minutes=61)
    assert again.trust_bundle() == (new.cert,)
    assert again.prune() == [old.id]
    assert not list((tmp_path / "ca").glob(f"root-{old.id}.*"))
    assert [r.id for r in CertificateAuthority(tmp_path, clock=clock).roots] == [new.id]


def test_a_process_killed_mid_rotation_leaves_the_previous_consistent_state(tmp_path):
    ca = CertificateAuthority(tmp_path)
    before = ca.active.id
    # a real process rotates and is SIGKILLed after writing the new root's files, just before
    # state.json would be replaced
    code = textwrap.dedent(f"""
        import os, signal
        from carbonplane.mesh.identity import files, CertificateAuthority
        real = files.write_atomic
        def dying(path, data, mode=0o600):
            if str(path).endswith("state.json"):
                os.kill(os.getpid(), signal.SIGKILL)
            return real(path, data, mode)
        files.write_atomic = dying
        CertificateAuthority({str(tmp_path)!r}).rotate()
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert proc.returncode == -9, proc.stderr.decode()
    left = sorted(p.name for p in (tmp_path / "ca").iterdir())
    assert len([n for n in left if n.endswith(".key")]) == 2, left  # the orphan is there
    after = CertificateAuthority(tmp_path)
    assert after.active.id == before and len(after.roots) == 1
    assert len(list((tmp_path / "ca").glob("root-*.key"))) == 1  # the orphan was removed
    assert json.loads((tmp_path / "ca" / "state.json").read_text())["active"] == before
    assert creds_for(after, "orders").certificate.issuer == after.active.cert.subject


def test_rotations_from_two_processes_sharing_the_directory_do_not_lose_each_other(tmp_path):
    clock = Clock()
    first, second = (CertificateAuthority(tmp_path, clock=clock) for _ in range(2))
    original = first.active.id
    by_first = first.rotate(overlap=dt.timedelta(hours=1)).id
    by_second = second.rotate(overlap=dt.timedelta(hours=1)).id  # re-reads first's rotation
    roots = {r.id: r.trusted_until for r in CertificateAuthority(tmp_path, clock=clock).roots}
    assert set(roots) == {original, by_first, by_second}
    assert roots[by_second] is None and roots[original] and roots[by_first]
    assert len(second.trust_bundle()) == 3
