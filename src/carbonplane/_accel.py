"""Compiled copies of some modules, and the guard that loads them all or none of them.

``setup.py`` builds two kinds of optional extension modules beside their sources:

- ``C_MODULES``: hand-written C (``.c``), each with a pure-Python fallback in the module that
  imports it (``except ImportError``);
- ``ACCELERATED``: pure-Python modules compiled by Cython into extension modules of the same names
  and behaviour. The ``.py`` file stays the one source:

  - the gateway plugins' per-request code is dict-, string- and builtin-heavy Python, compiled in
    plain Python mode (no declarations): ``bench/proxy/hotpath.py --gateway plugins`` ~44 -> ~34
    us of Python per request with the benchmark's five plugins;
  - the engine's hot path (client and upstream connections, the exchange, the readers, timers,
    write batches, the message heads and the request context) is attribute-heavy: compiled plainly
    it ran ~5% *slower* than Python 3.11's attribute caches, so its classes are declared as typed
    extension types in a ``.pxd`` file beside each module (Cython's "augmenting .pxd"; Python never
    reads them). Their attributes become C fields and the hot methods ``cpdef``: ``hotpath.py
    --gateway bare`` 10.5 -> ~8.3 us;
  - the functions the hot path calls (head parsing and serialising, X-Forwarded-*, the gateway's
    route, an exchange's failures, local responses) compile in plain mode, and the per-config
    settings are typed too: -> ~7.5 us. ``proxy/tunnel.py`` (the WebSocket relay) is not
    compiled: its per-byte work is the event loop's.

What the typed build changes, and the ``.py`` files respect so that both builds behave alike:
these classes are not subclasses of ``asyncio.Protocol`` (the protocols are duck-typed, as
asyncio and uvloop allow), their attributes are fixed (``__slots__`` in the ``.py``), typed
attributes refuse values of another type (a ``double`` timeout must be a number), and their
methods cannot be replaced on the class at run time.

Invariants of the guard (``install()``, run when ``carbonplane`` is imported):

- **All or nothing.** Compiled modules cimport each other's C layouts (``.pxd``), so one stale
  compiled module running as its ``.py`` beside compiled users of its layout fails at import
  ("RequestContext size changed"). Either every compiled copy loads, or none does: the ``.py``
  files run and the C modules are refused (``ImportError``), so their Python fallbacks run.
- **Content, not mtimes.** At build time ``setup.py`` writes ``BUILD_RECORD`` beside this file:
  which modules were built and the SHA-256 of every build source (``source_files``: each
  accelerated ``.py`` and its ``.pxd``, each hand-written ``.c``). The compiled copies load only
  when every source still hashes as recorded, every recorded module has its compiled file and no
  compiled file is left over from another build; ``git checkout`` changes mtimes, never hashes.
- **Said once.** When the build does not match, one line on stderr names what changed and says
  to rebuild (``make setup``). The processes this one starts (the gateway's workers) inherit
  ``REPORTED_ENV`` naming the package folder warned about and stay quiet about the same folder.
  No compiled copy at all (a ``CARBONPLANE_NO_COMPILE=1`` install) is silent.
- **Decided once, lazily**, at the first import of a guarded module (~1 ms of hashing), so
  importing only the event library costs nothing.

``CARBONPLANE_PURE=1`` runs everything pure, silently: for profiling (cProfile does not see inside
compiled functions), debugging, and the second, pure test pass of ``make test``.
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
    "carbonplane.proxy.layers.pool",
    "carbonplane.proxy.downstream",
    "carbonplane.proxy.exchange",
    "carbonplane.proxy.attempts",  # plain mode: an exchange's failures and retries
    "carbonplane.proxy.requestbody",  # plain mode: a request body held, read whole, filtered
    "carbonplane.proxy.local",  # plain mode: local responses, errors, client timeouts
    "carbonplane.http.headparser",
    "carbonplane.http.hop",
    "carbonplane.http.forwarded",
    "carbonplane.gateway.runtime.app",
    # the plugins' per-request code: plain Python mode, two strategy classes typed
    "carbonplane.gateway.plugins.pdk.base",
    "carbonplane.gateway.plugins.pdk.authn",
    "carbonplane.gateway.plugins.pdk.credentials",
    "carbonplane.gateway.plugins.pdk.counters",
    "carbonplane.gateway.plugins.pdk.log_serializer",
    "carbonplane.gateway.plugins.cors.handler",
    "carbonplane.gateway.plugins.file_log.handler",
    "carbonplane.gateway.plugins.jwt.handler",
    "carbonplane.gateway.plugins.jwt.tokens",
    "carbonplane.gateway.plugins.jwt.remembered",  # typed (remembered.pxd: no engine types)
    "carbonplane.gateway.plugins.openid_connect.handler",
    "carbonplane.gateway.plugins.openid_connect.claims",
    "carbonplane.gateway.plugins.prometheus.handler",
    "carbonplane.gateway.plugins.prometheus.store",
    "carbonplane.gateway.plugins.rate_limiting.handler",
    "carbonplane.gateway.plugins.rate_limiting.strategy",  # typed (strategy.pxd: no engine types)
    "carbonplane.gateway.plugins.rate_limiting.windows",
)
C_MODULES = (  # hand-written C, each imported under ``try`` by the module it speeds up
    "carbonplane.http._speedups",
    "carbonplane.gateway.plugins.pdk._native.counters",
    "carbonplane.gateway.plugins.pdk._native.records",
)
PURE_ENV = "CARBONPLANE_PURE"
REPORTED_ENV = "CARBONPLANE_STALE_BUILD_REPORTED"  # set to the package folder once warned about
BUILD_RECORD = "_accel_build.json"  # beside this file; written by setup.py, never committed
REBUILD = "make setup"
MAX_NAMED = 6  # files named in the warning; a pull that changed more says "N more"


def source_path(module: str) -> str:
    """The ``.py`` of an accelerated module, relative to the repository root (for setup.py)."""
    return os.path.join("src", *module.split(".")) + ".py"


def c_source_path(module: str) -> str:
    """The ``.c`` of a hand-written C module, relative to the repository root (for setup.py)."""
    return os.path.join("src", *module.split(".")) + ".c"


def _relative(package: str, module: str) -> str:
    """``carbonplane.proxy.app`` -> ``proxy/app`` (inside the package's folder)."""
    return "/".join(module.split(".")[len(package.split(".")) :])


def source_files(
    root: str, package: str = "carbonplane", accelerated=ACCELERATED, c_modules=C_MODULES
) -> dict[str, str]:
    """SHA-256 of every existing build source under the package folder ``root``, by path relative
    to it (``proxy/app.py``, ``proxy/app.pxd``, ``http/_speedups.c``)."""
    import hashlib  # here, not at the top: `import carbonplane` stays cheap

    names = []
    for module in accelerated:
        base = _relative(package, module)
        names += [base + ".py", base + ".pxd"]
    for module in c_modules:  # each .c and the headers beside it (plugins/pdk/_native/layout.h)
        base = _relative(package, module)
        folder = os.path.dirname(base)
        try:
            headers = sorted(n for n in os.listdir(os.path.join(root, folder)) if n.endswith(".h"))
        except OSError:
            headers = []
        names += [base + ".c", *(f"{folder}/{n}" if folder else n for n in headers)]
    digests = {}
    for name in names:
        try:
            with open(os.path.join(root, name), "rb") as f:
                digests[name] = hashlib.sha256(f.read()).hexdigest()
        except OSError:  # missing or unreadable: not a source this build can be checked against
            continue
    return digests


def build_record(built, sources: dict[str, str]) -> str:
    """The text setup.py writes to ``BUILD_RECORD`` after a build (read by ``check_build``)."""
    import json

    return (
        json.dumps(
            {"format": 1, "built": sorted(built), "sources": sources}, indent=1, sort_keys=True
        )
        + "\n"
    )


def compiled_file(root: str, package: str, module: str) -> str | None:
    """The extension module file of ``module`` under ``root``, if one is there."""
    base = os.path.join(root, *_relative(package, module).split("/"))
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        if os.path.exists(base + suffix):
            return base + suffix
    return None


def check_build(
    root: str, package: str = "carbonplane", accelerated=ACCELERATED, c_modules=C_MODULES
) -> tuple[bool, list[str]]:
    """(use the compiled copies?, why not: the stale or missing files, for the warning).

    ``(False, [])`` when nothing is compiled: a pure install, nothing to say."""
    present = {m for m in (*accelerated, *c_modules) if compiled_file(root, package, m)}
    if not present:
        return False, []
    import json

    try:
        with open(os.path.join(root, BUILD_RECORD), encoding="utf-8") as f:
            record = json.load(f)
        if record["format"] != 1:
            raise ValueError(f"format {record['format']!r}")
        built, recorded = set(record["built"]), dict(record["sources"])
    except (OSError, ValueError, KeyError, TypeError):
        return False, [f"{package}/{BUILD_RECORD} (missing or unreadable)"]
    where = package.replace(".", "/")
    reasons = []
    current = source_files(root, package, accelerated, c_modules)
    for name in sorted(set(recorded) | set(current)):
        if name not in current:
            reasons.append(f"{where}/{name} (removed)")
        elif name not in recorded:
            reasons.append(f"{where}/{name} (new)")
        elif current[name] != recorded[name]:
            reasons.append(f"{where}/{name}")
    for module in sorted(present - built):
        copy = os.path.relpath(compiled_file(root, package, module), root).replace(os.sep, "/")
        reasons.append(f"{where}/{copy} (left from another build)")
    wanted = set(accelerated) if built & set(accelerated) else set()  # all Cython ones, or none
    for module in sorted((built | wanted) - present):
        reasons.append(f"{module} (not compiled)")
    return not reasons, reasons


class AllOrNothing:
    """A meta path finder for ``accelerated`` and ``c_modules`` of ``package`` (folder ``root``).

    Compiled mode: it steps aside (the normal finders load the compiled copies). Pure mode: an
    accelerated module loads from its ``.py``, a C module raises ``ImportError``. The mode is
    decided at the first guarded import (``pure``, or ``check_build``) and never changes."""

    def __init__(
        self,
        package: str,
        root: str,
        accelerated=ACCELERATED,
        c_modules=C_MODULES,
        pure: bool = False,
        warn=None,
    ) -> None:
        self.package, self.root = package, root
        self.accelerated, self.c_modules = frozenset(accelerated), frozenset(c_modules)
        self.pure = pure
        self.warn = warn or _warn
        self.compiled: bool | None = None  # None until decided
        self.reasons: list[str] = []

    def decide(self) -> bool:
        """True when the compiled copies load; says once why not when they are stale."""
        if self.compiled is None:
            if self.pure:
                self.compiled = False
            else:
                self.compiled, self.reasons = check_build(
                    self.root, self.package, tuple(self.accelerated), tuple(self.c_modules)
                )
                if self.reasons and os.environ.get(REPORTED_ENV) != self.root:
                    os.environ[REPORTED_ENV] = self.root  # for the processes this one starts
                    named = self.reasons[:MAX_NAMED] + (
                        [f"{len(self.reasons) - MAX_NAMED} more"]
                        if len(self.reasons) > MAX_NAMED
                        else []
                    )
                    self.warn(
                        f"{self.package}: compiled modules do not match their sources "
                        f"({', '.join(named)}); running pure Python, all of it. "
                        f"Rebuild with `{REBUILD}`."
                    )
        return self.compiled

    def find_spec(self, name, path, target=None):
        if name not in self.accelerated and name not in self.c_modules:
            return None
        if self.decide():
            return None
        if name in self.c_modules:
            raise ModuleNotFoundError(
                f"{name}: compiled modules are off (running pure Python)", name=name
            )
        source = os.path.join(self.root, *_relative(self.package, name).split("/")) + ".py"
        return importlib.util.spec_from_file_location(name, source)


def _warn(message: str) -> None:
    print(message, file=sys.stderr)


def install() -> AllOrNothing:
    """Put the guard in front of the import system (once per process) and return it."""
    for finder in sys.meta_path:
        if isinstance(finder, AllOrNothing) and finder.package == "carbonplane":
            return finder
    pure = os.environ.get(PURE_ENV, "") not in ("", "0")
    finder = AllOrNothing("carbonplane", os.path.dirname(os.path.abspath(__file__)), pure=pure)
    sys.meta_path.insert(0, finder)
    return finder


def compiled() -> bool:
    """Whether this process runs the compiled copies (decides now if no import has yet)."""
    return install().decide()
