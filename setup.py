"""Only the optional compiled modules live here; everything else is in pyproject.toml.

- the hand-written C modules in ``carbonplane._accel.C_MODULES``: ``http._speedups`` (the common
  cases of the HTTP rules), ``gateway.plugins.pdk._native.counters`` (the rate-limit counter
  table's check-and-count step), ``gateway.plugins.pdk._native.records`` (Kong's log record line
  for file-log);
- the modules in ``carbonplane._accel.ACCELERATED``, compiled from their ``.py`` by Cython.

All are optional: where a C compiler, the Python headers or Cython are missing, or
``CARBONPLANE_NO_COMPILE=1`` is set, ``optional=True`` / the checks below let the install finish and
the pure-Python code runs alone. After every build, ``build_ext`` writes the build record
(``_accel.BUILD_RECORD``: the modules built and the hash of every source) beside the compiled
copies; at import, ``_accel.py`` loads them all only when the sources still match it, else none.
"""

import os
import runpy
import sys

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ACCEL = runpy.run_path(os.path.join("src", "carbonplane", "_accel.py"))
COMPILE = os.environ.get("CARBONPLANE_NO_COMPILE", "") in ("", "0")
# hashed before Cython or the compiler reads them: a file edited during the build reads as stale
SOURCES = ACCEL["source_files"](os.path.join("src", "carbonplane"))


class build_ext_recorded(build_ext):  # noqa: N801 (a setuptools command name)
    """``build_ext``, then the build record beside the package in the build folder and, for an
    in-place or editable build, in ``src`` too (where the compiled copies were copied)."""

    def run(self):
        super().run()
        built = [
            ext.name
            for ext in self.extensions
            if os.path.exists(
                os.path.join(self.build_lib, self.get_ext_filename(self.get_ext_fullname(ext.name)))
            )
        ]
        folders = [os.path.join(self.build_lib, "carbonplane")]
        if self.inplace:
            folders.append(os.path.join("src", "carbonplane"))
        for folder in folders:
            # a wheel ships the .py files, not the .pxd/.c: record what lies beside the copies
            sources = {
                name: digest
                for name, digest in SOURCES.items()
                if folder.startswith("src") or os.path.exists(os.path.join(folder, name))
            }
            os.makedirs(folder, exist_ok=True)
            with open(os.path.join(folder, ACCEL["BUILD_RECORD"]), "w", encoding="utf-8") as f:
                f.write(ACCEL["build_record"](built, sources))


extensions = []
if COMPILE:
    for name in ACCEL["C_MODULES"]:
        extensions.append(
            Extension(
                name, [ACCEL["c_source_path"](name)], optional=True, extra_compile_args=["-O2"]
            )
        )
    try:
        from Cython.Build import cythonize
    except ImportError:  # a build without Cython: the .py files run
        cythonize = None
    if cythonize is not None:
        compiled = [
            Extension(name, [ACCEL["source_path"](name)], optional=True, extra_compile_args=["-O2"])
            for name in ACCEL["ACCELERATED"]
        ]
        try:
            extensions += cythonize(
                compiled,
                quiet=True,
                compiler_directives={
                    "language_level": 3,
                    "annotation_typing": False,
                    "binding": True,
                },
            )
        except Exception as exc:  # a module Cython refuses: the install goes on, pure Python
            # (tests/unit/test_accel.py fails in CI when a listed module is not compiled)
            print(
                f"warning: Cython could not compile the accelerated modules ({exc}); "
                "the pure-Python modules will run",
                file=sys.stderr,
            )

setup(ext_modules=extensions, cmdclass={"build_ext": build_ext_recorded})
