"""Mesh benchmark: requests at a fixed rate through two sidecars, against calling the app directly.

One control plane process, one app (a minimal asyncio HTTP/1.1 keep-alive server, ``hello``),
and two sidecar processes (``carbonplane mesh sidecar``): ``client`` (whose outbound listener the
load generator uses, as an app would: ``Host: server``) and ``server`` (in front of the app,
STRICT mTLS, no AuthorizationPolicy). Paths, alternated in each run:

- ``direct``: load generator -> app;
- ``mesh``: load generator -> client sidecar outbound -> mTLS -> server sidecar inbound -> app.

The load generator is open-loop (a request is *scheduled* every 1/rate s whatever the previous
ones are doing, on up to 256 keep-alive connections) and measures latency from the scheduled
time, so a stalled proxy shows as latency rather than as a slower request rate (no coordinated
omission). 500 req/s for 10 s, 3 runs, medians (``--quick``: 1 run of 3 s). Reported: p50, p90,
p99 of each path, the mesh's added latency per percentile, each sidecar's CPU per request
(user + kernel microseconds from /proc) and RSS at the end, and how many mTLS connections the
server sidecar accepted for how many requests (keep-alive reuse). A run with any error fails.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from bench.gateway import free_port, stop, wait_listening
from bench.machine import group_cpu_seconds, machine_info

REPO = Path(__file__).resolve().parent.parent
EXE = REPO / ".venv" / "bin" / "carbonplane"
RATE, SECONDS, RUNS = 500, 10, 3
MAX_CONNECTIONS = 256
APP = r"""
import asyncio, sys
BODY = b"hello from the app\n"
RESP = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: %d\r\n\r\n%s" % (
    len(BODY),
    BODY,
)
async def handle(reader, writer):
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(RESP)
    except (asyncio.IncompleteReadError, ConnectionError):
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()
asyncio.run(main())
"""
POLICY = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
"""


class Conn:
    def __init__(self, reader, writer) -> None:
        self.reader, self.writer = reader, writer


async def _one(port: int, host: bytes, idle: list, scheduled: float, out: list, errors: list):
    try:
        conn = idle.pop() if idle else Conn(*await asyncio.open_connection("127.0.0.1", port))
        conn.writer.write(b"GET /bench HTTP/1.1\r\nHost: %s\r\n\r\n" % host)
        head = await conn.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(head.split(b"\r\n", 1)[0].decode())
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await conn.reader.readexactly(length)
        out.append(time.perf_counter() - scheduled)
        idle.append(conn)
    except Exception as exc:  # counted; the run fails below
        errors.append(repr(exc))


async def fixed_rate(port: int, host: bytes, rate: int, seconds: float) -> dict:
    idle: list[Conn] = []
    latencies: list[float] = []
    errors: list[str] = []
    tasks = set()
    start = time.perf_counter() + 0.05
    n = int(rate * seconds)
    for i in range(n):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= MAX_CONNECTIONS:
            errors.append("over the connection limit")
            continue
        t = asyncio.get_running_loop().create_task(
            _one(port, host, idle, scheduled, latencies, errors)
        )
        tasks.add(t)
        t.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=30)
    for c in idle:
        c.writer.close()
    if errors:
        raise RuntimeError(f"{len(errors)} of {n} requests failed, e.g. {errors[:3]}")
    latencies.sort()

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "p50_ms": pct(0.50),
        "p90_ms": pct(0.90),
        "p99_ms": pct(0.99),
    }


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _start_sidecar(
    tmp: Path, name: str, app_port: int, control: str, token: Path, root: Path
) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [
            str(EXE),
            "mesh",
            "sidecar",
            "--service",
            name,
            "--app",
            f"127.0.0.1:{app_port}",
            "--control",
            control,
            "--token-file",
            str(token),
            "--root-file",
            str(root),
            "--inbound",
            "127.0.0.1:0",
            "--outbound",
            "127.0.0.1:0",
            "--admin",
            "127.0.0.1:0",
            "--data",
            str(tmp / f"sidecar-{name}"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**__import__("os").environ, "CARBONPLANE_HOME": str(tmp / "home")},
    )
    line = proc.stdout.readline().split()
    if not line or line[0] != "mesh":
        raise RuntimeError(f"sidecar {name} did not start: {line}")
    ports = {
        "inbound": int(line[4].rsplit(":", 1)[1]),
        "outbound": int(line[6].rsplit(":", 1)[1]),
        "admin": line[8],
    }
    return proc, ports


def run(quick: bool = False, log: Callable[..., None] = print) -> dict:
    from carbonplane.mesh.identity import CertificateAuthority, JoinTokens

    runs, seconds = (1, 3) if quick else (RUNS, SECONDS)
    tmp = Path(tempfile.mkdtemp(prefix="carbonplane-bench-mesh-"))
    procs: list[subprocess.Popen] = []
    results: dict = {"rate": RATE, "seconds": seconds, "runs": runs}
    try:
        config, data = tmp / "policy", tmp / "data"
        config.mkdir()
        (config / "00-mesh.yaml").write_text(POLICY)
        control = subprocess.Popen(
            [
                str(EXE),
                "mesh",
                "control",
                "--config",
                str(config),
                "--data",
                str(data),
                "--listen",
                "127.0.0.1:0",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(control)
        address = control.stdout.readline().split()[4].rstrip(",")
        tokens = JoinTokens(data, CertificateAuthority(data))
        for s in ("client", "server"):
            tokens.issue_token(s, write_to=tmp / f"{s}.token")
        app_port = free_port()
        app = subprocess.Popen([sys.executable, "-c", APP, str(app_port)])
        procs.append(app)
        wait_listening(app_port, app, "app")
        root = data / "trust-bundle.pem"
        server, sports = _start_sidecar(
            tmp, "server", app_port, address, tmp / "server.token", root
        )
        procs.append(server)
        client, cports = _start_sidecar(tmp, "client", 1, address, tmp / "client.token", root)
        procs.append(client)
        time.sleep(1.0)  # both registrations pushed to both sidecars
        out = cports["outbound"]
        asyncio.run(fixed_rate(out, b"server", 100, 1.0))  # warm-up: connections, pools
        asyncio.run(fixed_rate(app_port, b"app", 100, 1.0))
        samples = {"direct": [], "mesh": []}
        cpu = {"client": [], "server": []}
        for _ in range(runs):
            samples["direct"].append(asyncio.run(fixed_rate(app_port, b"app", RATE, seconds)))
            before = {
                k: group_cpu_seconds(p.pid) for k, p in (("client", client), ("server", server))
            }
            sample = asyncio.run(fixed_rate(out, b"server", RATE, seconds))
            samples["mesh"].append(sample)
            for k, p in (("client", client), ("server", server)):
                u, s = group_cpu_seconds(p.pid)
                cpu[k].append(((u - before[k][0]) + (s - before[k][1])) / sample["requests"] * 1e6)
        for path in ("direct", "mesh"):
            results[path] = {
                q: statistics.median(s[q] for s in samples[path])
                for q in ("p50_ms", "p90_ms", "p99_ms")
            }
            results[path]["samples"] = samples[path]
            log(
                f"{path:7s} p50 {results[path]['p50_ms']:.2f} ms  p90 {results[path]['p90_ms']:.2f}"
                f" ms  p99 {results[path]['p99_ms']:.2f} ms"
            )
        results["added_ms"] = {
            q: results["mesh"][q] - results["direct"][q] for q in ("p50_ms", "p90_ms", "p99_ms")
        }
        results["sidecar_cpu_us_per_request"] = {k: statistics.median(v) for k, v in cpu.items()}
        results["sidecar_rss_mib"] = {
            "client": _rss_kib(client.pid) / 1024,
            "server": _rss_kib(server.pid) / 1024,
        }
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no HTTP_PROXY
        with direct.open(f"http://{sports['admin']}/config_dump", timeout=10) as resp:
            inbound = json.loads(resp.read())["inbound"]
        results["server_inbound"] = inbound  # mTLS connections accepted vs requests allowed
        log(
            f"server sidecar: {inbound['accepted']} mTLS connections for {inbound['allowed']} "
            "requests"
        )
        a = results["added_ms"]
        log(
            f"added by the mesh: p50 {a['p50_ms']:.2f} ms  p90 {a['p90_ms']:.2f} ms  "
            f"p99 {a['p99_ms']:.2f} ms"
        )
        c, r = results["sidecar_cpu_us_per_request"], results["sidecar_rss_mib"]
        log(
            f"sidecar CPU per request: client {c['client']:.0f} us, server {c['server']:.0f} us;"
            f" RSS client {r['client']:.0f} MiB, server {r['server']:.0f} MiB"
        )
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = machine_info()
    return results
