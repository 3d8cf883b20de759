"""Compiled copies of some pure-Python modules, and the guard that never lets a stale one load.

``setup.py`` compiles the modules listed in ``ACCELERATED`` with Cython into extension modules
of the same names and the same behaviour when Cython is present at install time (it is a build
requirement; without it, or without a C compiler, the install still succeeds and the ``.py``
files run). The ``.py`` file stays the one source:

- the gateway plugins' per-request code is dict-, string- and builtin-heavy Python, compiled in
  plain Python mode (no declarations): ``bench/proxy/hotpath.py --gateway plugins`` ~44 -> ~34 us
  of Python per request with the benchmark's five plugins;
- the engine's hot path (client and upstream connections, the exchange, the readers, timers,
  write batches, the message heads and the request context) is attribute-heavy: compiled plainly it ran ~5% *slower* than Python 3.11's
  attribute caches, so its classes are declared as typed extension types in a ``.pxd`` file beside
  each module (Cython's "augmenting .pxd"; Python never reads them). Their attributes become C
  fields and the hot methods ``cpdef``: ``hotpath.py --gateway bare`` 10.5 -> ~8.3 us;
- the functions the hot path calls (head parsing and serialising, X-Forwarded-*, the gateway's
  route) compile in plain mode, and the per-config settings are typed too: -> ~7.5 us.

What the typed build changes, and the ``.py`` files respect so that both builds behave alike:
these classes are not subclasses of ``asyncio.Protocol`` (the protocols are duck-typed, as
asyncio and uvloop allow), their attributes are fixed (``__slots__`` in the ``.py``), typed
attributes refuse values of another type (a ``double`` timeout must be a number), and their
methods cannot be replaced on the class at run time.

An extension module next to its ``.py`` shadows it on import, so an edited ``.py`` would silently
run as its old compiled copy. ``install()`` (run when ``carbonplane`` is imported) puts a finder
in front of the import system that loads the ``.py`` instead whenever it (or its ``.pxd``) is
newer than the compiled copy - the rule Python applies to its own bytecode caches - and says so once per module
on stderr (rebuild with ``make setup`` or ``pip install -e .``). ``CARBONPLANE_PURE=1`` loads
the ``.py`` files always: for profiling (cProfile does not see inside compiled functions),
debugging, and the tests that compare the two.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys

ACCELERATED = (
    # the engine's hot path: compiled as typed classes declared in the .pxd beside each module
    "carbonplane.http.model",
    "carbonplane.http.reader",
    "carbonplane.proxy.app",
    "carbonplane.proxy.config",
    "carbonplane.proxy.timers",
    "carbonplane.proxy.writes",
    "carbonplane.proxy.pool",
    "carbonplane.proxy.downstream",
    "carbonplane.proxy.exchange",
    "carbonplane.http.headparser",
    "carbonplane.http.hop",
    "carbonplane.http.forwarded",
    "carbonplane.gateway.app",
    # the plugins' per-request code: plain Python mode, two strategy classes typed
    "carbonplane.gateway.plugins.base",
    "carbonplane.gateway.plugins.authn",
    "carbonplane.gateway.plugins.counters",
    "carbonplane.gateway.plugins.log_serializer",
    "carbonplane.gateway.plugins.cors.handler",
    "carbonplane.gateway.plugins.file_log.handler",
    "carbonplane.gateway.plugins.jwt.handler",
    "carbonplane.gateway.plugins.jwt.tokens",
    "carbonplane.gateway.plugins.jwt.remembered",  # typed (remembered.pxd: no engine types)
    "carbonplane.gateway.plugins.prometheus.handler",
    "carbonplane.gateway.plugins.prometheus.store",
    "carbonplane.gateway.plugins.rate_limiting.handler",
    "carbonplane.gateway.plugins.rate_limiting.strategy",  # typed (strategy.pxd: no engine types)
    "carbonplane.gateway.plugins.rate_limiting.windows",
)
PURE_ENV = "CARBONPLANE_PURE"


def source_path(module: str) -> str:
    """The ``.py`` of an accelerated module, relative to the repository root (for setup.py)."""
    return os.path.join("src", *module.split(".")) + ".py"


class FreshCompiledOnly:
    """A meta path finder: for ``names``, the ``.py`` is loaded when ``pure`` or when it is newer
    than an extension module beside it; otherwise the normal finders decide (compiled first)."""

    def __init__(self, names, pure: bool, warn=None) -> None:
        self.names = frozenset(names)
        self.pure = pure
        self.warn = warn or _warn

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        leaf = name.rpartition(".")[2]
        for entry in path or sys.path:
            source = os.path.join(entry, leaf + ".py")
            try:
                source_mtime = os.stat(source).st_mtime
            except OSError:
                continue
            try:  # typed declarations are part of the compiled copy's source
                source_mtime = max(source_mtime, os.stat(source[:-3] + ".pxd").st_mtime)
            except OSError:
                pass
            for suffix in importlib.machinery.EXTENSION_SUFFIXES:
                try:
                    compiled_mtime = os.stat(os.path.join(entry, leaf + suffix)).st_mtime
                except OSError:
                    continue
                if self.pure:
                    break
                if compiled_mtime >= source_mtime:
                    return None  # up to date: the default finders load the compiled copy
                self.warn(f"carbonplane: {source} is newer than its compiled copy; running the "
                          f".py (rebuild with `make setup` or `pip install -e .`)")
                break
            else:
                return None  # no compiled copy: the default finders load the .py
            return importlib.util.spec_from_file_location(name, source)
        return None


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def install() -> None:
    """Put the guard in front of the import system (once per process)."""
    if not any(isinstance(f, FreshCompiledOnly) for f in sys.meta_path):
        pure = os.environ.get(PURE_ENV, "") not in ("", "0")
        sys.meta_path.insert(0, FreshCompiledOnly(ACCELERATED, pure))
