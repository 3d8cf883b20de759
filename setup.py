"""Only the optional compiled modules live here; everything else is in pyproject.toml.

- ``carbonplane.http._speedups`` (C): the common cases of the HTTP rules;
- ``carbonplane.gateway.plugins._native.counters`` (C): the rate-limit counter table's step;
- ``carbonplane.gateway.plugins._native.records`` (C): Kong's log record line for file-log;
- the modules in ``carbonplane._accel.ACCELERATED``, compiled from their ``.py`` by Cython.

Both are optional: where a C compiler, the Python headers or Cython are missing, or
``CARBONPLANE_NO_COMPILE=1`` is set, ``optional=True`` / the checks below let the install finish and
the pure-Python code runs alone (``src/carbonplane/_accel.py`` explains the stale-copy guard).
"""

import os
import runpy
import sys

from setuptools import Extension, setup

C_MODULES = ("carbonplane.http._speedups", "carbonplane.gateway.plugins._native.counters",
             "carbonplane.gateway.plugins._native.records")  # hand-written C: scripts/setup.sh hashes them
COMPILE = os.environ.get("CARBONPLANE_NO_COMPILE", "") in ("", "0")
extensions = []
if COMPILE:
    for name in C_MODULES:
        extensions.append(Extension(name, [os.path.join("src", *name.split(".")) + ".c"],
                                    optional=True, extra_compile_args=["-O2"]))
    try:
        from Cython.Build import cythonize
    except ImportError:  # a build without Cython: the .py files run
        cythonize = None
    if cythonize is not None:
        accel = runpy.run_path(os.path.join("src", "carbonplane", "_accel.py"))
        compiled = [Extension(name, [accel["source_path"](name)], optional=True,
                              extra_compile_args=["-O2"]) for name in accel["ACCELERATED"]]
        try:
            extensions += cythonize(compiled, quiet=True, compiler_directives={
                "language_level": 3, "annotation_typing": False, "binding": True})
        except Exception as exc:  # a module Cython refuses: the install goes on, pure Python
            # (tests/unit/test_accel.py fails in CI when a listed module is not compiled)
            print(f"warning: Cython could not compile the accelerated modules ({exc}); "
                  "the pure-Python modules will run", file=sys.stderr)

setup(ext_modules=extensions)
