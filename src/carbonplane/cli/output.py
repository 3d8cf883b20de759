"""What every command shares: where its backends come from, and how it prints.

``Backends`` opens the configured event backend (``EventsConfig.from_env``: the embedded log by
default, Kafka when ``KAFKA_BOOTSTRAP_SERVERS`` is set) and closes what it opened. A caller that
already holds a backend (tests, an embedding program) passes ``Backends.shared(log)`` as the Click
context object (``app(obj=...)`` or ``CliRunner().invoke(app, args, obj=...)``); commands find it
with ``backends(ctx)``.

Printing: rich tables for people on stdout; ``--json`` prints JSON (one document, or one object per
line for record streams) with nothing else on stdout. Notes for people go to stderr.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
import typer
from rich.console import Console

from carbonplane.events.backends.base import LogAdmin, LogReader, ProducerBackend
from carbonplane.events.config import EventsConfig

_encode = msgspec.json.Encoder().encode


class Backends:
    """Opens admin, reader and producer backends on demand; closes them unless they were given."""

    def __init__(
        self,
        admin: Callable[[], LogAdmin],
        reader: Callable[[], LogReader],
        producer: Callable[[str], ProducerBackend],
        *,
        owned: bool = True,
    ) -> None:
        self._admin, self._reader, self._producer, self._owned = admin, reader, producer, owned

    @classmethod
    def from_env(cls) -> "Backends":
        from carbonplane.events.backends import factory

        cfg = EventsConfig.from_env()
        return cls(
            lambda: factory.open_admin(cfg),
            lambda: factory.open_reader(cfg),
            lambda client_id: factory.open_producer_backend(cfg, client_id),
        )

    @classmethod
    def shared(cls, log: Any) -> "Backends":
        """One object that is admin, reader and producer at once (e.g. ``MemoryLog``);
        never closed."""
        return cls(lambda: log, lambda: log, lambda _client_id: log, owned=False)

    @contextmanager
    def admin(self) -> Iterator[LogAdmin]:
        yield from self._opened(self._admin())

    @contextmanager
    def reader(self) -> Iterator[LogReader]:
        yield from self._opened(self._reader())

    @contextmanager
    def producer(self, client_id: str) -> Iterator[ProducerBackend]:
        yield from self._opened(self._producer(client_id))

    def _opened(self, thing: Any) -> Iterator[Any]:
        try:
            yield thing
        finally:
            if self._owned and hasattr(thing, "close"):
                thing.close()


def backends(ctx: typer.Context) -> Backends:
    """The context's backends (given by the caller) or the configured ones."""
    given = ctx.find_root().obj
    return given if isinstance(given, Backends) else Backends.from_env()


def console() -> Console:
    """A stdout console; wide enough for our tables when stdout is not a terminal."""
    out = Console(file=typer.get_text_stream("stdout"), highlight=False, soft_wrap=False)
    if not out.is_terminal:
        out = Console(
            file=typer.get_text_stream("stdout"), highlight=False, width=160, color_system=None
        )
    return out


def note(message: str) -> None:
    """A line for people, on stderr (never mixed into --json output)."""
    typer.echo(message, err=True)


def print_json(document: Any) -> None:
    typer.echo(_encode(document).decode())


def print_json_line(obj: Any, *, flush: bool = False) -> None:
    out = typer.get_text_stream("stdout")
    out.write(_encode(obj).decode() + "\n")
    if flush:
        out.flush()


def print_line(text: str, *, flush: bool = False) -> None:
    out = typer.get_text_stream("stdout")
    out.write(text + "\n")
    if flush:
        out.flush()


def human_ms(value: str | int | None) -> str:
    """``604800000`` -> ``7d``; ``-1`` -> ``forever``; anything else unchanged."""
    try:
        ms = int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "" if value is None else str(value)
    if ms < 0:
        return "forever"
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms and ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"
