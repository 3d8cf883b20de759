"""``python -m bench integrations``: the latency and CPU the framework integrations add per request.

For FastAPI (ASGI), Flask (WSGI) and Django, the same app is called in process, without and with
the carbonplane middleware, in alternating rounds of the same run: one request at a time, each
timed with ``perf_counter`` around the app call (ASGI: ``await app(scope, receive, send)`` on one
event loop; WSGI: ``app(environ, start_response)``, the body iterated and closed, as a server does).
No server and no socket, so the difference is the middleware's own cost on the request path. The
events really go to the embedded log (a fresh ``CARBONPLANE_HOME``) through the emitter's thread.

Reported per framework: the median of each round's p50 and p90 per request without and with the
middleware, the added p50 (median over rounds of the with-minus-without difference of the round
p50s), the request path's CPU per request (``thread_time`` of the calling thread) and the whole
process's CPU per request (``process_time``: also the emitter thread and the log's writer; an
instrumented round's window lasts until the emitter's queue is empty), and
that every instrumented request's event reached the log or was counted as dropped.

Invariant: plain and instrumented apps have the same routes and handlers; rounds alternate, so a
slow stretch of a shared machine hits both.
"""

from __future__ import annotations

import asyncio
import io
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

REQUESTS = 3000
ROUNDS = 7
WARMUP = 300


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _emitter(service: str) -> Any:
    from carbonplane.integrations import AuditSettings, Emitter

    return Emitter(AuditSettings(service))


# -- FastAPI (ASGI) ------------------------------------------------------------------------------


def _fastapi(emitter: Any | None) -> Any:
    from fastapi import FastAPI

    from carbonplane.integrations.asgi import CarbonplaneASGIMiddleware

    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int):
        return {"id": item_id}

    if emitter is not None:
        app.add_middleware(CarbonplaneASGIMiddleware, emitter=emitter)
    return app


def _asgi_round(app: Any, n: int) -> tuple[list[float], float, float]:
    scope_base = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/items/42",
        "raw_path": b"/items/42",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"user-agent", b"bench")],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 8000),
    }

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        pass

    async def many() -> tuple[list[float], float, float]:
        out = []
        cpu0, proc0 = time.thread_time(), time.process_time()
        for _ in range(n):
            scope = dict(scope_base)
            t0 = time.perf_counter()
            await app(scope, receive, send)
            out.append(time.perf_counter() - t0)
        return out, time.thread_time() - cpu0, time.process_time() - proc0

    return asyncio.run(many())


# -- Flask and Django (WSGI) --------------------------------------------------------------------


def _flask(emitter: Any | None) -> Any:
    from flask import Flask, jsonify

    from carbonplane.integrations.flask import instrument

    app = Flask("bench")
    app.add_url_rule("/items/<int:item_id>", "item", lambda item_id: jsonify(id=item_id))
    if emitter is not None:
        instrument(app, emitter=emitter, announce=False)
    return app


def _django(emitter: Any | None) -> Any:
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            SECRET_KEY="bench-only",
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="bench.integrations",
            INSTALLED_APPS=[],
            DATABASES={},
            MIDDLEWARE=[],
        )
        django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.test import override_settings

    import carbonplane.integrations.django as cp_django

    if emitter is None:
        return WSGIHandler()
    cp_django._emitter = emitter
    with override_settings(MIDDLEWARE=["carbonplane.integrations.django.CarbonplaneMiddleware"]):
        return WSGIHandler()


def _django_item(request: Any, item_id: int) -> Any:
    from django.http import JsonResponse

    return JsonResponse({"id": item_id})


def __getattr__(name: str) -> Any:  # Django's ROOT_URLCONF reads urlpatterns from this module
    if name == "urlpatterns":
        from django.urls import path

        return [path("items/<int:item_id>", _django_item)]
    raise AttributeError(name)


def _wsgi_round(app: Any, n: int) -> tuple[list[float], float, float]:
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/items/42",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_USER_AGENT": "bench",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }

    def start_response(status: str, headers: list, exc_info: Any = None) -> Any:
        return None

    out = []
    cpu0, proc0 = time.thread_time(), time.process_time()
    for _ in range(n):
        environ = dict(base)
        environ["wsgi.input"] = io.BytesIO(b"")
        t0 = time.perf_counter()
        body = app(environ, start_response)
        for _chunk in body:
            pass
        close = getattr(body, "close", None)
        if close is not None:
            close()
        out.append(time.perf_counter() - t0)
    return out, time.thread_time() - cpu0, time.process_time() - proc0


FRAMEWORKS: dict[str, tuple[Callable[[Any], Any], Callable[..., Any]]] = {
    "fastapi": (_fastapi, _asgi_round),
    "flask": (_flask, _wsgi_round),
    "django": (_django, _wsgi_round),
}


def _one(name: str, rounds: int, n: int, log: Callable[..., None]) -> dict[str, Any]:
    build, run_round = FRAMEWORKS[name]
    emitter = _emitter(f"bench-{name}")
    plain, instrumented = build(None), build(emitter)
    run_round(plain, WARMUP)
    run_round(instrumented, WARMUP)
    rows: dict[str, list[float]] = {k: [] for k in ("p50", "p90", "cpu", "proc")}
    rows_i: dict[str, list[float]] = {k: [] for k in ("p50", "p90", "cpu", "proc")}
    added = []
    for _ in range(rounds):
        for app, into in ((plain, rows), (instrumented, rows_i)):
            proc0 = time.process_time()
            times, cpu, _ = run_round(app, n)
            if app is instrumented:  # its events' CPU belongs to its round, not to the next one
                while emitter.stats()["queued"]:
                    time.sleep(0.001)
            proc = time.process_time() - proc0
            into["p50"].append(_percentile(times, 0.5) * 1e6)
            into["p90"].append(_percentile(times, 0.9) * 1e6)
            into["cpu"].append(cpu / n * 1e6)
            into["proc"].append(proc / n * 1e6)
        added.append(rows_i["p50"][-1] - rows["p50"][-1])
    emitter.close(30)
    stats = emitter.stats()
    result = {
        "requests_per_round": n,
        "rounds": rounds,
        "plain_p50_us": statistics.median(rows["p50"]),
        "with_p50_us": statistics.median(rows_i["p50"]),
        "plain_p90_us": statistics.median(rows["p90"]),
        "with_p90_us": statistics.median(rows_i["p90"]),
        "added_p50_us": statistics.median(added),
        "added_p50_us_rounds": [round(a, 2) for a in added],
        "plain_cpu_us": statistics.median(rows["cpu"]),
        "with_cpu_us": statistics.median(rows_i["cpu"]),
        "plain_process_cpu_us": statistics.median(rows["proc"]),
        "with_process_cpu_us": statistics.median(rows_i["proc"]),
        "events": stats,
    }
    log(
        f"{name:8} p50 {result['plain_p50_us']:7.1f} -> {result['with_p50_us']:7.1f} us "
        f"(added {result['added_p50_us']:5.1f} us; rounds {result['added_p50_us_rounds']}), "
        f"p90 {result['plain_p90_us']:7.1f} -> {result['with_p90_us']:7.1f} us, "
        f"request-path CPU {result['plain_cpu_us']:6.1f} -> {result['with_cpu_us']:6.1f} us, "
        f"process CPU {result['plain_process_cpu_us']:6.1f} -> "
        f"{result['with_process_cpu_us']:6.1f} us; events {stats}"
    )
    return result


def run(quick: bool = False, log: Callable[..., None] = print) -> dict[str, Any]:
    rounds, n = (2, 300) if quick else (ROUNDS, REQUESTS)
    with tempfile.TemporaryDirectory(prefix="cp-bench-integrations-") as home:
        os.environ["CARBONPLANE_HOME"] = home
        for name in ("KAFKA_BOOTSTRAP_SERVERS", "CARBONPLANE_EVENTS_BACKEND"):
            os.environ.pop(name, None)  # the embedded log, in the temporary home
        log(f"integrations: {rounds} alternating rounds of {n} requests per framework, in process")
        return {name: _one(name, rounds, n, log) for name in FRAMEWORKS}


if __name__ == "__main__":
    run()
