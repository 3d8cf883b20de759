"""The compiled copies of ``carbonplane._accel.ACCELERATED``: the stale-copy guard, and the .py
sources still passing the engine and plugin tests when the compiled copies are what normally
runs."""

from __future__ import annotations

import importlib
import importlib.machinery
import os
import subprocess
import sys
from pathlib import Path

import pytest

from carbonplane import _accel

ROOT = Path(__file__).resolve().parents[2]
SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.fixture
def probe(tmp_path, monkeypatch):
    """A package ``accel_probe`` with ``mod.py`` and a fake compiled ``mod`` (not loadable)."""
    pkg = tmp_path / "accel_probe"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    source = pkg / "mod.py"
    source.write_text("VALUE = 'source'\n")
    compiled = pkg / f"mod{SUFFIX}"
    compiled.write_bytes(b"not an extension module")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield source, compiled
    for name in ("accel_probe.mod", "accel_probe"):
        sys.modules.pop(name, None)


def _import_with(finder):
    sys.modules.pop("accel_probe.mod", None)
    sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module("accel_probe.mod")
    finally:
        sys.meta_path.remove(finder)


def _age(path: Path, seconds: float) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime - seconds, st.st_mtime - seconds))


def test_a_compiled_copy_older_than_its_source_is_not_loaded(probe):
    source, compiled = probe
    _age(compiled, 60)
    warnings: list[str] = []
    module = _import_with(_accel.FreshCompiledOnly(["accel_probe.mod"], False, warnings.append))
    assert module.VALUE == "source" and module.__file__ == str(source)
    assert len(warnings) == 1 and "newer than its compiled copy" in warnings[0]


def test_an_up_to_date_compiled_copy_is_left_to_the_normal_import(probe):
    source, compiled = probe
    _age(source, 60)
    # the guard steps aside, so the import system loads the (fake) compiled copy, which fails:
    # proof that the guard, not the file order, decided the test above
    with pytest.raises(ImportError):
        _import_with(_accel.FreshCompiledOnly(["accel_probe.mod"], False, pytest.fail))


def test_a_newer_pxd_makes_the_compiled_copy_stale_too(probe):
    source, compiled = probe
    _age(source, 120)
    _age(compiled, 60)
    (source.parent / "mod.pxd").write_text("# typed declarations, edited after the build\n")
    warnings: list[str] = []
    module = _import_with(_accel.FreshCompiledOnly(["accel_probe.mod"], False, warnings.append))
    assert module.__file__ == str(source) and len(warnings) == 1


def test_pure_mode_always_loads_the_source(probe):
    source, compiled = probe
    _age(source, 60)
    module = _import_with(_accel.FreshCompiledOnly(["accel_probe.mod"], True, pytest.fail))
    assert module.__file__ == str(source)


def test_modules_not_listed_are_left_alone(probe):
    source, compiled = probe
    _age(compiled, 60)
    with pytest.raises(ImportError):  # not guarded: the (fake) compiled copy shadows the .py
        _import_with(_accel.FreshCompiledOnly(["accel_probe.other"], False, pytest.fail))


@pytest.mark.parametrize("name", _accel.ACCELERATED)
def test_every_listed_module_has_its_source_and_loads_compiled_when_built(name):
    source = ROOT / _accel.source_path(name)
    assert source.is_file(), f"{name} is listed in ACCELERATED but {source} does not exist"
    compiled = [source.with_name(source.stem + s) for s in importlib.machinery.EXTENSION_SUFFIXES]
    built = [c for c in compiled if c.exists()]
    if os.environ.get("CI") and not os.environ.get("CARBONPLANE_NO_COMPILE"):
        # CI installs with Cython and gcc: a module missing here is one Cython refused
        assert built, f"{name} was not compiled; see the Cython error in the pip log"
    if not built or os.environ.get(_accel.PURE_ENV, "") not in ("", "0"):
        pytest.skip("not compiled in this install (no Cython or C compiler at install time)")
    fresh = built[0].stat().st_mtime >= source.stat().st_mtime
    loaded = importlib.import_module(name).__file__
    assert loaded.endswith(SUFFIX) == fresh, (loaded, fresh)


def test_the_sources_pass_the_engine_and_gateway_tests_too():
    """With compiled copies installed the other tests run them; this runs the .py files."""
    env = dict(os.environ, **{_accel.PURE_ENV: "1"})
    code = ("import sys, carbonplane._accel as a, importlib; "
            "print(all(importlib.import_module(m).__file__.endswith('.py') "
            "for m in a.ACCELERATED))")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "True", out.stderr
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                          "tests/unit/gateway", "tests/unit/http", "tests/integration/proxy"],
                         env=env, capture_output=True, text=True,
                         cwd=ROOT, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]


def _c_modules() -> tuple[str, ...]:
    import ast

    tree = ast.parse((ROOT / "setup.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "C_MODULES":
            return tuple(ast.literal_eval(node.value))
    raise AssertionError("setup.py has no C_MODULES")


@pytest.mark.parametrize("name", _c_modules())
def test_every_hand_written_c_module_has_its_source_and_is_built_in_ci(name):
    source = ROOT / "src" / (name.replace(".", "/") + ".c")
    assert source.is_file(), f"{name} is listed in setup.py's C_MODULES but {source} does not exist"
    try:
        importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI") and not os.environ.get("CARBONPLANE_NO_COMPILE"):
            pytest.fail(f"{name} was not built; see the compiler error in the pip log")
        pytest.skip("not built in this install (no C compiler at install time)")
