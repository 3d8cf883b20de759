"""Engine micro-benchmark: the proxy engine alone vs nginx as a reverse proxy, one worker each.

    .venv/bin/python bench/proxy/engine_bench.py [--runs 3] [--duration 10] [--connections 50]
                                                 [--json] [--only engine|nginx|upstream]

Topology (loopback only, every run bounded by ``--duration``):

    wrk (CPU 0) -> proxy under test (CPU 1) -> nginx upstream "return 200" (CPU 0)

The proxy under test is nginx 1.22 (1 worker, upstream keepalive) for the baseline, or
``python -m carbonplane.proxy --workers 0`` (one uvloop worker, built-in static app) for ours.
Pinning gives each proxy exactly one core while load generator and upstream share the other,
so the ratio compares the proxies, not the scheduler. Runs are interleaved (nginx, engine,
nginx, ...) so that both see the same background load on a shared host; the medians of req/s,
latency percentiles and the proxy's CPU time per request (user + system, from /proc) are
reported, with the ratios to nginx. CPU time per request is the figure least disturbed by other
work on the host: requests per CPU-second is the proxy's capacity on an idle core.

This harness is the engine's; the gateway-wide benchmark (with plugins) is ``bench/gateway.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: bench.*
from bench.machine import group_cpu_seconds  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
PYTHON = ROOT / ".venv" / "bin" / "python"
UPSTREAM_CONF = """
worker_processes 1; daemon off; pid {dir}/up.pid; error_log {dir}/up.err warn;
events {{ worker_connections 4096; }}
http {{ access_log off;
  server {{ listen 127.0.0.1:{port} reuseport backlog=4096; keepalive_requests 1000000;
           location / {{ default_type text/plain; return 200 "ok"; }} }} }}
"""
PROXY_CONF = """
worker_processes 1; daemon off; pid {dir}/px.pid; error_log {dir}/px.err warn;
events {{ worker_connections 4096; }}
http {{ access_log off;
  upstream backend {{ server 127.0.0.1:{upstream}; keepalive 512; keepalive_requests 1000000; }}
  server {{ listen 127.0.0.1:{port} reuseport backlog=4096; keepalive_requests 1000000;
    location / {{ proxy_pass http://backend; proxy_http_version 1.1;
                 proxy_set_header Connection ""; proxy_set_header Host $host;
                 proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for; }} }} }}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def start(cmd: list[str], cpu: int, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        ["taskset", "-c", str(cpu), *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    wait_listening(port, proc)
    return proc


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def wrk(port: int, duration: int, connections: int) -> dict:
    out = subprocess.run(
        [
            "taskset",
            "-c",
            "0",
            "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            f"http://127.0.0.1:{port}/bench",
        ],
        capture_output=True,
        text=True,
        timeout=duration + 30,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    lat = {
        p: float(v) * _UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    }
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50_ms": lat["50"],
        "p99_ms": lat["99"],
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": socket_errors.group(1) if socket_errors else None,
    }


def one_run(port: int, proc: subprocess.Popen | None, args) -> dict:
    before = sum(group_cpu_seconds(proc.pid)) if proc else 0.0
    result = wrk(port, args.duration, args.connections)
    if proc:
        used = sum(group_cpu_seconds(proc.pid)) - before
        result["cpu_us_per_request"] = used / (result["rps"] * args.duration) * 1e6
    return result


def summarise(label: str, runs: list[dict], args) -> dict:
    summary = {
        key: statistics.median(r[key] for r in runs)
        for key in ("rps", "p50_ms", "p99_ms", "cpu_us_per_request")
        if key in runs[0]
    }
    summary["runs"] = runs
    if not args.json:
        cpu = summary.get("cpu_us_per_request")
        print(
            f"{label:<10} {summary['rps']:>10.0f} req/s  p50 {summary['p50_ms']:.3f} ms"
            f"  p99 {summary['p99_ms']:.3f} ms" + (f"  cpu {cpu:.1f} us/request" if cpu else ""),
            flush=True,
        )
    return summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--only", choices=["engine", "nginx", "upstream"])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if not shutil.which("nginx") or not shutil.which("wrk"):
        print("needs nginx and wrk on PATH (apt-get install nginx-light wrk)", file=sys.stderr)
        return 2
    results: dict = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "connections": args.connections,
        "duration_s": args.duration,
        "runs": args.runs,
    }
    with tempfile.TemporaryDirectory(prefix="cp-bench-") as tmp:
        up_port, nginx_port, engine_port = free_port(), free_port(), free_port()
        conf = Path(tmp, "up.conf")
        conf.write_text(UPSTREAM_CONF.format(dir=tmp, port=up_port))
        procs = {"upstream": start(["nginx", "-p", tmp, "-c", str(conf)], 0, up_port)}
        targets = {"upstream": (up_port, None)}
        try:
            if args.only in (None, "nginx"):
                pconf = Path(tmp, "px.conf")
                pconf.write_text(PROXY_CONF.format(dir=tmp, port=nginx_port, upstream=up_port))
                procs["nginx"] = start(["nginx", "-p", tmp, "-c", str(pconf)], 1, nginx_port)
                targets["nginx"] = (nginx_port, procs["nginx"])
            if args.only in (None, "engine"):
                procs["engine"] = start(
                    [
                        str(PYTHON),
                        "-m",
                        "carbonplane.proxy",
                        "--workers",
                        "0",
                        "--listen",
                        f"127.0.0.1:{engine_port}",
                        "--route",
                        f"/=127.0.0.1:{up_port}",
                    ],
                    1,
                    engine_port,
                )
                targets["engine"] = (engine_port, procs["engine"])
            if args.only not in (None, "upstream"):
                del targets["upstream"]
            runs: dict[str, list] = {name: [] for name in targets}
            for name, (port, _) in targets.items():
                wrk(port, 2, args.connections)  # warm up: connections, pools, caches
            # interleaved, so that both proxies see the same background load on a shared host
            for _ in range(args.runs):
                for name, (port, proc) in targets.items():
                    runs[name].append(one_run(port, proc, args))
            for name in targets:
                results[name] = summarise(name, runs[name], args)
        finally:
            for proc in procs.values():
                stop(proc)
    if "nginx" in results and "engine" in results:
        results["ratio_rps"] = results["engine"]["rps"] / results["nginx"]["rps"]
        results["ratio_p99"] = results["engine"]["p99_ms"] / results["nginx"]["p99_ms"]
        results["ratio_cpu_efficiency"] = (
            results["nginx"]["cpu_us_per_request"] / results["engine"]["cpu_us_per_request"]
        )
        if not args.json:
            print(
                f"engine/nginx: req/s x{results['ratio_rps']:.2f}, "
                f"p99 x{results['ratio_p99']:.2f}, "
                f"requests per CPU-second x{results['ratio_cpu_efficiency']:.2f}"
            )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
