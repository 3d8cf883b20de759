"""``carbonplane mesh``: run the mesh control plane and operate it.

- ``control --config DIR [--data DIR] [--listen HOST:PORT]``: load the policy directory (exit 2
  listing every file:line problem if it is invalid), open or create the CA under the data
  directory, print ``mesh control: listening on HOST:PORT ...`` and serve until SIGINT/SIGTERM.
- ``token SERVICE [--namespace NS] [--ttl SECONDS] [--out FILE]``: a single-use join token file
  (0600) and, beside it, ``<file>.root.pem``: the trust bundle the sidecar pins for bootstrap.
- ``status [--json]``: every proxy, like ``istioctl proxy-status`` (SYNCED, STALE, NOT SENT).
- ``apply [FILE...]``: copy policy files into the control plane's config directory (after checking
  the result compiles) and make it reload now.
- ``ca rotate [--overlap SECONDS]``: a new signing root; the old one stays trusted for the overlap.
- ``sidecar --service NAME --app HOST:PORT --control HOST:PORT --token-file F --root-file F ...``:
  one workload's sidecar (inbound mTLS + authorization, outbound by Host / HTTP_PROXY); prints
  ``mesh sidecar: NAME inbound H:P outbound H:P admin H:P ...`` once serving.

Operator commands reach the running control plane at the address it wrote to
``<data>/control.json``, over TLS pinned to ``<data>/trust-bundle.pem``, authenticated by the
admin token in ``<data>/admin.token`` (0600): whoever can read the data directory administers the
mesh. ``--data`` defaults to ``$CARBONPLANE_MESH_DATA`` or ``./mesh-data``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import shutil
import signal
import sys
from pathlib import Path

import typer

from carbonplane.cli.output import console, print_json
from carbonplane.errors import ConfigError

app = typer.Typer(help="Run and operate the service mesh control plane.", no_args_is_help=True)
ca_app = typer.Typer(help="The mesh certificate authority.", no_args_is_help=True)
app.add_typer(ca_app, name="ca")

DATA_OPTION = typer.Option(
    Path(os.environ.get("CARBONPLANE_MESH_DATA", "mesh-data")),
    "--data",
    help="Control plane data directory (CA, tokens, registry).",
)


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{value!r} is not HOST:PORT (e.g. 127.0.0.1:15010)", where="--listen")
    return host.strip("[]") or "127.0.0.1", int(port)


@app.command("control")
def control(
    config: Path = typer.Option(..., "--config", help="Directory of Istio policy YAML files."),
    data: Path = DATA_OPTION,
    listen: str = typer.Option("127.0.0.1:15010", "--listen", help="HOST:PORT to serve on."),
    trust_domain: str = typer.Option("cluster.local", "--trust-domain"),
    workload_ttl: float = typer.Option(
        86400.0, "--workload-ttl", min=1.0, help="Workload certificate lifetime, seconds."
    ),
    registration_ttl: float = typer.Option(
        30.0, "--registration-ttl", min=0.5, help="Seconds without heartbeat before unhealthy."
    ),
    poll_interval: float = typer.Option(
        0.2, "--poll-interval", min=0.01, help="Seconds between policy directory checks."
    ),
) -> None:
    """Run the control plane: CA, join tokens, registry and config push."""
    from carbonplane.mesh.control import ControlPlane
    from carbonplane.mesh.policy import PolicyError

    host, port = _listen(listen)
    if not config.is_dir():
        raise ConfigError(f"{config} is not a directory", where="--config")
    try:
        plane = ControlPlane(
            config,
            data,
            trust_domain=trust_domain,
            workload_ttl=workload_ttl,
            registration_ttl=registration_ttl,
            poll_interval=poll_interval,
        )
    except PolicyError as exc:
        typer.echo(f"error: the policy in {config} is invalid:\n{exc}", err=True)
        raise typer.Exit(2) from None
    sys.exit(asyncio.run(_serve(plane, host, port)))


async def _serve(plane, host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await plane.start(host, port)
    print(
        f"mesh control: listening on {plane.address}, identity {plane.identity}, "
        f"config {plane.snapshot.version} (policy {plane.policy.bundle.version}), "
        f"data {plane.data_dir}",
        flush=True,
    )
    await stop.wait()
    await plane.close()
    return 0


def _admin(data: Path, action: str, **fields) -> dict:
    from carbonplane.mesh.agent.client import admin
    from carbonplane.mesh.control.server import ADMIN_TOKEN_FILE, CONTROL_FILE, TRUST_BUNDLE_FILE
    from carbonplane.mesh.identity import files

    try:
        info = json.loads((data / CONTROL_FILE).read_text())
    except FileNotFoundError:
        raise ConfigError(
            f"{data / CONTROL_FILE} does not exist: no control plane has run with "
            "this data directory",
            where="--data",
        ) from None
    token = files.read_private(data / ADMIN_TOKEN_FILE, "admin token").decode().strip()
    return asyncio.run(
        admin(
            info["address"],
            (data / TRUST_BUNDLE_FILE).read_bytes(),
            info["trust_domain"],
            token,
            action,
            **fields,
        )
    )


@app.command("token")
def token(
    service: str = typer.Argument(..., help="The workload's service account name."),
    namespace: str = typer.Option("default", "--namespace", "-n"),
    ttl: float = typer.Option(86400.0, "--ttl", min=1.0, help="Token lifetime, seconds."),
    out: Path = typer.Option(
        None, "--out", help="Token file (default <data>/join/NS.SERVICE.token)."
    ),
    data: Path = DATA_OPTION,
    trust_domain: str = typer.Option("cluster.local", "--trust-domain"),
) -> None:
    """Write a single-use join token (0600) and the root certificate to pin beside it."""
    from carbonplane.mesh.identity import CertificateAuthority, JoinTokens, files

    ca = CertificateAuthority(data, trust_domain=trust_domain)
    out = out or files.make_private_dir(data / "join") / f"{namespace}.{service}.token"
    JoinTokens(data, ca).issue_token(
        service, namespace, ttl=dt.timedelta(seconds=ttl), write_to=out
    )
    root = out.with_name(out.name + ".root.pem")
    files.write_atomic(root, ca.trust_bundle_pem(), files.PUBLIC)
    typer.echo(f"join token for spiffe://{trust_domain}/ns/{namespace}/sa/{service}: {out}")
    typer.echo(f"root certificate to pin: {root}")


@app.command("status")
def status(
    data: Path = DATA_OPTION, as_json: bool = typer.Option(False, "--json", help="Print JSON.")
) -> None:
    """Every proxy with its sync state, config version, identity and certificate expiry."""
    answer = _admin(data, "status")
    answer.pop("ok", None)
    if as_json:
        print_json(answer)
        return
    from rich.table import Table

    table = Table(
        "PROXY",
        "SERVICE",
        "STATE",
        "VERSION",
        "CONNECTED",
        "CERT EXPIRY",
        "LAST SEEN",
        "IDENTITY",
        "DETAIL",
    )
    for p in answer["proxies"]:
        table.add_row(
            p["proxy_id"],
            p["service"] or "-",
            p["state"],
            p["config_version"] or "-",
            "yes" if p["connected"] else "no",
            p["cert_expiry"] or "-",
            p["last_seen"] or "-",
            p["identity"],
            p["detail"],
        )
    out = console()
    out.print(
        f"control plane config {answer['version']} (policy {answer['policy_version']})"
        + (f"; policy error: {answer['policy_error']}" if answer["policy_error"] else "")
    )
    out.print(table)


@app.command("apply")
def apply(
    files_: list[Path] = typer.Argument(
        None, metavar="[FILE]...", help="Policy files to copy into the config dir."
    ),
    data: Path = DATA_OPTION,
) -> None:
    """Copy policy files into the config directory (if the result compiles) and reload now."""
    from carbonplane.mesh.control.server import CONTROL_FILE
    from carbonplane.mesh.policy import PolicyError, load_bundle

    if files_:
        import tempfile

        config_dir = Path(json.loads((data / CONTROL_FILE).read_text())["config_dir"])
        with tempfile.TemporaryDirectory() as tmp:  # what the directory will hold, checked first
            for f in [*config_dir.iterdir(), *files_]:
                if f.is_file():
                    shutil.copyfile(f, Path(tmp) / f.name)
            try:
                load_bundle(tmp)
            except PolicyError as exc:
                typer.echo(f"error: not applied, the result would be invalid:\n{exc}", err=True)
                raise typer.Exit(2) from None
        for f in files_:
            dest = config_dir / f.name
            shutil.copyfile(f, dest.with_name(f".tmp-{dest.name}"))
            os.replace(dest.with_name(f".tmp-{dest.name}"), dest)
    answer = _admin(data, "reload")
    if not answer.get("ok", False):
        typer.echo(f"error: {answer.get('message')}", err=True)
        raise typer.Exit(2)
    typer.echo(
        f"config {answer['version']} (policy {answer['policy_version']}), "
        f"{'changed' if answer['changed'] else 'unchanged'}"
    )


@ca_app.command("rotate")
def rotate(
    overlap: float = typer.Option(
        172800.0, "--overlap", min=0.0, help="Seconds the old root stays trusted."
    ),
    data: Path = DATA_OPTION,
) -> None:
    """Make a new root the signer; push the two-root bundle; prune the old after the overlap."""
    answer = _admin(data, "rotate", overlap=overlap)
    typer.echo(
        f"new root {answer['root']}; old root trusted until "
        f"{', '.join(answer['old_trusted_until'])}; config {answer['version']}"
    )


@app.command("sidecar")
def sidecar(
    service: str = typer.Option(..., "--service", help="This workload's service (account) name."),
    namespace: str = typer.Option("default", "--namespace"),
    app_addr: str = typer.Option(..., "--app", help="HOST:PORT of the app behind this sidecar."),
    control_addr: str = typer.Option(..., "--control", help="HOST:PORT of the control plane."),
    token_file: Path = typer.Option(
        None, "--token-file", help="Join token (needed only before the first start)."
    ),
    root_file: Path = typer.Option(..., "--root-file", help="Mesh trust bundle to pin."),
    inbound: str = typer.Option("127.0.0.1:15006", "--inbound", help="Inbound HOST:PORT."),
    outbound: str = typer.Option(
        "127.0.0.1:15001", "--outbound", help="Outbound HOST:PORT (loopback; the app's HTTP_PROXY)."
    ),
    admin: str = typer.Option(
        "127.0.0.1:15000", "--admin", help="Admin HOST:PORT (/healthz/ready, /config_dump)."
    ),
    data: Path = typer.Option(
        Path("sidecar-data"),
        "--data",
        help="Sidecar data directory (key, certificate, last config).",
    ),
    label: list[str] = typer.Option(
        None, "--label", help="Workload label KEY=VALUE (repeat); default app=<service>."
    ),
    trust_domain: str = typer.Option("cluster.local", "--trust-domain"),
) -> None:
    """Run one workload's sidecar until SIGINT/SIGTERM."""
    from carbonplane.mesh.sidecar import Sidecar

    labels = {}
    for item in label or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"{item!r} is not KEY=VALUE", where="--label")
        labels[key] = value
    try:
        car = Sidecar(
            service=service,
            namespace=namespace,
            app=app_addr,
            control=control_addr,
            token_file=token_file,
            root_file=root_file,
            data_dir=data,
            inbound=inbound,
            outbound=outbound,
            admin=admin,
            labels=labels or None,
            trust_domain=trust_domain,
        )
    except ValueError as exc:
        raise ConfigError(str(exc), where="carbonplane mesh sidecar") from None
    import uvloop  # the engine's loop, as the gateway runs it

    sys.exit(uvloop.run(_run_sidecar(car)))


async def _run_sidecar(car) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await car.start()
    ports = car.ports
    print(
        f"mesh sidecar: {car.service} inbound {car.inbound_addr[0]}:{ports['inbound']} "
        f"outbound {car.outbound_addr[0]}:{ports['outbound']} "
        f"admin {car.admin_addr[0]}:{ports['admin']} identity {car.agent.identity} "
        f"config {car.agent.config_version}",
        flush=True,
    )
    await stop.wait()
    await car.stop()
    car.events.close()
    return 0
