"""TLS termination benchmark: wrk over https against nginx and our gateway, in one run.

Both terminate TLS with the same certificate (ECDSA P-256, made here) and proxy to the same
plain-http upstream (nginx, 1 worker, ``return 200`` of a small body; keep-alive to it). Measured
with the gateway benchmark's wrk settings (``-t1 -c50 -d10s --latency``, 3 runs, median;
``--quick``: 1 run of 3 s), each after a 1 s warm-up:

- ``nginx_tls`` / ``gateway_tls``: keep-alive connections (the handshake is paid once per
  connection; this is the per-request cost of encryption plus proxying) - nginx 1 worker
  (``ssl_protocols TLSv1.2 TLSv1.3``), the gateway ``--workers 1``, one service, one route, no
  plugin, the certificate on SNI ``*``;
- ``nginx_tls_handshake`` / ``gateway_tls_handshake``: ``Connection: close`` on every request,
  so every request is a new TCP connection and a full TLS handshake (TLS 1.3, no resumption:
  wrk does not resume sessions).

Reported per configuration: requests/s, p50/p99 (ms), CPU per request of the server's processes
(user + kernel microseconds, from /proc) and the gateway's ratios to nginx (``rps_vs_nginx``
higher is better, ``cpu_vs_nginx`` lower is better). Any non-2xx answer or socket error fails
the run. Everything listens on 127.0.0.1 and is stopped here.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.gateway import (
    BODY,
    NGINX,
    WRK,
    free_port,
    measure,
    start_gateway,
    start_nginx,
    stop,
    wait_listening,
)
from bench.machine import machine_info


def _certificate(tmp: Path) -> tuple[str, str, Path, Path]:
    from carbonplane.gateway.config.pem import self_signed

    cert, key = self_signed("bench.local")
    cert_path, key_path = tmp / "cert.pem", tmp / "key.pem"
    cert_path.write_text(cert)
    key_path.write_text(key)
    os.chmod(key_path, 0o600)
    return cert, key, cert_path, key_path


def _gateway_config(tmp: Path, upstream_port: int, cert: str, key: str) -> Path:
    doc = {
        "_format_version": "3.0",
        "certificates": [{"cert": cert, "key": key, "snis": ["*"]}],
        "services": [
            {
                "name": "bench",
                "url": f"http://127.0.0.1:{upstream_port}/",
                "routes": [{"name": "bench", "paths": ["/"]}],
            }
        ],
    }
    path = tmp / "tls.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def _cpu_total(r: dict) -> float:
    cpu = r["cpu_us_per_request"]
    return cpu["user"] + cpu["sys"]


def run(quick: bool = False, log: Callable[..., None] = print) -> dict:
    for tool in (NGINX, WRK):
        if not os.path.exists(tool):
            raise RuntimeError(
                f"{tool} is missing: install nginx and wrk (apt-get install nginx wrk)"
            )
    runs, seconds = (1, 3) if quick else (3, 10)
    tmp = Path(tempfile.mkdtemp(prefix="carbonplane-bench-tls-"))
    procs: list[subprocess.Popen] = []
    results: dict = {"wrk": {"threads": 1, "connections": 50, "seconds": seconds, "runs": runs}}
    try:
        cert, key, cert_path, key_path = _certificate(tmp)
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
        proxy = (
            f"upstream backend {{ server 127.0.0.1:{up_port}; keepalive 64; }} "
            f"server {{ listen 127.0.0.1:{nginx_port} ssl; "
            f"ssl_certificate {cert_path}; ssl_certificate_key {key_path}; "
            "ssl_protocols TLSv1.2 TLSv1.3; "
            f"location / {{ proxy_pass http://backend; "
            f'proxy_http_version 1.1; proxy_set_header Connection ""; }} }}'
        )
        nginx = start_nginx(tmp, "tls", proxy, nginx_port)
        procs.append(nginx)
        for key_name, headers in (
            ("nginx_tls", []),
            ("nginx_tls_handshake", ["Connection: close"]),
        ):
            results[key_name] = measure(nginx_port, runs, seconds, headers, nginx.pid, "https")
            log(_line(f"nginx TLS ({'new conn' if headers else 'keep-alive'})", results[key_name]))
        stop(nginx, signal.SIGQUIT)
        port, https_port, admin_port = free_port(), free_port(), free_port()
        gw = start_gateway(
            _gateway_config(tmp, up_port, cert, key),
            port,
            admin_port,
            ("--proxy-ssl-listen", f"127.0.0.1:{https_port}"),
        )
        try:
            wait_listening(https_port, gw, "gateway https")
            for key_name, headers in (
                ("gateway_tls", []),
                ("gateway_tls_handshake", ["Connection: close"]),
            ):
                results[key_name] = measure(https_port, runs, seconds, headers, gw.pid, "https")
                base = results[key_name.replace("gateway", "nginx")]
                r = results[key_name]
                r["rps_vs_nginx"] = r["rps"] / base["rps"]
                r["p99_vs_nginx"] = r["p99_ms"] / base["p99_ms"]
                r["cpu_vs_nginx"] = _cpu_total(r) / _cpu_total(base)
                log(
                    _line(f"gateway TLS ({'new conn' if headers else 'keep-alive'})", r)
                    + f"  = {r['rps_vs_nginx']:.2f}x nginx req/s,"
                    f" cpu/req {r['cpu_vs_nginx']:.2f}x, p99 {r['p99_vs_nginx']:.2f}x"
                )
        finally:
            stop(gw)
    finally:
        for proc in procs:
            stop(proc, signal.SIGQUIT)
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = machine_info()
    return results


def _line(label: str, r: dict) -> str:
    cpu = r["cpu_us_per_request"]
    return (
        f"{label:34s} {r['rps']:>10,.0f} req/s  p50 {r['p50_ms']:.2f} ms  "
        f"p99 {r['p99_ms']:.2f} ms  cpu/req {cpu['user']:.1f}+{cpu['sys']:.1f} us"
    )
