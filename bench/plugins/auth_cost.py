"""Per-request CPU cost of the basic-auth, hmac-auth and bot-detection access hooks (key-auth
measured in the same run as the baseline), in-process on parsed request heads.

Each case builds the handler from a typical config with one consumer and credential, prebuilds
``--requests`` contexts (parsing is not timed) and times ``on_request`` over all of them (plus
``on_request_body`` for hmac-auth's Digest case, a 1 KB body in one piece). Every case runs
``--repeats`` times; the median wall and process-CPU microseconds per request are printed.
Bot-detection is measured three ways: a browser User-Agent already in the verdict cache (the
typical path), a User-Agent new to the cache each time (the regexes run), and hostile 8 KB
User-Agents new to the cache (the worst case found).

Run: ``.venv/bin/python -m bench.plugins.auth_cost [--requests N] [--repeats R] [--json]``
"""

from __future__ import annotations

import argparse
import base64
import email.utils
import hashlib
import hmac
import json
import statistics
import time
from typing import Any

from carbonplane.gateway.config.entities import validate_plugin
from carbonplane.gateway.config.loader import load_config_data
from carbonplane.gateway.plugins import PluginServices, load_bundled, plugin_def
from carbonplane.gateway.plugins.pdk.authn import with_gateway_config
from carbonplane.http import Limits, RequestHeadParser
from carbonplane.proxy.app import Client, RequestContext

_PARSER = RequestHeadParser(Limits(max_head_bytes=32768))
BROWSER = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
SECRET = "hmac-secret-0123456789abcdef"
BODY = b'{"x": "' + b"y" * 1000 + b'"}'

GW = load_config_data(
    {
        "_format_version": "3.0",
        "consumers": [
            {
                "username": "reporting-job",
                "keyauth_credentials": [{"key": "k-0123456789abcdef"}],
                "basicauth_credentials": [{"username": "job", "password": "p4ssw0rd-long"}],
                "hmacauth_credentials": [{"username": "job-hmac", "secret": SECRET}],
            }
        ],
    }
)


def _context(extra: list[tuple[str, str]], method: str = "GET", body: bytes = b"") -> Any:
    lines = [f"{method} /api/datahub/entities?urn=abc HTTP/1.1", "Host: gw.254carbon.com"]
    lines += ["Accept: application/json"] + [f"{k}: {v}" for k, v in extra]
    if body:
        lines.append(f"Content-Length: {len(body)}")
    head = _PARSER.parse(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    ctx = RequestContext(
        head, Client("10.0.0.1", 40000, False, b"http", 8000), "10.0.0.1", b"r", 0.0, 0
    )
    ctx.upstream_target = head.path + head.query
    return ctx


def _hmac_headers(body: bytes = b"") -> list[tuple[str, str]]:
    date = email.utils.formatdate(usegmt=True)
    headers = [("Date", date)]
    names = "date request-line"
    lines = [f"date: {date}", "GET /api/datahub/entities?urn=abc HTTP/1.1"]
    if body:
        digest = "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode()
        headers.append(("Digest", digest))
        names += " digest"
        lines = [f"date: {date}", "POST /api/datahub/entities?urn=abc HTTP/1.1"]
        lines.append(f"digest: {digest}")
    mac = hmac.new(SECRET.encode(), "\n".join(lines).encode(), hashlib.sha256).digest()
    headers.append(
        (
            "Authorization",
            f'hmac username="job-hmac", algorithm="hmac-sha256", headers="{names}", '
            f'signature="{base64.b64encode(mac).decode()}"',
        )
    )
    return headers


def _handler(name: str, config: dict) -> Any:
    row, problems = validate_plugin({"name": name, "config": config})
    assert not problems, problems
    row["id"] = "b" * 8
    return plugin_def(name).handler(row["config"], row, with_gateway_config(PluginServices(), GW))


def cases(n: int) -> list[tuple[str, Any, Any]]:
    """(label, handler, a function making the i-th request's context)."""
    basic = "Basic " + base64.b64encode(b"job:p4ssw0rd-long").decode()
    return [
        (
            "key-auth (baseline)",
            _handler("key-auth", {}),
            lambda i: _context([("apikey", "k-0123456789abcdef")]),
        ),
        ("basic-auth", _handler("basic-auth", {}), lambda i: _context([("Authorization", basic)])),
        ("hmac-auth", _handler("hmac-auth", {}), lambda i: _context(_hmac_headers())),
        (
            "hmac-auth + 1 KB Digest",
            _handler("hmac-auth", {"validate_request_body": True}),
            lambda i: _context(_hmac_headers(BODY), "POST", BODY),
        ),
        (
            "bot-detection (cached UA)",
            _handler("bot-detection", {}),
            lambda i: _context([("User-Agent", BROWSER)]),
        ),
        (
            "bot-detection (new UA)",
            _handler("bot-detection", {}),
            lambda i: _context([("User-Agent", f"{BROWSER} build/{i}")]),
        ),
        (
            "bot-detection (8 KB new UA)",
            _handler("bot-detection", {}),
            lambda i: _context([("User-Agent", f"{i} " + "a1_" * 2600)]),
        ),
    ]


def run(handler: Any, make: Any, n: int, seed: int) -> tuple[float, float]:
    contexts = [make(seed * n + i) for i in range(n)]
    body = hasattr(handler, "on_request_body")
    cpu0, t0 = time.process_time(), time.perf_counter()
    for ctx in contexts:
        verdict = handler.on_request(ctx)
        assert verdict is None, verdict
        if body:
            handler.on_request_body(ctx, BODY, False)
            handler.on_request_body(ctx, b"", True)
    return (time.perf_counter() - t0) / n * 1e6, (time.process_time() - cpu0) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    load_bundled()
    results = {}
    for label, handler, make in cases(args.requests):
        n = args.requests if "8 KB" not in label else max(1, args.requests // 100)
        run(handler, make, min(n, 500), 10_000)  # warm up (the cached case fills its cache)
        samples = [run(handler, make, n, r) for r in range(args.repeats)]
        results[label] = {
            "wall_us": round(statistics.median(s[0] for s in samples), 2),
            "cpu_us": round(statistics.median(s[1] for s in samples), 2),
            "requests": n,
        }
    if args.json:
        print(json.dumps(results))
        return
    print(f"{'plugin':30} {'wall us/req':>12} {'cpu us/req':>12} {'requests':>9}")
    for label, r in results.items():
        print(f"{label:30} {r['wall_us']:12.2f} {r['cpu_us']:12.2f} {r['requests']:9}")


if __name__ == "__main__":
    main()
