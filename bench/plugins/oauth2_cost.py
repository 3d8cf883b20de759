"""What the oauth2 plugin costs in a running gateway (``carbonplane gateway start``, one worker,
embedded token store under a temporary ``CARBONPLANE_HOME``), over loopback sockets.

Four sequential workloads on one keep-alive connection, each timed per request (median, p99)
with the gateway's CPU time per request (its processes' utime + stime from ``/proc``):

- ``open``: a route answered by request-termination alone (the baseline);
- ``bearer``: the same with oauth2 in front, a valid bearer token on every request;
- ``token-plain`` / ``token-hashed``: client_credentials token requests, the client's secret
  stored plain or hashed (PBKDF2-SHA512, 10,000 rounds).

Bounded: ``--requests`` per workload (default 2000; token workloads a tenth of it), repeated
``--runs`` times (default 3) and reported as the median run.

Run: ``.venv/bin/python -m bench.plugins.oauth2_cost [--requests N] [--runs N] [--json]``
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import yaml

REPO = Path(__file__).resolve().parents[2]
CARBONPLANE = str(REPO / ".venv" / "bin" / "carbonplane")
TICK = os.sysconf("SC_CLK_TCK")
FORM = {"content-type": "application/x-www-form-urlencoded", "x-forwarded-proto": "https"}


def config() -> dict:
    answer = {"name": "request-termination", "config": {"status_code": 200, "message": "ok"}}
    oauth2 = {
        "name": "oauth2",
        "config": {
            "enable_client_credentials": True,
            "accept_http_if_already_terminated": True,
            "provision_key": "bench-provision-key",
        },
    }
    return {
        "_format_version": "3.0",
        "services": [
            {
                "name": "svc",
                "url": "http://127.0.0.1:9",
                "routes": [
                    {"name": "open", "paths": ["/open"], "plugins": [answer]},
                    {"name": "auth", "paths": ["/auth"], "plugins": [answer, oauth2]},
                ],
            }
        ],
        "consumers": [
            {
                "username": "bench",
                "oauth2_credentials": [
                    {"name": "plain", "client_id": "plain", "client_secret": "s1"},
                    {
                        "name": "hashed",
                        "client_id": "hashed",
                        "client_secret": "s2",
                        "hash_secret": True,
                    },
                ],
            }
        ],
    }


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` and its descendants."""
    total = 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / TICK
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def start(directory: Path) -> tuple[subprocess.Popen, int]:
    path = directory / "kong.yml"
    path.write_text(yaml.safe_dump(config(), sort_keys=False))
    env = {**os.environ, "CARBONPLANE_HOME": str(directory / "home")}
    proc = subprocess.Popen(
        [
            CARBONPLANE,
            "gateway",
            "start",
            "--config",
            str(path),
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--workers",
            "1",
            "--trusted-ips",
            "127.0.0.1/32",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    line = proc.stdout.readline().decode()
    if not line.startswith("gateway: proxy on"):
        proc.kill()
        raise SystemExit(f"gateway did not start: {line!r}")
    return proc, int(line.split(" on ")[1].split()[0].rsplit(":", 1)[1])


def workload(port: int, pid: int, n: int, request) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    times = []
    cpu0 = cpu_seconds(pid)
    for _ in range(n):
        t0 = time.perf_counter()
        status = request(conn)
        times.append(time.perf_counter() - t0)
        if status != 200:
            raise SystemExit(f"unexpected status {status}")
    cpu = cpu_seconds(pid) - cpu0
    conn.close()
    times.sort()
    return {
        "requests": n,
        "median_us": round(statistics.median(times) * 1e6),
        "p99_us": round(times[int(len(times) * 0.99) - 1] * 1e6),
        "cpu_us_per_request": round(cpu / n * 1e6),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    runs: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        proc, port = start(Path(tmp))
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            body = urlencode(
                {"grant_type": "client_credentials", "client_id": "plain", "client_secret": "s1"}
            )
            conn.request("POST", "/auth/oauth2/token", body=body, headers=FORM)
            token = json.loads(conn.getresponse().read())["access_token"]
            conn.close()

            def get(path: str, headers: dict):
                def request(c):
                    c.request("GET", path, headers=headers)
                    resp = c.getresponse()
                    resp.read()
                    return resp.status

                return request

            def issue(client_id: str, secret: str):
                form = urlencode(
                    {
                        "grant_type": "client_credentials",
                        "client_id": client_id,
                        "client_secret": secret,
                    }
                )

                def request(c):
                    c.request("POST", "/auth/oauth2/token", body=form, headers=FORM)
                    resp = c.getresponse()
                    resp.read()
                    return resp.status

                return request

            loads = {
                "open": (args.requests, get("/open/x", {})),
                "bearer": (args.requests, get("/auth/x", {"authorization": f"Bearer {token}"})),
                "token-plain": (max(args.requests // 10, 1), issue("plain", "s1")),
                "token-hashed": (max(args.requests // 10, 1), issue("hashed", "s2")),
            }
            for _ in range(args.runs):
                for name, (n, request) in loads.items():
                    runs.setdefault(name, []).append(workload(port, proc.pid, n, request))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
    result = {
        name: sorted(rs, key=lambda r: r["median_us"])[len(rs) // 2] for name, rs in runs.items()
    }
    if args.json:
        print(json.dumps(result))
    else:
        for name, r in result.items():
            print(
                f"{name:13} n={r['requests']:5}  median {r['median_us']:6} us  "
                f"p99 {r['p99_us']:6} us  gateway CPU {r['cpu_us_per_request']:5} us/request"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
