"""The CA rotating under load: three services, each an app behind its own sidecar process, call
each other in a ring (app -> its outbound sidecar -> mTLS -> peer inbound sidecar -> peer app)
with 3 s workload certificates while ``carbonplane mesh ca rotate --overlap 5`` runs, through the
overlap and the prune. Every request succeeds; every sidecar ends on a certificate from the new
root and trusts only it; a client certificate from the old root is accepted during the overlap
and refused by every sidecar after the prune (one from the new root is accepted: the check can
fail), also on a keep-alive connection it opened during the overlap (403 from then on);
``mesh status --json`` shows every proxy SYNCED. Real processes, real TLS on loopback.

With ``-s`` it prints a ``MESH-CA-ROTATION`` line: requests, failures, latency percentiles per
phase (before, overlap, after the prune), and what became of a keep-alive connection opened
with an old-root certificate during the overlap when the prune came.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import statistics
import threading
import time

from controlkit import STRICT, ControlProcess, cli, tokens_for
from sidecarkit import Workload, events_env
from tests.kits.net import wait_until

from carbonplane.mesh.identity import (
    CertificateAuthority,
    build_csr,
    generate_key,
    key_pem,
    workload_id,
)

SERVICES = ("web", "api", "orders")
RING = {"web": "api", "api": "orders", "orders": "web"}
OVERLAP = 5.0
BEFORE, AFTER = 2.0, 2.5  # seconds of load before the rotation and after the prune


def issue_client_cert(data, tmp, name: str) -> tuple[str, str, str]:
    """A 5-minute certificate for ``web`` from the CA's *current* signer: (cert file, key file,
    signer fingerprint). Long-lived on purpose: after the prune it is refused for its root, not
    for its age."""
    ca = CertificateAuthority(data)
    key = generate_key()
    ident = workload_id("cluster.local", "default", "web")
    issued = ca.issue(build_csr(key, ident), ident, ttl=dt.timedelta(minutes=5))
    cert_file, key_file = tmp / f"{name}.pem", tmp / f"{name}.key"
    cert_file.write_bytes(issued.chain_pem)
    key_file.write_bytes(key_pem(key))
    return str(cert_file), str(key_file), ca.active.fingerprint


class Peer:
    """A raw mTLS client to a sidecar inbound: not the mesh, so the sidecar's own checks decide."""

    def __init__(self, port: int, cert: str, key: str) -> None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
        ctx.load_cert_chain(cert, key)
        raw = socket.create_connection(("127.0.0.1", port), 5)
        self.sock = ctx.wrap_socket(raw, server_hostname="peer.default.svc.mesh")
        self.sock.settimeout(5)
        self.buf = b""

    def get(self, path: str = "/probe") -> int | str:
        """The status code, or why there was none (the refusal)."""
        try:
            self.sock.sendall(b"GET %s HTTP/1.1\r\nhost: peer\r\n\r\n" % path.encode())
            while b"\r\n\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return "closed"
                self.buf += chunk
            head, _, rest = self.buf.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                0,
            )
            while len(rest) < length:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return "closed"
                rest += chunk
            self.buf = rest[length:]
            return int(head.split(b" ", 2)[1])
        except (ssl.SSLError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"

    def close(self) -> None:
        self.sock.close()


def one_get(port: int, cert: str, key: str) -> int | str:
    try:
        peer = Peer(port, cert, key)
    except (ssl.SSLError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    try:
        return peer.get()
    finally:
        peer.close()


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1000


def test_every_request_succeeds_while_the_ca_rotates(tmp_path):
    started = time.monotonic()
    config, data = tmp_path / "policy", tmp_path / "data"
    config.mkdir()
    (config / "00-mesh.yaml").write_text(STRICT)
    control = ControlProcess(config, data, "--workload-ttl", "3").start()
    tokens = tokens_for(data, list(SERVICES))
    env = events_env(tmp_path / "home")
    workloads: dict[str, Workload] = {}
    stop = threading.Event()
    try:
        for s in SERVICES:
            workloads[s] = Workload(s, control, tokens[s], tmp_path, env)
        for s, peer in RING.items():
            wait_until(lambda: workloads[s].call(peer, "up")["status"] == 200, 20, f"{s} -> {peer}")
        old_root = control.status()["active_root"]
        old_cert, old_key, old_fp = issue_client_cert(data, tmp_path, "old-root")
        assert old_fp == old_root
        results: list[tuple[float, float, str, int, str]] = []  # (start, seconds, caller, ...)

        def load(caller: str) -> None:
            w, peer = workloads[caller], RING[caller]
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = w.call(peer, "load")
                    status, body = r["status"], r["body"]
                except OSError as exc:  # the app itself failed: counts as a failure too
                    status, body = 0, repr(exc)
                results.append((t0, time.monotonic() - t0, caller, status, body))

        threads = [threading.Thread(target=load, args=(s,)) for s in SERVICES]
        for t in threads:
            t.start()
        time.sleep(BEFORE)

        rotated_at = time.monotonic()
        res = cli("mesh", "ca", "rotate", "--overlap", str(OVERLAP), "--data", str(data))
        assert res.returncode == 0, res.stderr
        rotate_done = time.monotonic()
        new_root = control.status()["active_root"]
        assert new_root != old_root
        # during the overlap the old root is still trusted everywhere: its certificate gets in
        api_in = workloads["api"].inbound_port
        wait_until(
            lambda: all(len(w.status()["trust_roots"]) == 2 for w in workloads.values()),
            5,
            "the two-root bundle at every sidecar",
        )
        assert one_get(api_in, old_cert, old_key) == 200
        live = Peer(api_in, old_cert, old_key)  # kept open across the prune
        assert live.get("/before-prune") == 200

        seen_two = [time.monotonic()]  # the prune happened after the last poll that saw 2 roots

        def pruned() -> bool:
            t = time.monotonic()
            if control.status()["trust_roots"] == [new_root]:
                return True
            seen_two[0] = t
            return False

        wait_until(pruned, OVERLAP + 10, "the old root pruned", interval=0.2)
        pruned_at = time.monotonic()
        wait_until(
            lambda: all(w.status()["trust_roots"] == [new_root] for w in workloads.values()),
            10,
            "the one-root bundle at every sidecar",
            interval=0.1,
        )
        bundle_everywhere_at = time.monotonic()
        # a connection made with the old root during the overlap outlives the prune, but nothing
        # on it reaches the app any more
        live_after = live.get("/after-prune")
        live.close()
        assert live_after == 403, live_after
        time.sleep(AFTER)
        stop.set()
        for t in threads:
            t.join(30)
        assert not any(t.is_alive() for t in threads)

        failures = [r for r in results if r[3] != 200]
        assert not failures, (len(failures), len(results), failures[:3])
        phases = {
            "before": [r for r in results if r[0] < rotated_at],
            "overlap": [r for r in results if rotated_at <= r[0] < pruned_at],
            "after": [r for r in results if r[0] >= pruned_at],
        }
        for name, rs in phases.items():
            for s in SERVICES:  # every caller kept calling in every phase
                assert any(r[2] == s for r in rs), (name, s, len(rs))

        statuses = {s: w.status() for s, w in workloads.items()}
        for s, st in statuses.items():
            assert st["cert_root"] == new_root, (s, st["cert_root"], new_root)
            assert st["trust_roots"] == [new_root], (s, st["trust_roots"])
            assert st["state"] == "SERVING", (s, st)
        # after the prune an old-root client certificate is refused by every sidecar; a
        # new-root one (same identity, same kind of client) is accepted by every sidecar
        new_cert, new_key, new_fp = issue_client_cert(data, tmp_path, "new-root")
        assert new_fp == new_root
        for s, w in workloads.items():
            refused = one_get(w.inbound_port, old_cert, old_key)
            assert refused != 200 and not isinstance(refused, int), (s, refused)
            assert one_get(w.inbound_port, new_cert, new_key) == 200, s
        tls_failures = {s: w.status()["inbound"]["tls_failures"] for s, w in workloads.items()}
        assert all(n >= 1 for n in tls_failures.values()), tls_failures

        status = control.status()
        assert len(status["proxies"]) == 3 and all(
            p["state"] == "SYNCED" and p["connected"] for p in status["proxies"]
        ), status
        assert status["trust_roots"] == [new_root]
        assert not any(p.name.startswith(f"root-{old_root[:16]}") for p in (data / "ca").iterdir())

        def spanning(a: float, b: float) -> int:  # requests in flight at some time in [a, b]
            return sum(1 for r in results if r[0] <= b and r[0] + r[1] >= a)

        elapsed = time.monotonic() - started
        summary = {
            name: {
                "requests": len(rs),
                "p50_ms": round(pct([r[1] for r in rs], 0.5), 1),
                "p99_ms": round(pct([r[1] for r in rs], 0.99), 1),
                "max_ms": round(max((r[1] for r in rs), default=0) * 1000, 1),
            }
            for name, rs in phases.items()
        }
        print(
            "MESH-CA-ROTATION "
            + json.dumps(
                {
                    "requests": len(results),
                    "failures": len(failures),
                    "phases": summary,
                    "overlap_s": OVERLAP,
                    "prune_after_rotate_s": round(pruned_at - rotated_at, 2),
                    "bundle_everywhere_after_prune_s": round(bundle_everywhere_at - pruned_at, 2),
                    "old_root_live_connection_after_prune": live_after,
                    "in_flight_across_rotate_cli": spanning(rotated_at, rotate_done),
                    "in_flight_across_prune_window": spanning(seen_two[0], pruned_at),
                    "prune_window_s": round(pruned_at - seen_two[0], 2),
                    "cert_issued_events": {
                        s: st["events"]["by_kind"].get("CERT_ISSUED", 0)
                        for s, st in statuses.items()
                    },
                    "test_seconds": round(elapsed, 1),
                    "median_latency_ms": round(statistics.median(r[1] for r in results) * 1000, 1),
                }
            )
        )
    finally:
        stop.set()
        for w in workloads.values():
            w.stop()
        control.stop()
