"""SIGHUP and ``carbonplane gateway reload`` re-read the start file, over real processes.

Valid file: every worker runs it and the Admin API shows it, with no request of a steady load
failing. Invalid file: reported with ``file:line`` on stderr (or by the CLI), the running config
keeps serving and the Admin API keeps showing it. The gateway never dies on SIGHUP, and neither
SIGHUP nor SIGPIPE to a worker (or SIGPIPE to the master) restarts anything."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from gwharness import CARBONPLANE, REPO, GatewayProcess, LoadLoop, http, write_config
from test_gateway_reload_large import large_config
from tests.kits.net import wait_until
from tests.kits.standin import StandIn

INVALID = """_format_version: "3.0"
services:
- name: api
  url: http://127.0.0.1:9/
  routez: []
"""  # line 5: an unknown field
TOKEN = "reload-test-token-0123456789"


class StderrLines:
    """Read a process's stderr in the background (so the pipe never fills) and keep its lines."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self._thread.start()

    def _read(self, proc: subprocess.Popen) -> None:
        for raw in proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip())

    def wait_for(self, text: str, after: int = 0, timeout: float = 60.0) -> str:
        return wait_until(
            lambda: next((ln for ln in self.lines[after:] if text in ln), None),
            timeout=timeout,
            what=f"stderr line with {text!r}",
        )


@pytest.fixture
def pair():
    a, b = StandIn("a").start(), StandIn("b").start()
    yield a, b
    a.stop()
    b.stop()


def small(up: StandIn, version: int) -> dict:
    return large_config(up, version, routes=200, consumers=200)


def serves(port: int, version: int, name: str) -> None:
    for _ in range(8):  # fresh connections: both workers
        status, _, doc = http(port, "GET", f"/marker-{version}/x")
        assert status == 200 and doc["name"] == name, (status, doc)


def status(port: int, token: str | None = None) -> dict:
    return http(port, "GET", "/status", headers={"kong-admin-token": token} if token else None)[2]


def admin_config_has(port: int, marker: str, token: str | None = None) -> bool:
    doc = http(port, "GET", "/config", headers={"kong-admin-token": token} if token else None)[2]
    return marker in doc["config"]


def test_sighup_reloads_the_file_and_survives_bad_files_and_stray_signals(tmp_path, pair):
    a, b = pair
    path = write_config(tmp_path / "kong.yml", small(a, 0))
    with GatewayProcess(path, workers=2) as gw:
        err = StderrLines(gw.proc)
        start = status(gw.admin_port)
        pids = sorted(start["server"]["worker_pids"])
        load = LoadLoop(
            gw.proxy_port, ["/api/x", "/r7/12", "/p8/z"], connections=8, max_seconds=90
        ).start()
        wait_until(lambda: load.ok >= 50, what="load flowing")

        write_config(path, small(b, 1))
        mark = len(err.lines)
        os.kill(gw.proc.pid, signal.SIGHUP)
        err.wait_for("SIGHUP: reloaded", mark)
        serves(gw.proxy_port, 1, "b")
        assert admin_config_has(gw.admin_port, "/marker-1")
        assert status(gw.admin_port)["configuration_version"] == start["configuration_version"] + 1

        for text, line in ((INVALID, 5), ("_format_version: '3.0'\nservices: [\n", 3)):
            path.write_text(text)
            mark = len(err.lines)
            os.kill(gw.proc.pid, signal.SIGHUP)
            report = err.wait_for("not reloaded", mark)
            assert f"kong.yml:{line}" in report, report
            serves(gw.proxy_port, 1, "b")  # the previous config keeps serving ...
            assert admin_config_has(gw.admin_port, "/marker-1")  # ... and is what the API shows
            assert (
                status(gw.admin_port)["configuration_version"] == start["configuration_version"] + 1
            )

        for pid in pids:  # stray signals to workers this test's gateway started
            os.kill(pid, signal.SIGHUP)
            os.kill(pid, signal.SIGPIPE)
        os.kill(gw.proc.pid, signal.SIGPIPE)

        write_config(path, small(a, 2))
        mark = len(err.lines)
        for _ in range(5):  # a burst (the kernel may merge pending ones): nothing dies
            os.kill(gw.proc.pid, signal.SIGHUP)
        err.wait_for("SIGHUP: reloaded", mark)
        serves(gw.proxy_port, 2, "a")
        time.sleep(1)  # let any merged-in reloads finish before counting versions
        reloads = sum("SIGHUP: reloaded" in ln for ln in err.lines[mark:])
        assert 1 <= reloads <= 5
        wait_until(lambda: load.names.get("a", 0) > 20, what="load served after the burst")
        load.stop()
        final = status(gw.admin_port)
        assert gw.proc.poll() is None
    assert load.failures == [], (len(load.failures), load.failures[:5])
    assert final["server"]["worker_restarts"] == 0
    assert sorted(final["server"]["worker_pids"]) == pids
    assert final["configuration_version"] == start["configuration_version"] + 1 + reloads


def cli_reload(admin_port: int, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CARBONPLANE, "gateway", "reload", "--admin-url", f"http://127.0.0.1:{admin_port}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def test_cli_reload_rereads_the_start_file_through_the_admin_api(tmp_path, pair):
    a, b = pair
    path = write_config(tmp_path / "kong.yml", small(a, 0))
    env = {"RELOAD_TOKEN": TOKEN}
    with GatewayProcess(
        path, workers=2, extra=["--admin-token-env", "RELOAD_TOKEN"], env=env
    ) as gw:
        StderrLines(gw.proc)
        write_config(path, small(b, 1))
        refused = cli_reload(gw.admin_port)  # no token
        assert refused.returncode == 1 and "401" in refused.stderr, refused
        assert http(gw.proxy_port, "GET", "/marker-1/x")[0] == 404

        done = cli_reload(gw.admin_port, "--admin-token-env", "RELOAD_TOKEN", env=env)
        assert done.returncode == 0, done
        serves(gw.proxy_port, 1, "b")
        assert admin_config_has(gw.admin_port, "/marker-1", TOKEN)

        path.write_text(INVALID)
        bad = cli_reload(gw.admin_port, "--admin-token-env", "RELOAD_TOKEN", env=env)
        assert bad.returncode == 2 and "kong.yml:5" in bad.stderr, bad
        serves(gw.proxy_port, 1, "b")
        assert admin_config_has(gw.admin_port, "/marker-1", TOKEN)
        assert status(gw.admin_port, TOKEN)["server"]["worker_restarts"] == 0

        json_out = cli_reload(gw.admin_port, "--json", "--admin-token-env", "RELOAD_TOKEN", env=env)
        assert json_out.returncode == 2
        assert json.loads(json_out.stdout)["flattened_errors"][0]["where"].endswith(
            "kong.yml:5: services[0].routez"
        )
    gone = cli_reload(gw.admin_port)
    assert gone.returncode == 1 and "cannot reach the Admin API" in gone.stderr, gone


def test_post_config_racing_sighup_leaves_api_and_workers_agreeing(tmp_path, pair):
    a, b = pair
    path = write_config(tmp_path / "kong.yml", small(a, 0))
    with GatewayProcess(path, workers=2) as gw:
        err = StderrLines(gw.proc)
        for round_ in range(1, 4):
            write_config(path, small(a, 100 + round_))
            body = json.dumps(small(b, 200 + round_)).encode()
            mark = len(err.lines)
            poster = threading.Thread(
                target=http,
                args=(gw.admin_port, "POST", "/config"),
                kwargs={
                    "body": body,
                    "timeout": 60,
                    "headers": {"content-type": "application/json"},
                },
            )
            poster.start()
            time.sleep(0.01 * round_)
            os.kill(gw.proc.pid, signal.SIGHUP)
            poster.join(60)
            err.wait_for("SIGHUP: reloaded", mark)
            # whichever came last is what the Admin API shows and what every worker runs
            shown = (
                100 + round_
                if admin_config_has(gw.admin_port, f"/marker-{100 + round_}")
                else 200 + round_
            )
            assert admin_config_has(gw.admin_port, f"/marker-{shown}")
            serves(gw.proxy_port, shown, "a" if shown < 200 else "b")
        assert status(gw.admin_port)["server"]["worker_restarts"] == 0


def test_sighup_reloads_an_in_process_gateway_too(tmp_path, pair):
    a, b = pair
    path = write_config(tmp_path / "kong.yml", small(a, 0))
    with GatewayProcess(path, extra=["--in-process"]) as gw:
        err = StderrLines(gw.proc)
        write_config(path, small(b, 1))
        os.kill(gw.proc.pid, signal.SIGHUP)
        err.wait_for("SIGHUP: reloaded")
        serves(gw.proxy_port, 1, "b")
        path.write_text(INVALID)
        mark = len(err.lines)
        os.kill(gw.proc.pid, signal.SIGHUP)
        assert "kong.yml:5" in err.wait_for("not reloaded", mark)
        serves(gw.proxy_port, 1, "b")
        assert admin_config_has(gw.admin_port, "/marker-1")
        assert gw.proc.poll() is None


def test_sigterm_during_a_sighup_reload_stops_promptly(tmp_path, pair):
    a, _ = pair
    path = write_config(tmp_path / "kong.yml", small(a, 0))
    with GatewayProcess(path, workers=2) as gw:
        err = StderrLines(gw.proc)
        pids = status(gw.admin_port)["server"]["worker_pids"]
        threads = {pid: len(os.listdir(f"/proc/{pid}/task")) for pid in pids}
        write_config(path, large_config(a, 1, routes=3000, consumers=3000))  # seconds to build
        os.kill(gw.proc.pid, signal.SIGHUP)
        # a worker compiles in a thread of its own: once one appears the master is waiting for
        # the workers' acknowledgements
        wait_until(
            lambda: any(len(os.listdir(f"/proc/{pid}/task")) > threads[pid] for pid in pids),
            timeout=60,
            interval=0.005,
            what="a worker compiling the re-read file",
        )
        started = time.monotonic()
        gw.proc.send_signal(signal.SIGTERM)
        assert gw.proc.wait(60) == 0, err.lines[-5:]
        assert time.monotonic() - started < 30  # not the 120 s publish timeout
