"""The ``carbonplane`` command itself: version, help, the one place errors become exit codes, group
registration, and the installed script run as a real process on the embedded log."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import msgspec
import typer
from typer.testing import CliRunner

from carbonplane import __version__
from carbonplane.cli.main import app, register_group
from carbonplane.cli.output import Backends
from carbonplane.errors import BackendUnavailableError
from carbonplane.events.backends.factory import open_producer_backend
from carbonplane.events.backends.memory import MemoryLog
from carbonplane.events.config import EventsConfig

runner = CliRunner()
SCRIPT = Path(sys.executable).with_name("carbonplane")


def test_version_and_help_list_every_group():
    assert runner.invoke(app, ["--version"]).stdout == f"carbonplane {__version__}\n"
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for group in ("topics", "events", "audit"):
        assert group in result.stdout


def test_expected_errors_are_one_line_with_their_exit_code():
    shared = Backends.shared(MemoryLog())
    unknown = runner.invoke(app, ["events", "tail", "nope", "--from-beginning"], obj=shared)
    assert unknown.exit_code == 1
    assert (
        unknown.stderr == "error: unknown topic 'nope': create it first "
        "(carbonplane topics apply, or apply_topics)\n"
    )
    assert unknown.stdout == ""

    bad_time = runner.invoke(app, ["audit", "search", "--since", "last tuesday"], obj=shared)
    assert bad_time.exit_code == 2
    assert bad_time.stderr.startswith("error: --since: cannot read 'last tuesday' as a time")
    assert len(bad_time.stderr.splitlines()) == 1


def test_a_registered_group_runs_under_the_same_error_handling():
    extra = typer.Typer(help="A group added from outside.")

    @extra.command("fail")
    def fail() -> None:
        raise BackendUnavailableError("the broker is down; start it with `make kafka-up`")

    @extra.command("hello")
    def hello() -> None:
        typer.echo("hello")

    register_group(extra, "extra-test")
    try:
        assert "extra-test" in runner.invoke(app, ["--help"]).stdout
        assert runner.invoke(app, ["extra-test", "hello"]).stdout == "hello\n"
        failed = runner.invoke(app, ["extra-test", "fail"])
        assert failed.exit_code == 1
        assert failed.stderr == "error: the broker is down; start it with `make kafka-up`\n"
    finally:
        app.registered_groups[:] = [g for g in app.registered_groups if g.name != "extra-test"]
    assert "extra-test" not in runner.invoke(app, ["--help"]).stdout


def _local_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("KAFKA_BOOTSTRAP_SERVERS", "CARBONPLANE_EVENTS_BACKEND")
    }
    return {**env, "CARBONPLANE_HOME": str(home)}


def _run(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(SCRIPT), *args], env=_local_env(home), capture_output=True, text=True, timeout=60
    )


def test_the_installed_script_manages_and_reads_the_embedded_log(tmp_path):
    assert SCRIPT.exists(), f"{SCRIPT} is missing: install the package (`make setup`)"
    first = _run(tmp_path, "topics", "apply", "--json")
    assert first.returncode == 0, first.stderr
    assert len(msgspec.json.decode(first.stdout)["topics"]) == 12

    again = _run(tmp_path, "topics", "apply", "--json")
    assert {t["action"] for t in msgspec.json.decode(again.stdout)["topics"]} == {"unchanged"}

    listed = _run(tmp_path, "topics", "list", "--json")
    assert [row["status"] for row in msgspec.json.decode(listed.stdout)] == ["ok"] * 12

    empty = _run(tmp_path, "events", "tail", "data-ingestion", "--from-beginning", "--json")
    assert (empty.returncode, empty.stdout) == (0, "")

    missing = _run(tmp_path, "events", "tail", "no-such-topic", "--from-beginning")
    assert missing.returncode == 1
    assert (
        missing.stderr.startswith("error: unknown topic 'no-such-topic'")
        and "Traceback" not in missing.stderr
    )
    assert len(missing.stderr.strip().splitlines()) == 1

    bad_backend = subprocess.run(
        [str(SCRIPT), "topics", "list"],
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "CARBONPLANE_HOME": str(tmp_path),
            "CARBONPLANE_EVENTS_BACKEND": "zookeeper",
        },
    )
    assert bad_backend.returncode == 2
    assert bad_backend.stderr.startswith(
        "error: CARBONPLANE_EVENTS_BACKEND: unknown events backend 'zookeeper'"
    )


def test_ctrl_c_stops_a_following_tail_with_130_and_no_traceback(tmp_path):
    applied = _run(tmp_path, "topics", "apply")
    assert applied.returncode == 0, applied.stderr
    backend = open_producer_backend(
        EventsConfig.from_env(env={"CARBONPLANE_HOME": str(tmp_path)}), "test"
    )
    backend.produce("system-health", b'{"up":true}', b"svc")
    assert backend.close(10) == 0

    tail = subprocess.Popen(
        [str(SCRIPT), "events", "tail", "system-health", "--from-beginning", "--follow", "--json"],
        env=_local_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        first = tail.stdout.readline()  # the history record: the tail is now following
        assert msgspec.json.decode(first)["value"] == {"up": True}
        tail.send_signal(signal.SIGINT)
        _out, err = tail.communicate(timeout=30)
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 130
    assert "Traceback" not in err
