"""``carbonplane gateway``: run the API gateway, or check a declarative config without running it.

``start --config FILE`` validates the file first: any problem prints every finding with its
``file:line`` and exits 2 before anything listens. Then it starts the proxy workers (default one per
core, sharing the proxy port and the HTTPS port, ``--proxy-ssl-listen``, default 0.0.0.0:8443 as
Kong, ``off`` for none) and the Admin API, prints one line ``gateway: proxy on HOST:PORT (N
workers), admin on HOST:PORT, https on HOST:PORT`` (ports resolved when 0 was asked), and runs until
SIGINT/SIGTERM, letting in-flight requests finish. SIGHUP re-reads the config file (as ``kong
reload``): a valid file is applied to every worker without dropping a request and becomes what the
Admin API shows; an invalid one is reported on stderr with its ``file:line`` problems and the
running config keeps serving. The gateway never exits on SIGHUP.

``reload [--admin-url URL]``: the same through the Admin API (``POST /config/reload``): the
gateway re-reads the file it was started with, exactly as on SIGHUP; exit 0 reloaded, 2 the file
is invalid (problems printed) or the workers cannot run it, 1 the Admin API cannot be reached or
refused.

The Admin API refuses a non-loopback listen address unless an admin token is configured
(``--admin-token-env VAR`` or ``--admin-token-file FILE``); with a token every Admin API request
must carry it in ``Kong-Admin-Token``. It answers only requests whose Host is loopback, its listen
address or a name given with ``--admin-host NAME,...`` (DNS rebinding defence; see the Admin API
security section of ``docs/gateway.md``).

``--headers``, ``--headers-upstream`` and ``--error-default-type`` are Kong's ``headers``,
``headers_upstream`` and ``error_default_type`` (``gateway/runtime/headers.py``); a bad value exits
2 naming the option.

``validate FILE [--json]``: exit 0 when valid, 2 when not; ``--json`` prints
``{"file", "valid", "problems": [{"where", "message"}], "entities": {kind: count}}``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import typer

from carbonplane.cli.output import console, print_json
from carbonplane.errors import ConfigError, GatewayConfigError

app = typer.Typer(
    help="Run the Kong-compatible API gateway or validate its configuration.", no_args_is_help=True
)


def parse_listen(value: str, option: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:8001)", where=option)
    return (host.strip("[]") or "0.0.0.0"), int(port)


def read_admin_token(env: str | None, file: Path | None) -> str | None:
    if env and file:
        raise ConfigError(
            "give either --admin-token-env or --admin-token-file, not both",
            where="--admin-token-env",
        )
    if env:
        token = os.environ.get(env)
        if not token:
            raise ConfigError(
                f"environment variable {env} is not set or empty", where="--admin-token-env"
            )
        return token.strip()
    if file:
        try:
            token = file.read_text().strip()
        except OSError as exc:
            raise ConfigError(
                f"cannot read {file}: {exc.strerror}", where="--admin-token-file"
            ) from None
        if not token:
            raise ConfigError(f"{file} is empty", where="--admin-token-file")
        return token
    return None


def load_checked(path: Path):
    """Load the config with every plugin installed, or exit 2 listing every problem."""
    from carbonplane.gateway.config.loader import load_config_file
    from carbonplane.gateway.plugins import load_bundled

    load_bundled()
    try:
        return load_config_file(path)
    except GatewayConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("start")
def start(
    config: Path = typer.Option(
        ..., "--config", "-c", help="Kong declarative config (YAML or JSON)."
    ),
    proxy_listen: str = typer.Option(
        "0.0.0.0:8000", "--proxy-listen", help="HOST:PORT of the proxy."
    ),
    proxy_ssl_listen: str = typer.Option(
        "0.0.0.0:8443",
        "--proxy-ssl-listen",
        help="HOST:PORT of the HTTPS proxy listener, or 'off'.",
    ),
    ssl_handshake_timeout: float = typer.Option(
        10.0,
        "--ssl-handshake-timeout",
        min=0.1,
        help="Seconds a client has to finish its TLS handshake before it is dropped.",
    ),
    admin_listen: str = typer.Option(
        "127.0.0.1:8001", "--admin-listen", help="HOST:PORT of the Admin API."
    ),
    workers: int = typer.Option(
        0, "--workers", "-w", min=0, help="Worker processes (default: one per core)."
    ),
    in_process: bool = typer.Option(
        False, "--in-process", help="Serve the proxy in this process instead of workers."
    ),
    admin_token_env: str = typer.Option(
        None,
        "--admin-token-env",
        metavar="VAR",
        help="Environment variable holding the admin token.",
    ),
    admin_token_file: Path = typer.Option(
        None, "--admin-token-file", metavar="FILE", help="File holding the admin token."
    ),
    trusted_ips: str = typer.Option(
        "",
        "--trusted-ips",
        metavar="CIDR,...",
        help="Peers whose X-Forwarded-* headers are believed.",
    ),
    admin_hosts: str = typer.Option(
        "",
        "--admin-host",
        metavar="NAME,...",
        help="Host names the Admin API answers to besides loopback "
        "and its listen address (others get 421).",
    ),
    headers: str = typer.Option(
        "server_tokens, latency_tokens, X-Kong-Request-Id",
        "--headers",
        metavar="NAME,...",
        help="Kong's headers: what clients get (server_tokens, latency_tokens, "
        "X-Kong-Request-Id, single header names, or off).",
    ),
    headers_upstream: str = typer.Option(
        "X-Kong-Request-Id",
        "--headers-upstream",
        metavar="NAME,...",
        help="Kong's headers_upstream: X-Kong-Request-Id or off.",
    ),
    error_default_type: str = typer.Option(
        "text/plain",
        "--error-default-type",
        metavar="TYPE",
        help="Kong's error_default_type: the format of the proxy's own errors when the "
        "request has no Accept or Content-Type.",
    ),
) -> None:
    """Run the gateway: proxy workers and the Admin API."""
    from carbonplane.gateway.admin import check_admin_listen
    from carbonplane.gateway.node import NodeSettings
    from carbonplane.gateway.runtime.headers import proxy_header_settings

    proxy_host, proxy_port = parse_listen(proxy_listen, "--proxy-listen")
    admin_host, admin_port = parse_listen(admin_listen, "--admin-listen")
    ssl_host, ssl_port = "0.0.0.0", None
    if proxy_ssl_listen.strip().lower() != "off":
        ssl_host, ssl_port = parse_listen(proxy_ssl_listen, "--proxy-ssl-listen")
    token = read_admin_token(admin_token_env, admin_token_file)
    check_admin_listen(admin_host, token)
    loaded = load_checked(config)
    proxy = {
        "trusted_ips": [ip.strip() for ip in trusted_ips.split(",") if ip.strip()],
        **proxy_header_settings(headers, headers_upstream, error_default_type),
    }
    settings = NodeSettings(
        proxy_host,
        proxy_port,
        admin_host,
        admin_port,
        0 if in_process else (workers or os.cpu_count() or 1),
        token,
        proxy,
        admin_hosts=tuple(h.strip() for h in admin_hosts.split(",") if h.strip()),
        config_file=str(config.resolve()),
        proxy_ssl_host=ssl_host,
        proxy_ssl_port=ssl_port,
        ssl_handshake_timeout=ssl_handshake_timeout,
    )
    import uvloop

    sys.exit(uvloop.run(_serve(loaded, settings)))


async def _serve(config, settings) -> int:
    from carbonplane.gateway.node import GatewayNode

    node = GatewayNode(config, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    hangups: set[asyncio.Task] = set()
    started = asyncio.Event()  # a SIGHUP while starting reloads once the workers serve

    def on_hangup() -> None:
        task = loop.create_task(_hangup(node, started))
        hangups.add(task)
        task.add_done_callback(hangups.discard)

    loop.add_signal_handler(signal.SIGHUP, on_hangup)
    proxy_port, admin_port = await node.start()
    started.set()
    count = settings.workers or 1
    mode = f"{count} worker{'s' if count != 1 else ''}" if settings.workers else "in-process"
    https = f", https on {settings.proxy_ssl_host}:{node.proxy_ssl_port}"
    print(
        f"gateway: proxy on {settings.proxy_host}:{proxy_port} ({mode}), "
        f"admin on {settings.admin_host}:{admin_port}"
        + (https if node.proxy_ssl_port is not None else ""),
        flush=True,
    )
    await stop.wait()
    for task in list(hangups):
        task.cancel()
    await node.stop()
    return 0


async def _hangup(node, started: asyncio.Event) -> None:
    """SIGHUP: re-read the start file; report, never raise (the gateway must not exit)."""
    path = node.settings.config_file
    await started.wait()
    try:
        new = await node.reload()
    except GatewayConfigError as exc:
        for problem in exc.problems:  # one line each, file:line first
            typer.echo(
                f"gateway: SIGHUP: {path} not reloaded, the running config keeps "
                f"serving: {problem}",
                err=True,
            )
    except Exception as exc:  # AdminAPIError (workers cannot run it), OSError ...
        detail = getattr(exc, "body", None) or exc
        typer.echo(
            f"gateway: SIGHUP: {path} not reloaded, the running config keeps serving: {detail}",
            err=True,
        )
    else:
        typer.echo(
            f"gateway: SIGHUP: reloaded {path} (configuration version {new.version})", err=True
        )


@app.command("reload")
def reload(
    admin_url: str = typer.Option(
        "http://127.0.0.1:8001", "--admin-url", help="The running gateway's Admin API."
    ),
    admin_token_env: str = typer.Option(
        None,
        "--admin-token-env",
        metavar="VAR",
        help="Environment variable holding the admin token.",
    ),
    admin_token_file: Path = typer.Option(
        None, "--admin-token-file", metavar="FILE", help="File holding the admin token."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the Admin API's answer as JSON."),
) -> None:
    """Make a running gateway re-read the config file it was started with (as SIGHUP)."""
    import http.client
    import json
    from urllib.parse import urlsplit

    token = read_admin_token(admin_token_env, admin_token_file)
    url = urlsplit(admin_url if "://" in admin_url else f"http://{admin_url}")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(
            f"{admin_url!r} is not an http(s) URL of the Admin API", where="--admin-url"
        )
    cls = http.client.HTTPSConnection if url.scheme == "https" else http.client.HTTPConnection
    conn = cls(url.hostname, url.port or (443 if url.scheme == "https" else 80), timeout=300)
    headers = {"content-length": "0"}
    if token:
        headers["kong-admin-token"] = token
    try:
        conn.request("POST", url.path.rstrip("/") + "/config/reload", headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
    except OSError as exc:
        typer.echo(f"error: cannot reach the Admin API at {admin_url}: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        conn.close()
    try:
        doc = json.loads(raw or b"{}")
    except ValueError:
        doc = {"message": raw.decode(errors="replace")}
    if as_json:
        print_json({"status": resp.status, **doc})
    if resp.status == 200:
        if not as_json:
            console().print(f"reloaded: configuration version {doc.get('configuration_version')}")
        return
    if not as_json:
        problems = doc.get("flattened_errors") or []
        lines = [
            f"{p['where']}: {p['message']}" if p.get("where") else p["message"] for p in problems
        ]
        if lines:
            typer.echo(
                "error: the gateway's config file is invalid; the running config keeps serving:",
                err=True,
            )
            for line in lines:
                typer.echo(f"  {line}", err=True)
        else:
            typer.echo(f"error: {resp.status}: {doc.get('message', raw[:200])}", err=True)
    raise typer.Exit(2 if doc.get("code") == 14 else 1)


@app.command("validate")
def validate(
    file: Path = typer.Argument(..., help="Kong declarative config (YAML or JSON)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for machines."),
) -> None:
    """Check a declarative config: exit 0 when valid, 2 listing every problem when not."""
    from carbonplane.gateway.config.loader import load_config_file
    from carbonplane.gateway.plugins import load_bundled

    load_bundled()
    try:
        loaded = load_config_file(file)
    except GatewayConfigError as exc:
        problems = [{"where": p.where, "message": p.message} for p in exc.problems]
        if as_json:
            print_json({"file": str(file), "valid": False, "problems": problems, "entities": {}})
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    counts = {kind: len(items) for kind, items in loaded.all_lists().items() if items}
    if as_json:
        print_json({"file": str(file), "valid": True, "problems": [], "entities": counts})
        return
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "no entities"
    console().print(f"{file}: valid ({summary})")
