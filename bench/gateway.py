"""Gateway benchmark: wrk on loopback against nginx and our gateway, in one run.

Configurations, all measured with the same wrk settings (``-t1 -c50 -d10s --latency``, 3 runs,
median; ``--quick``: 1 run of 3 s), each after a 1 s warm-up:

- ``upstream``: the stand-in upstream alone (nginx, 1 worker, ``return 200`` of a small body);
- ``nginx_proxy``: nginx as a reverse proxy with 1 worker and keep-alive to the upstream - the
  baseline every ratio is computed against;
- ``gateway_bare``: ``carbonplane gateway start --workers 1``, one service and route, no plugin;
- ``gateway_plugins``: the same with the report's five plugins on every request: rate-limiting
  (policy local, limits far above what the run sends), cors (the request carries an allowed
  ``Origin``), prometheus, file-log (to a file in the temp dir) and jwt (a valid HS256 token in
  ``Authorization``);
- ``gateway_plugins_oidc``: the same five with jwt replaced by openid-connect validating an
  RS256 access token (issuer, audience, scope, consumer by ``sub``) on the key it fetched once
  from a local provider (``bench.oidc_idp``: discovery and JWKS served by an nginx of its own).

Every process is started here in a temp dir, listens on 127.0.0.1 only, and is stopped here.
A run with any non-2xx answer or socket error fails: a benchmark of error pages is not a result.
Reported per configuration: requests/s, p50 and p99 latency (ms), the CPU the server's processes
spent per request (``cpu_us_per_request``: user + kernel microseconds, from /proc; printed as
``cpu/req U+S us``) and, for the proxies, the ratios to nginx (``rps_vs_nginx`` higher is better,
``p99_vs_nginx`` lower is better).
"""

from __future__ import annotations

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
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.machine import group_cpu_seconds, machine_info
from bench.oidc_idp import BenchIdp

REPO = Path(__file__).resolve().parent.parent
WRK_THREADS, WRK_CONNECTIONS = 1, 50
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
WRK = shutil.which("wrk") or "/usr/bin/wrk"
BODY = "hello from the upstream\n"
JWT_KEY, JWT_SECRET = "bench-issuer", "bench-secret-0123456789-0123456789"
ORIGIN = "https://app.254carbon.com"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, proc: subprocess.Popen, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening: {err}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout} s")


def nginx_conf(tmp: Path, name: str, server: str) -> Path:
    conf = tmp / f"{name}.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {tmp}/{name}.pid;
error_log {tmp}/{name}.error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/{name}.body;
  proxy_temp_path {tmp}/{name}.proxy;
  fastcgi_temp_path {tmp}/{name}.fcgi;
  uwsgi_temp_path {tmp}/{name}.uwsgi;
  scgi_temp_path {tmp}/{name}.scgi;
  keepalive_requests 100000;
  {server}
}}
""")
    return conf


def start_nginx(tmp: Path, name: str, server: str, port: int) -> subprocess.Popen:
    conf = nginx_conf(tmp, name, server)
    proc = subprocess.Popen(
        [NGINX, "-c", str(conf), "-p", str(tmp)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # its own group
    wait_listening(port, proc, f"nginx ({name})")
    return proc


def gateway_config(
    tmp: Path, upstream_port: int, plugins: bool, idp: BenchIdp | None = None
) -> Path:
    service = {
        "name": "bench",
        "url": f"http://127.0.0.1:{upstream_port}/",
        "routes": [{"name": "bench", "paths": ["/"]}],
    }
    doc: dict = {"_format_version": "3.0", "services": [service]}
    if plugins:
        service["plugins"] = [
            {
                "name": "rate-limiting",
                "config": {
                    "second": 10_000_000,
                    "minute": 1_000_000_000,
                    "policy": "local",
                    "limit_by": "ip",
                },
            },
            {
                "name": "cors",
                "config": {"origins": ["https://254carbon.com", r"https://.*\.254carbon\.com"]},
            },
            {"name": "jwt", "config": {"claims_to_verify": ["exp"]}}
            if idp is None
            else idp.plugin(),
        ]
        doc["plugins"] = [
            {"name": "prometheus"},
            {"name": "file-log", "config": {"path": str(tmp / "access.log")}},
        ]
        doc["consumers"] = [
            {
                "username": "bench",
                "jwt_secrets": [{"key": JWT_KEY, "secret": JWT_SECRET, "algorithm": "HS256"}],
            }
        ]
    path = tmp / ("bare.yml" if not plugins else "plugins.yml" if idp is None else "oidc.yml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def start_gateway(
    config: Path, port: int, admin_port: int, extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    exe = REPO / ".venv" / "bin" / "carbonplane"
    proc = subprocess.Popen(
        [
            str(exe) if exe.exists() else "carbonplane",
            "gateway",
            "start",
            "--config",
            str(config),
            "--workers",
            "1",
            "--proxy-listen",
            f"127.0.0.1:{port}",
            "--admin-listen",
            f"127.0.0.1:{admin_port}",
            *(extra or ("--proxy-ssl-listen", "off")),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )  # master and workers: one process group
    wait_listening(admin_port, proc, "gateway")  # the admin API starts after the workers
    return proc


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def bench_token() -> str:
    import jwt

    return jwt.encode({"iss": JWT_KEY, "exp": int(time.time()) + 3600}, JWT_SECRET, "HS256")


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(out: str) -> dict:
    def latency(pct: str) -> float:
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise RuntimeError(f"wrk output has no {pct}% latency:\n{out}")
        return float(m.group(1)) * _UNITS[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if not rps:
        raise RuntimeError(f"wrk output has no Requests/sec:\n{out}")
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    return {
        "rps": float(rps.group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "non_2xx": int(errors.group(1)) if errors else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def wrk(port: int, seconds: int, headers: list[str], scheme: str = "http") -> dict:
    args = [
        WRK,
        f"-t{WRK_THREADS}",
        f"-c{WRK_CONNECTIONS}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "5s",
    ]
    for h in headers:
        args += ["-H", h]
    out = subprocess.run(
        [*args, f"{scheme}://127.0.0.1:{port}/bench"],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
    )
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed ({out.returncode}): {out.stderr}")
    result = parse_wrk(out.stdout)
    if result["non_2xx"] or result["socket_errors"]:
        raise RuntimeError(
            f"wrk saw {result['non_2xx']} non-2xx answers and "
            f"{result['socket_errors']} socket errors on port {port}:\n{out.stdout}"
        )
    return result


def measure(
    port: int,
    runs: int,
    seconds: int,
    headers: list[str],
    pid: int | None = None,
    scheme: str = "http",
) -> dict:
    """wrk ``runs`` times; with ``pid`` (a server started in its own session), also the CPU its
    processes spent per request (user and kernel microseconds: where a proxy's time goes,
    independent of the load generator)."""
    wrk(port, 1, headers, scheme)  # warm-up: connections, pools, caches
    samples = []
    for _ in range(runs):
        before = group_cpu_seconds(pid) if pid is not None else None
        sample = wrk(port, seconds, headers, scheme)
        if before is not None:
            after = group_cpu_seconds(pid)
            requests = sample["rps"] * seconds
            sample["user_us"] = (after[0] - before[0]) / requests * 1e6
            sample["sys_us"] = (after[1] - before[1]) / requests * 1e6
        samples.append(sample)
    result = {
        "runs": samples,
        "rps": statistics.median(s["rps"] for s in samples),
        "p50_ms": statistics.median(s["p50_ms"] for s in samples),
        "p99_ms": statistics.median(s["p99_ms"] for s in samples),
    }
    if pid is not None:
        result["cpu_us_per_request"] = {
            "user": statistics.median(s["user_us"] for s in samples),
            "sys": statistics.median(s["sys_us"] for s in samples),
        }
    return result


def run(quick: bool = False, log: Callable[..., None] = print) -> dict:
    for tool in (NGINX, WRK):
        if not os.path.exists(tool):
            raise RuntimeError(
                f"{tool} is missing: install nginx and wrk (apt-get install nginx wrk)"
            )
    runs, seconds = (1, 3) if quick else (3, 10)
    tmp = Path(tempfile.mkdtemp(prefix="carbonplane-bench-gw-"))
    procs: list[subprocess.Popen] = []
    results: dict = {
        "wrk": {
            "threads": WRK_THREADS,
            "connections": WRK_CONNECTIONS,
            "seconds": seconds,
            "runs": runs,
        }
    }
    try:
        up_port, nginx_port = free_port(), free_port()
        procs.append(
            start_nginx(
                tmp,
                "upstream",
                f"server {{ listen 127.0.0.1:{up_port}; "
                f"location / {{ default_type text/plain; return 200 '{BODY}'; }} }}",
                up_port,
            )
        )
        results["upstream"] = measure(up_port, runs, seconds, [], procs[0].pid)
        log(_line("upstream (nginx, 1 worker)", results["upstream"]))
        proxy = (
            f"upstream backend {{ server 127.0.0.1:{up_port}; keepalive 64; }} "
            f"server {{ listen 127.0.0.1:{nginx_port}; location / {{ proxy_pass http://backend; "
            f'proxy_http_version 1.1; proxy_set_header Connection ""; }} }}'
        )
        nginx_proxy = start_nginx(tmp, "proxy", proxy, nginx_port)
        procs.append(nginx_proxy)
        results["nginx_proxy"] = measure(nginx_port, runs, seconds, [], nginx_proxy.pid)
        stop(nginx_proxy, signal.SIGQUIT)
        log(_line("nginx reverse proxy (1 worker)", results["nginx_proxy"]))
        idp = BenchIdp(free_port())
        procs.append(start_nginx(tmp, "idp", idp.nginx_server(), idp.port))
        jwt_headers = [f"Authorization: Bearer {bench_token()}", f"Origin: {ORIGIN}"]
        oidc_headers = [f"Authorization: Bearer {idp.token('bench')}", f"Origin: {ORIGIN}"]
        for key, plugins, auth, headers, label in (
            ("gateway_bare", False, None, [], "gateway, 1 worker, no plugins"),
            ("gateway_plugins", True, None, jwt_headers, "gateway, 1 worker, 5 plugins"),
            ("gateway_plugins_oidc", True, idp, oidc_headers, "gateway, 5 plugins, oidc not jwt"),
        ):
            port, admin_port = free_port(), free_port()
            gw = start_gateway(gateway_config(tmp, up_port, plugins, auth), port, admin_port)
            try:
                results[key] = measure(port, runs, seconds, headers, gw.pid)
            finally:
                stop(gw)
            base = results["nginx_proxy"]
            results[key]["rps_vs_nginx"] = results[key]["rps"] / base["rps"]
            results[key]["p99_vs_nginx"] = results[key]["p99_ms"] / base["p99_ms"]
            log(
                _line(label, results[key]) + f"  = {results[key]['rps_vs_nginx']:.2f}x nginx req/s,"
                f" p99 {results[key]['p99_vs_nginx']:.2f}x nginx"
            )
    finally:
        for proc in procs:
            stop(proc, signal.SIGQUIT)
        shutil.rmtree(tmp, ignore_errors=True)

    results["machine"] = machine_info()
    return results


def _line(label: str, r: dict) -> str:
    cpu = r.get("cpu_us_per_request")
    used = f"  cpu/req {cpu['user']:.1f}+{cpu['sys']:.1f} us" if cpu else ""
    return (
        f"{label:34s} {r['rps']:>10,.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
        f"p99 {r['p99_ms']:.2f} ms{used}"
    )


if __name__ == "__main__":
    sys.exit(run() and 0)
