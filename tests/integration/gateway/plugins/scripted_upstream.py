"""A local upstream whose answers the test scripts per path, for plugins that react to what the
upstream sends (increment headers, Cache-Control, Set-Cookie, Vary, huge or slow bodies).

``ScriptedUpstream().start()``; ``script(path, status=, headers=, body=, delay=, chunked=,
pieces=, gap=)`` sets the answer for a path (query ignored); unscripted paths get 200 text/plain
``<path> #<n>``. ``hits[path]`` counts requests per path, ``seen[path]`` keeps their headers.
Bodies can be sent in ``pieces`` chunks (chunked framing), with ``delay`` seconds before the
head and ``gap`` seconds between pieces.
"""

from __future__ import annotations

import asyncio
import threading
from collections import defaultdict
from typing import Any


class ScriptedUpstream:
    def __init__(self) -> None:
        self.answers: dict[str, dict[str, Any]] = {}
        self.hits: dict[str, int] = defaultdict(int)
        self.seen: dict[str, list] = defaultdict(list)
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.AbstractServer | None = None

    def script(
        self,
        path: str,
        status: int = 200,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"ok",
        delay: float = 0.0,
        chunked: bool = False,
        pieces: int = 1,
        gap: float = 0.0,
    ) -> None:
        self.answers[path] = dict(
            status=status,
            headers=headers if headers is not None else [("Content-Type", "text/plain")],
            body=body,
            delay=delay,
            chunked=chunked,
            pieces=pieces,
            gap=gap,
        )

    def start(self) -> ScriptedUpstream:
        self.thread.start()

        async def boot() -> int:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            return self.server.sockets[0].getsockname()[1]

        self.port = asyncio.run_coroutine_threadsafe(boot(), self.loop).result(10)
        return self

    def stop(self) -> None:
        async def shut() -> None:
            self.server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        asyncio.run_coroutine_threadsafe(shut(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = [tuple(x.split(": ", 1)) for x in lines[1:] if x]
                length = next((int(v) for n, v in headers if n.lower() == "content-length"), 0)
                if length:
                    await reader.readexactly(length)
                path = target.split("?", 1)[0]
                self.hits[path] += 1
                self.seen[path].append(headers)
                await self._answer(writer, method, path)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, method: str, path: str) -> None:
        a = self.answers.get(path) or dict(
            status=200,
            headers=[("Content-Type", "text/plain")],
            body=f"{path} #{self.hits[path]}".encode(),
            delay=0.0,
            chunked=False,
            pieces=1,
            gap=0.0,
        )
        if a["delay"]:
            await asyncio.sleep(a["delay"])
        body = a["body"]
        lines = [f"HTTP/1.1 {a['status']} X"] + [f"{n}: {v}" for n, v in a["headers"]]
        if a["chunked"]:
            lines.append("Transfer-Encoding: chunked")
        else:
            lines.append(f"Content-Length: {len(body)}")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if method == "HEAD":
            await writer.drain()
            return
        if not a["chunked"]:
            writer.write(body)
        else:
            step = max(1, -(-len(body) // a["pieces"]))
            for i in range(0, len(body), step):
                piece = body[i : i + step]
                writer.write(b"%x\r\n%b\r\n" % (len(piece), piece))
                await writer.drain()
                if a["gap"]:
                    await asyncio.sleep(a["gap"])
            writer.write(b"0\r\n\r\n")
        await writer.drain()
