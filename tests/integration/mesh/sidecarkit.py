"""Helpers for the sidecar tests: apps and sidecars as real processes, plain HTTP calls."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

from controlkit import CLI
from tests.kits import procs
from tests.kits.net import free_port

APP = str(Path(__file__).with_name("meshapp.py"))
DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class Proc:
    def __init__(self, args: list[str], env: dict | None = None) -> None:
        self.args = args
        self.stderr: list[str] = []
        self.proc = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
        )
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.stderr.append(line)

    def line(self, timeout: float = 30) -> str:
        return procs.first_line(self.proc, timeout)

    def stop(self) -> None:
        procs.stop(self.proc)


class Workload:
    """An app process and its sidecar process."""

    def __init__(self, name: str, control, token: Path, tmp: Path, env: dict) -> None:
        self.name = name
        self.app_port, self.outbound_port = free_port(), free_port()
        self.app = Proc(
            [sys.executable, APP, name, str(self.app_port), f"127.0.0.1:{self.outbound_port}"]
        )
        assert self.app.line().startswith("app "), self.app.stderr
        self.sidecar = Proc(
            [
                CLI,
                "mesh",
                "sidecar",
                "--service",
                name,
                "--app",
                f"127.0.0.1:{self.app_port}",
                "--control",
                control.address,
                "--token-file",
                str(token),
                "--root-file",
                str(control.data / "trust-bundle.pem"),
                "--inbound",
                "127.0.0.1:0",
                "--outbound",
                f"127.0.0.1:{self.outbound_port}",
                "--admin",
                "127.0.0.1:0",
                "--data",
                str(tmp / f"sidecar-{name}"),
            ],
            env=env,
        )
        line = self.sidecar.line(60)
        assert line.startswith("mesh sidecar: "), (line, self.sidecar.stderr)
        words = line.split()
        self.inbound = words[4]
        self.inbound_port = int(self.inbound.rsplit(":", 1)[1])
        self.admin = words[8]

    def call(self, service: str, path: str = "hello", headers: dict | None = None) -> dict:
        """The app calls ``service`` through its own sidecar: {"status", "body"}."""
        req = urllib.request.Request(
            f"http://127.0.0.1:{self.app_port}/call/{service}/{path}", headers=headers or {}
        )
        with DIRECT.open(req, timeout=20) as resp:
            return json.loads(resp.read())

    def admin_get(self, path: str) -> tuple[int, bytes]:
        try:
            with DIRECT.open(f"http://{self.admin}{path}", timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def status(self) -> dict:
        return json.loads(self.admin_get("/config_dump")[1])

    def stop(self) -> None:
        self.sidecar.stop()
        self.app.stop()


def events_env(home: Path) -> dict:
    env = dict(os.environ)
    env["CARBONPLANE_HOME"] = str(home)
    env["CARBONPLANE_EVENTS_BACKEND"] = "local"
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    return env
