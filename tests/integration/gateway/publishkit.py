"""A config factory for the Supervisor's publish tests (``publishkit:config``), importable by the
spawned workers because the test directory is on ``sys.path`` there too.

Payload: JSON ``{"routes": {prefix: "HOST:PORT"}, "pad": "...", "reject": bool, "die": bool}``.
In the master (no running event loop) every payload is valid; inside a worker ``reject`` raises
``ConfigError`` (the worker keeps its config and reports it) and ``die`` ends the process, at
start as well as on a reload: a config that crashes every worker that takes it."""

from __future__ import annotations

import asyncio
import json
import os

from carbonplane.errors import ConfigError
from carbonplane.proxy.config import ProxyConfig
from carbonplane.proxy.static import StaticApp

FACTORY = "publishkit:config"


def payload(
    routes: dict[str, str], *, pad: int = 0, reject: bool = False, die: bool = False
) -> bytes:
    return json.dumps({"routes": routes, "pad": "x" * pad, "reject": reject, "die": die}).encode()


def config(data: bytes, version: int = 0) -> ProxyConfig:
    doc = json.loads(data)
    try:
        asyncio.get_running_loop()
        in_worker = True
    except RuntimeError:
        in_worker = False
    if in_worker and doc["die"]:
        os._exit(3)
    if in_worker and doc["reject"]:
        raise ConfigError("this worker refuses the config", where="publishkit")
    return ProxyConfig(app=StaticApp(doc["routes"]), version=version)
