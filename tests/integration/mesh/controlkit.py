"""Helpers for the control plane tests: the control plane as a real process (``carbonplane mesh
control``), the CLI as real processes, join tokens, and agents run in the test's event loop."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.kits import procs

from carbonplane.mesh.agent import Agent
from carbonplane.mesh.identity import CertificateAuthority, JoinTokens

CLI = str(Path(sys.executable).parent / "carbonplane")

STRICT = """\
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec:
  mtls: {mode: STRICT}
"""


def allow_policy(name: str, principal: str) -> str:
    return f"""\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {{name: {name}, namespace: default}}
spec:
  action: ALLOW
  rules:
  - from:
    - source: {{principals: ["{principal}"]}}
"""


DESTINATION_RULE = """\
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: orders, namespace: default}
spec:
  host: orders.default.svc.cluster.local
"""


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=timeout)


class ControlProcess:
    """``carbonplane mesh control`` in a child process; ``address`` once it listens."""

    def __init__(self, config: Path, data: Path, *extra: str) -> None:
        self.config, self.data, self.extra = config, data, extra
        self.proc: subprocess.Popen | None = None
        self.address = ""
        self.stderr: list[str] = []

    def start(self, listen: str = "127.0.0.1:0", timeout: float = 30) -> "ControlProcess":
        self.proc = subprocess.Popen(
            [
                CLI,
                "mesh",
                "control",
                "--config",
                str(self.config),
                "--data",
                str(self.data),
                "--listen",
                listen,
                *self.extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        threading.Thread(target=self._drain_stderr, args=(self.proc,), daemon=True).start()
        line = procs.first_line(self.proc, timeout)
        assert line.startswith("mesh control: listening on "), (line, self.stderr)
        self.address = line.split()[4].rstrip(",")
        return self

    def _drain_stderr(self, proc) -> None:
        for line in proc.stderr:
            self.stderr.append(line)

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc:
            procs.stop(self.proc)

    def status(self) -> dict:
        out = cli("mesh", "status", "--json", "--data", str(self.data))
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)


def tokens_for(data: Path, services: list[str], namespace: str = "default") -> dict[str, Path]:
    """Join token files issued on the data directory, as ``mesh token`` does (shared flock)."""
    tokens = JoinTokens(data, CertificateAuthority(data))
    out = {}
    for s in services:
        path = data / "join-test" / f"{s}.token"
        path.parent.mkdir(exist_ok=True, mode=0o700)
        tokens.issue_token(s, namespace, write_to=path)
        out[s] = path
    return out


def agent_for(control: ControlProcess, tmp: Path, service: str, token: Path, **kw) -> Agent:
    root = control.data / "trust-bundle.pem"
    return Agent(
        control.address,
        token,
        root,
        tmp / "agents" / f"{service}-{kw.pop('n', 0)}",
        service,
        backoff_base=0.05,
        backoff_cap=0.5,
        **kw,
    )


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


async def status_until(control: ControlProcess, predicate, timeout: float, what: str) -> dict:
    """Poll ``mesh status --json`` (a real CLI process, off the event loop) until ``predicate``."""
    import asyncio

    deadline = time.monotonic() + timeout
    while True:
        status = await asyncio.to_thread(control.status)
        if predicate(status):
            return status
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}: {status}")
        await asyncio.sleep(0.1)
