"""Only the optional C extension lives here; everything else is in pyproject.toml.

``carbonplane.http._speedups`` compiles where a C compiler and the Python headers exist; where they
do not, ``optional=True`` lets the install finish and the pure-Python rules run alone.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension("carbonplane.http._speedups", ["src/carbonplane/http/_speedups.c"],
                             optional=True, extra_compile_args=["-O2"])])
