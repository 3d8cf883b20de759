"""Real-socket helpers for the gateway's integration tests.

The upstream they send traffic to is the shared ``tests.kits.standin.StandIn`` (on its own
thread: ``StandIn("a").start()``).

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
import ssl
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import yaml
from tests.kits import procs
from tests.kits.standin import read_chunked, read_length

REPO = Path(__file__).resolve().parents[3]
CARBONPLANE = str(REPO / ".venv" / "bin" / "carbonplane")
START_TIMEOUT_S = 60.0


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
        try:
            line = procs.first_line(self.proc, START_TIMEOUT_S)
        except AssertionError as exc:  # killed after printing nothing in time
            line = str(exc)
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
        return procs.stop(self.proc, timeout)

    def __enter__(self) -> GatewayProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


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
    chunks: list[bytes] = []
    if fields.get("transfer-encoding", "").lower() == "chunked":
        await read_chunked(reader, chunks.append)
    else:
        await read_length(reader, int(fields.get("content-length", "0")), chunks.append)
    body = b"".join(chunks)
    return status, body, fields.get("connection", "").lower() == "close"
