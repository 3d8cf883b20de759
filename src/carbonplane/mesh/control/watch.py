"""The control plane's watch streams: one per connected proxy, pushing config snapshots and
taking the proxy's ack/nack/heartbeat messages (``docs/mesh.md``, "watch").

``WatchStreams`` is a base class of ``ControlPlane`` (``control/server.py``); it uses the plane's
registry, proxy tracker, current snapshot, watcher set and ``_dirty`` event.

Invariants:
- Only a proxy registered to the identity of the presented client certificate may watch; anyone
  else gets one ``not_registered`` refusal and the connection closes.
- Every new stream starts with the current snapshot; afterwards a snapshot is sent once per
  version, the same bytes to every watcher (``Snapshot.frame``).
- A stream silent for three heartbeat intervals (at least 5 s) is taken as a dead peer and
  closed; a newer stream of the same proxy replaces the older one in the tracker.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable
from typing import Any

from carbonplane.mesh.control import wire
from carbonplane.mesh.control.registry import Registry
from carbonplane.mesh.control.snapshots import ProxyTracker

_PONG = wire.encode({"type": "pong"})


class Watcher:
    """One watch stream: its writer, and the event that wakes its sender for a new snapshot."""

    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.wake = asyncio.Event()


class WatchStreams:
    """The ``watch`` operation of ``ControlPlane`` (a base class: see the module docstring)."""

    registry: Registry
    tracker: ProxyTracker
    snapshot: Any
    _watchers: set[Watcher]
    _dirty: asyncio.Event
    _spawn: Callable[..., asyncio.Task]

    async def _watch(self, reader, writer, peer, msg: dict) -> None:
        pid = msg.get("proxy_id")
        reg = self.registry.get(pid) if isinstance(pid, str) else None
        if peer is None or reg is None or reg.identity != str(peer):
            writer.write(
                wire.encode(
                    wire.refusal(
                        "not_registered",
                        f"proxy {pid!r} is not registered to {peer}; register first",
                    )
                )
            )
            await writer.drain()
            writer.close()
            return
        state = self.tracker.get(pid, str(peer))
        watcher = Watcher(writer)
        state.connected, state.last_seen, state.stream = True, time.time(), watcher
        if self.registry.seen(pid):
            self._dirty.set()
        writer.write(wire.encode({"ok": True, "heartbeat_interval": self.registry.ttl / 3}))
        self._watchers.add(watcher)
        sender = self._spawn(self._send_loop(watcher, state))
        silence = max(self.registry.ttl, 5.0)  # three missed heartbeats: a dead peer
        try:
            while (m := await asyncio.wait_for(wire.read_frame(reader), silence)) is not None:
                if self._on_proxy_message(state, m):
                    writer.write(_PONG)  # lets the proxy notice a control plane gone silent
        except (wire.ProtocolError, ConnectionError, ssl.SSLError, asyncio.TimeoutError):
            pass
        finally:
            self._watchers.discard(watcher)
            if state.stream is watcher:  # a newer stream of the same proxy may have replaced it
                state.connected = False
            sender.cancel()
            writer.close()

    def _on_proxy_message(self, state, m: dict) -> bool:
        kind, version = m.get("type"), m.get("version")
        state.last_seen = time.time()
        if kind == "ack" and isinstance(version, str):
            state.acked = version
        elif kind == "nack" and isinstance(version, str):
            state.nacked, state.nack_reason = version, str(m.get("reason", ""))[:2000]
        elif kind == "heartbeat":
            state.reported = {k: m.get(k) for k in ("config_version", "cert_not_after", "health")}
        else:
            raise wire.ProtocolError(f"unexpected watch message type {kind!r}")
        if self.registry.seen(state.proxy_id):
            self._dirty.set()
        return kind == "heartbeat"

    async def _send_loop(self, watcher: Watcher, state) -> None:
        sent_here = None  # every new stream starts with the current snapshot
        try:
            while True:
                watcher.wake.clear()
                snap = self.snapshot
                if sent_here != snap.version:
                    watcher.writer.write(snap.frame)
                    sent_here = state.sent = snap.version
                    await watcher.writer.drain()
                await watcher.wake.wait()
        except (ConnectionError, ssl.SSLError):
            watcher.writer.close()
