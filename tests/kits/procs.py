"""Child processes of the tests (a gateway, a mesh control plane, a sidecar, an app): reading
the line a server prints once it serves, and stopping it.

Invariants: ``first_line`` never waits longer than its timeout; a child that prints nothing in
time is killed and the test fails naming it; a child whose stdout ends first gives ``""`` (the
caller fails with its own message and the child's stderr). ``stop`` always leaves the child reaped.
"""

from __future__ import annotations

import subprocess
import threading


def first_line(proc: subprocess.Popen, timeout: float) -> str:
    """The next line of ``proc``'s stdout (a text or a bytes pipe), stripped."""
    box: list[str | bytes] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"no line from {proc.args} within {timeout} s")
    line = box[0]
    if isinstance(line, bytes):
        line = line.decode(errors="replace")
    return line.strip()


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL if ``proc`` has not exited within ``timeout`` s; its exit status."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode
