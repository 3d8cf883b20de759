"""Bundled gateway plugins: one folder per plugin, and ``pdk/``, the support they share.

``load_bundled()`` imports every plugin package, which registers it. Invariant: every
sub-package here but ``pdk`` (the plugin development kit: the plugin seam, authentication
helpers, counters, the log record, request parts, the process services) is a plugin.
"""

from __future__ import annotations

import importlib
import pkgutil

from carbonplane.gateway.plugins.pdk.base import (
    PluginDef,
    PluginHandler,
    PluginServices,
    installed,
    plugin_def,
    register,
)

PDK = "pdk"  # the one sub-package that is not a plugin
_LOADED: list[bool] = []  # every bundled package imported once (the config loader calls this often)

__all__ = [
    "PluginDef",
    "PluginHandler",
    "PluginServices",
    "installed",
    "load_bundled",
    "plugin_def",
    "register",
]


def load_bundled() -> dict[str, PluginDef]:
    """Import every plugin package ``carbonplane.gateway.plugins.<name>``; returns the installed
    plugins."""
    if not _LOADED:
        for info in pkgutil.iter_modules(__path__):
            if info.ispkg and info.name != PDK:
                importlib.import_module(f"{__name__}.{info.name}")
        _LOADED.append(True)
    return installed()
