"""Bundled gateway plugins. ``load_bundled()`` imports every plugin package, which registers it."""

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
    """Import every ``carbonplane.gateway.plugins.<name>`` package; returns the installed plugins."""
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg:
            importlib.import_module(f"{__name__}.{info.name}")
    return installed()
