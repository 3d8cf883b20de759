"""Reload benchmark: ``python -m bench reload``: a 10,000-route, 10,000-consumer config reloaded
through the Admin API of a two-worker gateway, idle and under wrk load.

Setup (all on 127.0.0.1, started and stopped here): nginx as the upstream (1 worker, ``return
200``), ``carbonplane gateway start --workers 2`` on a generated config of ``ROUTES`` routes in
services of 100 (every other route a regex path, ``~/rN/(?<id>\\d+)$``) and ``CONSUMERS`` consumers
with a key-auth credential each, plus one marker route per version.

Measured:
- ``idle``: ``POST /config`` of a fresh version of that config, ``IDLE_RELOADS`` times with no
  load: wall time until the answer (the Admin API returns once *both* workers run it) and the CPU
  the gateway's processes (master + workers) spent per reload; medians;
- ``under_load``: wrk (``-t1 -c16``, ``--timeout 30s``) on a prefix route and a regex route for
  ``LOAD_SECONDS`` while reloads run back to back (2 s apart); reload wall time (median), and
  wrk's totals: requests, non-2xx answers and socket errors (must both be 0: a run with any fails),
  req/s and the worst latency (the stall while a worker compiles the new config on its loop).
After the run the gateway's ``/status`` must show zero worker restarts.

``--quick``: 1,000 routes and consumers, 2 idle reloads, 20 s of load: a smoke check, not a result.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.gateway import REPO, WRK, free_port, start_nginx, stop, wait_listening
from bench.machine import group_cpu_seconds, machine_info

ROUTES = CONSUMERS = 10_000
REGEX_EVERY = 2  # every 2nd route a regex (1: all of them)
IDLE_RELOADS = 5
LOAD_SECONDS = 240
WRK_ARGS = ["-t1", "-c16", "--latency", "--timeout", "30s"]


def config(upstream_port: int, version: int, routes: int, consumers: int) -> dict:
    url = f"http://127.0.0.1:{upstream_port}/"
    services = [
        {
            "name": "api",
            "url": url,
            "routes": [
                {"name": "api", "paths": ["/api"]},
                {"name": "marker", "paths": [f"/marker-{version}"]},
            ],
        }
    ]
    for s in range(0, routes, 100):
        services.append(
            {
                "name": f"svc-{s}",
                "url": url,
                "routes": [
                    {
                        "name": f"r{i}",
                        "paths": [
                            f"~/r{i}/(?<id>\\d+)$" if (i + 1) % REGEX_EVERY == 0 else f"/p{i}/"
                        ],
                    }
                    for i in range(s, min(s + 100, routes))
                ],
            }
        )
    return {
        "_format_version": "3.0",
        "services": services,
        "consumers": [
            {
                "username": f"user-{i}-v{version}",
                "keyauth_credentials": [{"key": f"key-{i}-{version}"}],
            }
            for i in range(consumers)
        ],
    }


def admin(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        data=body,
        method=method,
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=300) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def reload_once(admin_port: int, body: bytes, pgid: int) -> tuple[float, float]:
    """One POST /config; returns (wall seconds, CPU seconds of the gateway's processes)."""
    cpu0, t0 = sum(group_cpu_seconds(pgid)), time.perf_counter()
    status, doc = admin(admin_port, "POST", "/config", body)
    wall = time.perf_counter() - t0
    if status != 201:
        raise RuntimeError(f"POST /config answered {status}: {str(doc)[:300]}")
    return wall, sum(group_cpu_seconds(pgid)) - cpu0


def parse_totals(out: str) -> dict:
    done = re.search(r"(\d+) requests in ([\d.]+)(m|s)", out)
    maxlat = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", out)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not (done and maxlat and rps):
        raise RuntimeError(f"unexpected wrk output:\n{out}")
    scale = {"us": 1e-3, "ms": 1.0, "s": 1000.0}[maxlat.group(2)]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1000.0}[m.group(2)] if m else -1.0

    return {
        "requests": int(done.group(1)),
        "rps": float(rps.group(1)),
        "p50_ms": pct("50"),
        "p99_ms": pct("99"),
        "max_latency_ms": float(maxlat.group(1)) * scale,
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, sock.groups())) if sock else 0,
    }


def run(quick: bool = False, log: Callable[..., None] = print) -> dict:
    size = 1_000 if quick else ROUTES
    idle_runs, load_s = (2, 20) if quick else (IDLE_RELOADS, LOAD_SECONDS)
    tmp = Path(tempfile.mkdtemp(prefix="carbonplane-bench-reload-"))
    procs: list[subprocess.Popen] = []
    out: dict = {
        "routes": size,
        "consumers": size,
        "regex_routes": size // REGEX_EVERY,
        "workers": 2,
    }
    try:
        up_port, port, admin_port = free_port(), free_port(), free_port()
        procs.append(
            start_nginx(
                tmp,
                "upstream",
                f"server {{ listen 127.0.0.1:{up_port}; "
                "location / { default_type text/plain; return 200 'ok'; } }",
                up_port,
            )
        )
        path = tmp / "kong.yml"
        path.write_text(yaml.safe_dump(config(up_port, 0, size, size), sort_keys=False))
        exe = REPO / ".venv" / "bin" / "carbonplane"
        gw = subprocess.Popen(
            [
                str(exe) if exe.exists() else "carbonplane",
                "gateway",
                "start",
                "--config",
                str(path),
                "--workers",
                "2",
                "--proxy-listen",
                f"127.0.0.1:{port}",
                "--admin-listen",
                f"127.0.0.1:{admin_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # master and workers: one process group
        procs.append(gw)
        t0 = time.perf_counter()
        wait_listening(admin_port, gw, "gateway", timeout=300)
        out["start_s"] = time.perf_counter() - t0
        bodies = [json.dumps(config(up_port, v, size, size)).encode() for v in range(1, 3)]
        out["post_body_bytes"] = len(bodies[0])
        log(f"gateway up in {out['start_s']:.1f} s with {size:,} routes + {size:,} consumers")

        idle = [reload_once(admin_port, bodies[n % 2], gw.pid) for n in range(idle_runs)]
        out["idle"] = {
            "runs": [{"wall_s": w, "cpu_s": c} for w, c in idle],
            "wall_s": statistics.median(w for w, _ in idle),
            "cpu_s": statistics.median(c for _, c in idle),
        }
        log(
            f"idle reload: median {out['idle']['wall_s']:.2f} s wall, "
            f"{out['idle']['cpu_s']:.2f} s CPU (master + 2 workers), {idle_runs} runs"
        )

        wrk = subprocess.Popen(
            [
                WRK,
                *WRK_ARGS,
                f"-d{load_s}s",
                "-s",
                str(_paths_script(tmp, size)),
                f"http://127.0.0.1:{port}/api/x",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(wrk)
        started, walls = time.monotonic(), []
        time.sleep(2)
        while time.monotonic() - started < load_s - max(10.0, 2 * (max(walls) if walls else 5)):
            walls.append(reload_once(admin_port, bodies[len(walls) % 2], gw.pid)[0])
            time.sleep(2)
        text, err = wrk.communicate(timeout=load_s + 120)
        if wrk.returncode != 0:
            raise RuntimeError(f"wrk failed: {err}")
        totals = parse_totals(text)
        out["under_load"] = {
            "reloads": len(walls),
            "runs_wall_s": walls,
            "wall_s": statistics.median(walls),
            "wrk": totals,
            "wrk_args": [*WRK_ARGS, f"-d{load_s}s"],
        }
        server = admin(admin_port, "GET", "/status")[1]["server"]
        out["worker_restarts"] = server["worker_restarts"]
        log(
            f"under load: {len(walls)} reloads, median {out['under_load']['wall_s']:.2f} s; wrk "
            f"{totals['requests']:,} requests, {totals['non_2xx']} non-2xx, "
            f"{totals['socket_errors']} socket errors, {totals['rps']:,.0f} req/s, p50 "
            f"{totals['p50_ms']:.1f} ms, p99 {totals['p99_ms']:.1f} ms, max "
            f"{totals['max_latency_ms']:.0f} ms; worker restarts "
            f"{out['worker_restarts']}"
        )
        if totals["non_2xx"] or totals["socket_errors"] or out["worker_restarts"]:
            raise RuntimeError(f"reloads dropped requests or restarted workers: {out}")
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                stop(proc, signal.SIGQUIT if proc is procs[0] else signal.SIGTERM)
        shutil.rmtree(tmp, ignore_errors=True)
    out["machine"] = machine_info()
    return out


def _paths_script(tmp: Path, size: int) -> Path:
    """wrk alternates a prefix route and the last regex route."""
    script = tmp / "paths.lua"
    script.write_text(
        "local n = 0\nrequest = function()\n  n = n + 1\n"
        f'  if n % 2 == 0 then return wrk.format("GET", "/r{size - 1}/42") end\n'
        '  return wrk.format("GET", "/api/x")\nend\n'
    )
    return script
