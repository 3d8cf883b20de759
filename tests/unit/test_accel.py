"""The compiled modules' guard (``carbonplane._accel``): all compiled copies load, or none.

- On a probe package with fake compiled files (which fail to load, so a test can tell the guard
  stepping aside from the guard loading the ``.py``): the build record is compared by content,
  one stale file turns every module pure and refuses the C modules, one warning line.
- On a copy of the real installed tree (``accel_tree_run.py`` in a subprocess): after editing a
  typed module, its ``.pxd`` or a hand-written ``.c``, the package still imports, the hot classes
  work and a gateway serves a request, all pure, saying so; untouched or only touched, compiled.

The pure-Python pass over the engine, gateway and HTTP tests is ``make test``'s second pytest
run (``CARBONPLANE_PURE=1``), not a test here.
"""

from __future__ import annotations

import http.client
import http.server
import importlib
import importlib.machinery
import json
import os
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from carbonplane import _accel

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "carbonplane"
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]
CI_BUILDS = bool(os.environ.get("CI")) and not os.environ.get("CARBONPLANE_NO_COMPILE")
PROBE_ACCELERATED = ("accel_probe.typed", "accel_probe.sub.plain")
PROBE_C = ("accel_probe._fast",)


class Probe:
    """``accel_probe``: two accelerated modules (one with a ``.pxd``), one C module, fake
    compiled copies of all three and a build record matching them."""

    def __init__(self, tmp_path: Path) -> None:
        self.root = tmp_path / "accel_probe"
        (self.root / "sub").mkdir(parents=True)
        (self.root / "__init__.py").write_text("")
        (self.root / "sub" / "__init__.py").write_text("")
        (self.root / "typed.py").write_text("VALUE = 'typed source'\n")
        (self.root / "typed.pxd").write_text("cdef class Thing:\n    cdef public int n\n")
        (self.root / "sub" / "plain.py").write_text("VALUE = 'plain source'\n")
        (self.root / "_fast.c").write_text("/* hand-written C */\n")
        for name in ("typed", "sub/plain", "_fast"):
            (self.root / f"{name}{SUFFIX}").write_bytes(b"not an extension module")
        self.record(PROBE_ACCELERATED + PROBE_C)
        self.warnings: list[str] = []

    def record(self, built) -> None:
        sources = _accel.source_files(str(self.root), "accel_probe", PROBE_ACCELERATED, PROBE_C)
        (self.root / _accel.BUILD_RECORD).write_text(_accel.build_record(built, sources))

    def finder(self, pure: bool = False, warn=None) -> _accel.AllOrNothing:
        return _accel.AllOrNothing(
            "accel_probe",
            str(self.root),
            PROBE_ACCELERATED,
            PROBE_C,
            pure=pure,
            warn=warn or self.warnings.append,
        )

    def shift_mtime(self, name: str, seconds: float) -> None:
        path = self.root / name
        st = path.stat()
        os.utime(path, (st.st_atime + seconds, st.st_mtime + seconds))


@pytest.fixture
def probe(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(_accel.REPORTED_ENV, "")  # the guard sets it: undone after the test
    yield Probe(tmp_path)
    for name in [n for n in sys.modules if n == "accel_probe" or n.startswith("accel_probe.")]:
        del sys.modules[name]


def load(finder, name):
    """Import ``name`` with ``finder`` first; returns the module or the ImportError raised."""
    for loaded in [n for n in sys.modules if n.startswith("accel_probe.")]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        return exc
    finally:
        sys.meta_path.remove(finder)


def loads_compiled(result) -> bool:
    """The fake compiled copies cannot load: an ImportError naming one means the guard stepped
    aside and the import system chose the compiled copy."""
    if isinstance(result, ImportError):
        assert "compiled modules are off" not in str(result), result
        return True
    return False


def test_a_build_matching_its_record_loads_compiled(probe):
    finder = probe.finder()
    assert all(loads_compiled(load(finder, n)) for n in PROBE_ACCELERATED + PROBE_C)
    assert probe.warnings == [] and finder.compiled is True


def test_one_edited_module_turns_every_module_pure_even_when_older_than_the_build(probe):
    (probe.root / "sub" / "plain.py").write_text("VALUE = 'plain source, edited'\n")
    probe.shift_mtime("sub/plain.py", -3600)  # older than its compiled copy: mtimes would lie
    finder = probe.finder()
    typed = load(finder, "accel_probe.typed")  # not edited, but compiled users of the edited one
    assert typed.__file__ == str(probe.root / "typed.py")  # would mix with it: pure too
    assert load(finder, "accel_probe.sub.plain").VALUE == "plain source, edited"
    refused = load(finder, "accel_probe._fast")
    assert isinstance(refused, ModuleNotFoundError)
    assert "compiled modules are off" in str(refused)
    assert len(probe.warnings) == 1  # said once for three imports
    line = probe.warnings[0]
    assert "\n" not in line and "accel_probe/sub/plain.py" in line and "make setup" in line
    assert "typed.py" not in line  # names the changed file only


def test_the_warning_names_six_files_and_counts_the_rest(probe):
    many = [f"m{i}" for i in range(9)]
    for name in many:
        (probe.root / f"{name}.py").write_text("")
        (probe.root / f"{name}{SUFFIX}").write_bytes(b"not an extension module")
    accelerated = PROBE_ACCELERATED + tuple(f"accel_probe.{name}" for name in many)
    sources = _accel.source_files(str(probe.root), "accel_probe", accelerated, PROBE_C)
    record = _accel.build_record(accelerated + PROBE_C, sources)
    (probe.root / _accel.BUILD_RECORD).write_text(record)
    for name in many:
        (probe.root / f"{name}.py").write_text("EDITED = True\n")
    finder = _accel.AllOrNothing(
        "accel_probe", str(probe.root), accelerated, PROBE_C, warn=probe.warnings.append
    )
    assert load(finder, "accel_probe.m8").EDITED
    (line,) = probe.warnings
    assert "accel_probe/m5.py, 3 more)" in line and "m6.py" not in line, line


def test_the_processes_started_after_the_warning_do_not_repeat_it(probe):
    (probe.root / "typed.py").write_text("VALUE = 'edited'\n")
    assert load(probe.finder(), "accel_probe.typed").VALUE == "edited"
    assert os.environ[_accel.REPORTED_ENV] == str(probe.root)  # inherited by child processes
    child = probe.finder(warn=pytest.fail)  # a child's guard: same folder, same environment
    assert load(child, "accel_probe.typed").VALUE == "edited" and len(probe.warnings) == 1


def test_sources_only_touched_like_a_git_checkout_stay_compiled(probe):
    for name in ("typed.py", "typed.pxd", "sub/plain.py", "_fast.c"):
        path = probe.root / name
        path.write_bytes(path.read_bytes())
        probe.shift_mtime(name, 3600)  # newer than every compiled copy, same content
    finder = probe.finder(warn=pytest.fail)
    assert all(loads_compiled(load(finder, n)) for n in PROBE_ACCELERATED + PROBE_C)


@pytest.mark.parametrize(
    "change, named",
    [
        (
            lambda r: (r / "typed.pxd").write_text("cdef class Thing:\n    cdef public long n\n"),
            "accel_probe/typed.pxd",
        ),
        (lambda r: (r / "typed.pxd").unlink(), "accel_probe/typed.pxd (removed)"),
        (
            lambda r: (r / "sub" / "plain.pxd").write_text("cdef int n\n"),
            "accel_probe/sub/plain.pxd (new)",
        ),
        (
            lambda r: (r / "_fast.c").write_text("/* hand-written C, edited */\n"),
            "accel_probe/_fast.c",
        ),
        (lambda r: (r / "typed.py").unlink(), "accel_probe/typed.py (removed)"),
    ],
    ids=["pxd-edited", "pxd-removed", "pxd-added", "c-edited", "py-removed"],
)
def test_any_changed_build_source_turns_everything_pure(probe, change, named):
    change(probe.root)
    plain = load(probe.finder(), "accel_probe.sub.plain")
    assert plain.__file__ == str(probe.root / "sub" / "plain.py")
    assert len(probe.warnings) == 1 and named in probe.warnings[0]


def test_a_stale_c_module_is_not_loaded_and_takes_the_others_with_it(probe):
    (probe.root / "_fast.c").write_text("/* a new fast path */\n")
    finder = probe.finder()
    assert isinstance(load(finder, "accel_probe._fast"), ModuleNotFoundError)
    assert load(finder, "accel_probe.typed").VALUE == "typed source"


@pytest.mark.parametrize(
    "break_build, named",
    [
        (
            lambda p: (p.root / _accel.BUILD_RECORD).unlink(),
            "_accel_build.json (missing or unreadable)",
        ),
        (lambda p: (p.root / _accel.BUILD_RECORD).write_text("{"), "(missing or unreadable)"),
        (
            lambda p: (p.root / _accel.BUILD_RECORD).write_text('{"format": 2}'),
            "(missing or unreadable)",
        ),
        (
            lambda p: p.record(("accel_probe.typed", "accel_probe._fast")),
            f"accel_probe/sub/plain{SUFFIX} (left from another build)",
        ),
        (lambda p: (p.root / f"typed{SUFFIX}").unlink(), "accel_probe.typed (not compiled)"),
        (
            lambda p: (
                (p.root / f"typed{SUFFIX}").unlink(),
                p.record(PROBE_C + ("accel_probe.sub.plain",)),
            ),
            "accel_probe.typed (not compiled)",
        ),
    ],
    ids=[
        "no-record",
        "bad-record",
        "other-format",
        "leftover-copy",
        "copy-deleted",
        "partial-cython-build",
    ],
)
def test_compiled_copies_that_are_not_one_build_run_pure(probe, break_build, named):
    break_build(probe)
    assert load(probe.finder(), "accel_probe.sub.plain").VALUE == "plain source"
    assert len(probe.warnings) == 1 and named in probe.warnings[0]


def test_a_build_of_the_c_modules_alone_loads_them(probe):
    for name in ("typed", "sub/plain"):  # built without Cython
        (probe.root / f"{name}{SUFFIX}").unlink()
    probe.record(PROBE_C)
    finder = probe.finder(warn=pytest.fail)
    assert loads_compiled(load(finder, "accel_probe._fast"))
    assert load(finder, "accel_probe.typed").VALUE == "typed source"


def test_no_compiled_copy_at_all_is_a_pure_install_and_says_nothing(probe):
    for name in ("typed", "sub/plain", "_fast"):
        (probe.root / f"{name}{SUFFIX}").unlink()
    finder = probe.finder(warn=pytest.fail)
    assert load(finder, "accel_probe.typed").VALUE == "typed source"
    assert isinstance(load(finder, "accel_probe._fast"), ImportError)


def test_pure_mode_loads_every_source_of_a_matching_build_silently(probe):
    finder = probe.finder(pure=True, warn=pytest.fail)
    assert load(finder, "accel_probe.typed").VALUE == "typed source"
    assert isinstance(load(finder, "accel_probe._fast"), ModuleNotFoundError)


def test_modules_not_listed_are_left_alone(probe):
    (probe.root / "other.py").write_text("VALUE = 1\n")
    (probe.root / f"other{SUFFIX}").write_bytes(b"not an extension module")
    (probe.root / "typed.py").write_text("VALUE = 'edited'\n")  # the build is stale...
    assert loads_compiled(load(probe.finder(), "accel_probe.other"))  # ...but other is not ours


# -- the installed tree ------------------------------------------------------------------------


@pytest.mark.parametrize("name", _accel.ACCELERATED + _accel.C_MODULES)
def test_every_listed_module_has_its_source_and_runs_as_the_guard_decided(name):
    source = ROOT / (
        _accel.source_path(name) if name in _accel.ACCELERATED else _accel.c_source_path(name)
    )
    assert source.is_file(), f"{name} is listed in _accel.py but {source} does not exist"
    if CI_BUILDS:  # CI installs with Cython and gcc: a module missing here is one that failed
        assert _accel.compiled_file(str(PACKAGE), "carbonplane", name), (
            f"{name} was not compiled; see the Cython or compiler error in the pip log"
        )
    try:
        loaded = importlib.import_module(name).__file__
    except ImportError:
        loaded = None
    assert name in _accel.ACCELERATED or (loaded is not None) == _accel.compiled()
    if name in _accel.ACCELERATED:
        assert loaded.endswith(".py") != _accel.compiled(), loaded


def test_the_build_in_ci_matches_its_sources():
    if not CI_BUILDS:
        pytest.skip("checked under CI=true (a local tree may be edited since its build)")
    assert _accel.check_build(str(PACKAGE)) == (True, [])


def _need_a_matching_build() -> None:
    """The copy tests start from the installed build as it is (whatever CARBONPLANE_PURE says)."""
    matches, reasons = _accel.check_build(str(PACKAGE))
    if not matches:
        if CI_BUILDS:
            pytest.fail(f"the installed build does not match its sources: {reasons}")
        pytest.skip("this tree has no compiled build matching its sources (run `make setup`)")


def _copy_tree(tmp_path: Path) -> Path:
    """src/carbonplane with its compiled copies and build record (not the generated C)."""
    hand_written = {Path(_accel.c_source_path(m)).name for m in _accel.C_MODULES}

    def generated_c(folder, names):
        return [
            n for n in names if n == "__pycache__" or (n.endswith(".c") and n not in hand_written)
        ]

    shutil.copytree(PACKAGE, tmp_path / "src" / "carbonplane", ignore=generated_c)
    return tmp_path / "src" / "carbonplane"


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path.name} no longer has {old!r}: update this test's edit"
    path.write_text(text.replace(old, new, 1))


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _add_slot(copy: Path) -> None:
    _edit(
        copy / "proxy" / "app.py",
        '__slots__ = (\n        "peer_ip",',
        '__slots__ = (\n        "edited",\n        "peer_ip",',
    )
    _edit(
        copy / "proxy" / "app.py",
        "        self.request_bytes = 0\n",
        "        self.request_bytes = 0\n        self.edited_too = 1\n",
    )


def _touch_all(copy: Path) -> None:
    for path in copy.rglob("*"):
        if path.suffix in (".py", ".pxd", ".c"):
            path.write_bytes(path.read_bytes())  # a checkout: new mtimes, same content
            st = path.stat()
            os.utime(path, (st.st_atime + 3600, st.st_mtime + 3600))


EDITS = {
    "untouched": (lambda copy: None, None),
    "touched-like-a-checkout": (_touch_all, None),
    "comment-appended-to-a-typed-module": (
        lambda copy: _append(copy / "proxy" / "app.py", "# edited\n"),
        "proxy/app.py",
    ),
    "slot-and-attribute-added": (_add_slot, "proxy/app.py"),
    "pxd-edited": (
        lambda copy: _append(copy / "http" / "model.pxd", "# edited\n"),
        "http/model.pxd",
    ),
    "hand-written-c-edited": (
        lambda copy: _append(copy / "http" / "_speedups.c", "/* edited */\n"),
        "http/_speedups.c",
    ),
}


@pytest.mark.parametrize("edit", list(EDITS))
def test_a_copy_of_the_built_tree_runs_after_any_edit(tmp_path, edit):
    _need_a_matching_build()
    change, stale = EDITS[edit]
    copy = _copy_tree(tmp_path)
    change(copy)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (_accel.PURE_ENV, _accel.REPORTED_ENV, "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(copy.parent)
    run = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("accel_tree_run.py"))],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["package"] == str(copy / "__init__.py")  # the copy ran, not the checkout
    assert out["answer"].startswith("HTTP/1.1 200 ") and out["answer"].endswith("from the upstream")
    warnings = [line for line in run.stderr.splitlines() if "compiled modules" in line]
    if stale is None:
        assert out["compiled"] is True and warnings == [], run.stderr
        assert all(f.endswith(SUFFIX) for f in out["modules"].values()), out["modules"]
        assert all(f.endswith(SUFFIX) for f in out["c_modules"].values()), out["c_modules"]
        return
    assert out["compiled"] is False
    assert all(f.endswith(".py") for f in out["modules"].values()), out["modules"]
    assert all(v.startswith("refused: ") for v in out["c_modules"].values()), out["c_modules"]
    assert len(warnings) == 1, run.stderr
    assert f"carbonplane/{stale}" in warnings[0] and "`make setup`" in warnings[0]
    if edit == "slot-and-attribute-added":
        assert "edited" in out["client_slots"]


class _Upstream(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (the stdlib's name)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def _first_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline, buf = time.monotonic() + timeout, b""
    while b"\n" not in buf and sel.select(max(0.0, deadline - time.monotonic())):
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            break
        buf += chunk
    return buf.split(b"\n", 1)[0].decode(errors="replace")


def test_the_gateway_cli_with_worker_processes_runs_an_edited_copy_and_says_so_once(tmp_path):
    _need_a_matching_build()
    copy = _copy_tree(tmp_path)
    _append(copy / "proxy" / "app.py", "# edited\n")
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    config = tmp_path / "kong.yml"
    config.write_text(
        json.dumps(
            {
                "_format_version": "3.0",
                "services": [
                    {
                        "name": "up",
                        "url": f"http://127.0.0.1:{upstream.server_address[1]}",
                        "routes": [{"name": "all", "paths": ["/"]}],
                    }
                ],
            }
        )
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in (_accel.PURE_ENV, _accel.REPORTED_ENV, "PYTHONPATH")
    }
    env["PYTHONPATH"] = str(copy.parent)
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("carbonplane")),
            "gateway",
            "start",
            "--config",
            str(config),
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        cwd=tmp_path,
    )
    try:
        line = _first_line(proc, 60)
        assert line.startswith("gateway: proxy on 127.0.0.1:"), line + proc.stderr.read1().decode()
        port = int(line.split(" on ")[1].split()[0].rsplit(":", 1)[1])
        answers = []
        for _ in range(4):  # new connections: both workers get a chance to answer
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/x")
            response = conn.getresponse()
            answers.append((response.status, response.read()))
            conn.close()
        assert answers == [(200, b"ok")] * 4
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        upstream.shutdown()
    stderr = proc.stderr.read().decode(errors="replace")
    warnings = [line for line in stderr.splitlines() if "compiled modules" in line]
    assert len(warnings) == 1 and "carbonplane/proxy/app.py" in warnings[0], stderr
