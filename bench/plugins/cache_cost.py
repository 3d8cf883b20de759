"""proxy-cache: a cache hit against the same request proxied to the upstream, end to end.

wrk on loopback (``-t1 -c50``, ``--seconds`` per run, ``--runs`` runs, medians, after a 1 s
warm-up) against ``carbonplane gateway start --workers 1`` with one route to nginx (1 worker,
``return 200`` of a small text/plain body):

- ``upstream``: the route without plugins: every request goes to nginx;
- ``hit``: the same route with proxy-cache (strategy memory, ``cache_ttl`` 3600): after the
  warm-up every request is answered from the worker's memory.

Reported per configuration: requests/s, p50/p99 latency and the CPU per request of the
gateway's processes and of nginx (user + kernel microseconds, from /proc). Every process is
started here in a temp dir on 127.0.0.1 and stopped here; a non-2xx answer fails the run.

Run: ``.venv/bin/python -m bench.plugins.cache_cost [--runs 3] [--seconds 5] [--json]``
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import statistics
import tempfile
from pathlib import Path

import yaml

from bench.gateway import free_port, measure, start_gateway, start_nginx, stop
from bench.machine import group_cpu_seconds

BODY = "hello from the upstream\n"


def config(tmp: Path, upstream_port: int, cached: bool) -> Path:
    route = {"name": "bench", "paths": ["/"]}
    if cached:
        route["plugins"] = [
            {"name": "proxy-cache", "config": {"strategy": "memory", "cache_ttl": 3600}}
        ]
    doc = {
        "_format_version": "3.0",
        "services": [
            {"name": "bench", "url": f"http://127.0.0.1:{upstream_port}/", "routes": [route]}
        ],
    }
    path = tmp / ("cached.yml" if cached else "plain.yml")
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run(runs: int, seconds: int) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="carbonplane-bench-cache-"))
    results: dict = {"runs": runs, "seconds": seconds}
    up_port = free_port()
    upstream = start_nginx(
        tmp,
        "upstream",
        f"server {{ listen 127.0.0.1:{up_port}; "
        f"location / {{ default_type text/plain; return 200 '{BODY}'; }} }}",
        up_port,
    )
    try:
        for key, cached in (("upstream", False), ("hit", True)):
            port, admin_port = free_port(), free_port()
            gw = start_gateway(config(tmp, up_port, cached), port, admin_port)
            try:
                before = group_cpu_seconds(upstream.pid)
                result = measure(port, runs, seconds, [], gw.pid)
                after = group_cpu_seconds(upstream.pid)
            finally:
                stop(gw)
            total = sum(s["rps"] * seconds for s in result["runs"])
            result["upstream_cpu_us_per_request"] = (
                (sum(after) - sum(before)) / total * 1e6
            )  # includes the warm-up's requests in the numerator: an upper bound
            results[key] = result
    finally:
        stop(upstream, signal.SIGQUIT)
        shutil.rmtree(tmp, ignore_errors=True)
    hit, up = results["hit"], results["upstream"]
    results["hit_vs_upstream_rps"] = hit["rps"] / up["rps"]
    results["median_gateway_cpu_us"] = {
        k: statistics.median(s["user_us"] + s["sys_us"] for s in results[k]["runs"])
        for k in ("upstream", "hit")
    }
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.runs, args.seconds)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key in ("upstream", "hit"):
        r = results[key]
        cpu = r["cpu_us_per_request"]
        print(
            f"{key:9s} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:.2f} ms  p99 {r['p99_ms']:.2f} ms"
            f"  gateway cpu/req {cpu['user']:.0f}+{cpu['sys']:.0f} us"
            f"  nginx cpu/req {r['upstream_cpu_us_per_request']:.1f} us"
        )
    print(f"hit / upstream req/s: {results['hit_vs_upstream_rps']:.2f}x")


if __name__ == "__main__":
    main()
