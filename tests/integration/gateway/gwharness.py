"""Real-socket helpers for the gateway's integration tests.

- ``StandIn``: a local upstream on 127.0.0.1 (its own thread and event loop) that answers every
  request with JSON describing what it received (``name``, ``port``, ``method``, ``target``,
  ``headers``, ``body``), keeps connections alive, and obeys test controls: ``status`` /
  ``delay`` for all requests, ``.../__status/NNN`` and ``.../__sleep/SECONDS`` in a path per request, and
  ``health_status`` for ``GET /health`` (active health checks). It counts requests.
- ``GatewayProcess``: ``carbonplane gateway start`` as a real subprocess on free ports, its
  ports read from the line it prints once serving.
- ``InProcessGateway``: a ``GatewayNode`` with the proxy in-process (``workers=0``) on a
  background loop: the same code paths minus process spawning, for fast tests; ``https=True``
  adds the HTTPS listener (``https_port``).
- ``http``: one request over a fresh or given ``http.client`` connection, JSON decoded.
"""

from __future__ import annotations

import asyncio
import http.client as httpclient
import json
import os
import re
import selectors
import signal
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[3]
CARBONPLANE = str(REPO / ".venv" / "bin" / "carbonplane")
START_TIMEOUT_S = 60.0


class StandIn:
    """A local upstream; see the module docstring."""

    def __init__(self, name: str = "upstream", *, tls: ssl.SSLContext | None = None) -> None:
        self.name = name
        self.tls = tls
        self.status = 200
        self.delay = 0.0
        self.health_status = 200
        self.requests = 0
        self.health_probes = 0
        self.active = 0
        self.max_active = 0
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stand-in-{name}", daemon=True)
        self._server: asyncio.AbstractServer | None = None

    def start(self) -> StandIn:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError(f"stand-in {self.name} did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def boot() -> None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
            self.port = self._server.sockets[0].getsockname()[1]
            self._ready.set()

        self._loop.run_until_complete(boot())
        self._loop.run_forever()

    def stop(self) -> None:
        async def shutdown() -> None:
            self._server.close()
            for task in asyncio.all_tasks():
                if task is not asyncio.current_task():
                    task.cancel()

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: list[tuple[str, str]] = []
                while True:
                    raw = await reader.readline()
                    if raw in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = raw.decode("latin-1").partition(":")
                    headers.append((name.strip().lower(), value.strip()))
                body = await _read_body(reader, dict(headers))
                await self._answer(writer, method, target, headers, body)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    async def _answer(self, writer, method, target, headers, body) -> None:
        if method == "GET" and target == "/health":
            self.health_probes += 1
            writer.write(b"HTTP/1.1 %d X\r\ncontent-length: 0\r\n\r\n" % self.health_status)
            await writer.drain()
            return
        self.requests += 1
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            status, delay = self.status, self.delay
            if "/__status/" in target:
                status = int(target.split("/__status/")[1][:3])
            if "/__sleep/" in target:
                delay = float(target.split("/__sleep/")[1].split("/")[0].split("?")[0])
            if delay:
                await asyncio.sleep(delay)
            doc = {
                "name": self.name,
                "port": self.port,
                "method": method,
                "target": target,
                "headers": headers,
                "body": body.decode("latin-1"),
            }
            out = json.dumps(doc).encode()
            writer.write(
                b"HTTP/1.1 %d X\r\ncontent-type: application/json\r\n"
                b"x-powered-by: stand-in\r\ncontent-length: %d\r\n\r\n%s" % (status, len(out), out)
            )
            await writer.drain()
        finally:
            self.active -= 1


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readline()).split(b";")[0], 16)
            if size == 0:
                await reader.readline()
                return b"".join(parts)
            parts.append(await reader.readexactly(size))
            await reader.readline()
    length = int(headers.get("content-length", "0") or 0)
    return await reader.readexactly(length) if length else b""


def self_signed_tls(directory: Path, host: str = "localhost") -> ssl.SSLContext:
    """A server TLS context with a fresh self-signed certificate for ``host``."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert_path, key_path)
    return ctx


def header(doc: dict, name: str) -> str | None:
    """A header value as a stand-in saw it (last one wins)."""
    found = None
    for n, v in doc["headers"]:
        if n == name:
            found = v
    return found


def write_config(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def http(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict | None = None,
    body: bytes | None = None,
    conn: httpclient.HTTPConnection | None = None,
    timeout: float = 10.0,
) -> tuple[int, dict[str, str], Any]:
    """One request; returns (status, lower-case headers, JSON body or raw bytes)."""
    own = conn is None
    conn = conn or httpclient.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        if own:
            conn.close()
    if hdrs.get("content-type", "").startswith("application/json") and data:
        return resp.status, hdrs, json.loads(data)
    return resp.status, hdrs, data


def admin(port: int, method: str, path: str, doc: Any = None, *, token: str | None = None):
    headers = {"content-type": "application/json"} if doc is not None else {}
    if token:
        headers["kong-admin-token"] = token
    body = json.dumps(doc).encode() if doc is not None else None
    return http(port, method, path, headers=headers, body=body)


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.02, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value (for state the test cannot await)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


class GatewayProcess:
    """``carbonplane gateway start`` as a subprocess on free loopback ports."""

    def __init__(
        self,
        config: Path,
        *,
        workers: int = 2,
        extra: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.args = [
            CARBONPLANE,
            "gateway",
            "start",
            "--config",
            str(config),
            "--proxy-listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--proxy-ssl-listen",
            "127.0.0.1:0",
            "--workers",
            str(workers),
            *(extra or []),
        ]
        self.env = {**os.environ, **(env or {})}
        self.proc: subprocess.Popen | None = None
        self.proxy_port = self.admin_port = self.https_port = 0

    def start(self) -> GatewayProcess:
        self.proc = subprocess.Popen(
            self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=self.env, cwd=REPO
        )
        line = _read_line(self.proc, START_TIMEOUT_S)
        if not line.startswith("gateway: proxy on"):
            self.stop()
            raise AssertionError(f"gateway did not start: {line!r}\n{self.stderr()}")
        ports = dict(re.findall(r"(proxy|admin|https) on \S+?:(\d+)", line))
        self.proxy_port = int(ports["proxy"])
        self.admin_port = int(ports["admin"])
        self.https_port = int(ports.get("https", 0))
        return self

    def stderr(self) -> str:
        if self.proc is None or self.proc.poll() is None:
            return ""
        return self.proc.stderr.read().decode(errors="replace")

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _read_line(proc: subprocess.Popen, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        if left <= 0 or not sel.select(left):
            return buf.decode(errors="replace") or "<no output before the timeout>"
        chunk = os.read(proc.stdout.fileno(), 4096)
        if not chunk:
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None else ""
            return (buf.decode(errors="replace") or "<exited>") + err
        buf += chunk
    return buf.split(b"\n", 1)[0].decode()


class InProcessGateway:
    """A ``GatewayNode`` (proxy in-process) on a background event loop."""

    def __init__(
        self,
        config_path: Path,
        *,
        token: str | None = None,
        proxy: dict[str, Any] | None = None,
        https: bool = False,
    ) -> None:
        from carbonplane.gateway.config.loader import load_config_file
        from carbonplane.gateway.node import NodeSettings
        from carbonplane.gateway.plugins import load_bundled

        load_bundled()
        self.config = load_config_file(config_path)
        self.settings = NodeSettings("127.0.0.1", 0, "127.0.0.1", 0, 0, token, dict(proxy or {}))
        if https:
            self.settings.proxy_ssl_host, self.settings.proxy_ssl_port = "127.0.0.1", 0
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.node = None
        self.proxy_port = self.admin_port = self.https_port = 0

    def start(self) -> InProcessGateway:
        from carbonplane.gateway.node import GatewayNode

        self.thread.start()

        async def boot():
            self.node = GatewayNode(self.config, self.settings)
            return await self.node.start()

        self.proxy_port, self.admin_port = asyncio.run_coroutine_threadsafe(
            boot(), self.loop
        ).result(30)
        self.https_port = self.node.proxy_ssl_port or 0
        return self

    def call(self, fn, *args):
        """Run ``fn(*args)`` on the gateway's loop (to read its state safely)."""

        async def run():
            return fn(*args)

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def stop(self) -> None:
        if self.node is not None:
            asyncio.run_coroutine_threadsafe(self.node.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> InProcessGateway:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class LoadLoop:
    """Keep-alive clients hammering the proxy from a background thread until ``stop()``.

    Every response is checked: status must be 200 (anything else, or a broken connection, is a
    failure, with its description kept). ``bodies`` counts the stand-in names that answered."""

    def __init__(
        self, port: int, paths: list[str], connections: int = 8, max_seconds: float = 60.0
    ) -> None:
        self.port = port
        self.paths = paths
        self.connections = connections
        self.max_seconds = max_seconds
        self.ok = 0
        self.failures: list[str] = []
        self.names: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    def start(self) -> LoadLoop:
        self._thread.start()
        return self

    def stop(self) -> LoadLoop:
        self._stop.set()
        self._thread.join(self.max_seconds + 30)
        return self

    async def _main(self) -> None:
        deadline = time.monotonic() + self.max_seconds
        await asyncio.gather(*(self._client(i, deadline) for i in range(self.connections)))

    async def _client(self, index: int, deadline: float) -> None:
        reader = writer = None
        n = index
        while not self._stop.is_set() and time.monotonic() < deadline:
            path = self.paths[n % len(self.paths)]
            n += 1
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(f"GET {path} HTTP/1.1\r\nHost: load\r\n\r\n".encode())
                status, body, close = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                self.failures.append(f"{path}: {type(exc).__name__}: {exc}")
                if writer is not None:
                    writer.close()
                reader = writer = None
                continue
            if status != 200:
                self.failures.append(f"{path}: status {status}: {body[:200]!r}")
            else:
                self.ok += 1
                name = json.loads(body)["name"]
                self.names[name] = self.names.get(name, 0) + 1
            if close:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes, bool]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            k, _, v = line.partition(":")
            fields[k.strip().lower()] = v.strip()
    if fields.get("transfer-encoding", "").lower() == "chunked":
        body = await _read_body(reader, fields)
    else:
        body = await reader.readexactly(int(fields.get("content-length", "0")))
    return status, body, fields.get("connection", "").lower() == "close"
