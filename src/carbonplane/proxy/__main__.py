"""Run the engine with the built-in static app (benchmarks, tests, quick local proxies).

    python -m carbonplane.proxy --listen 127.0.0.1:8000 --route /=127.0.0.1:8080 [--workers N]

``--workers 0`` (default 1) runs one worker in this process; N > 1 starts a ``Supervisor``
with N worker processes sharing the port through SO_REUSEPORT. Prints ``listening on PORT``
once serving, and stops cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys

from carbonplane.errors import ConfigError
from carbonplane.proxy.static import parse_address


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m carbonplane.proxy",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--listen", default="127.0.0.1:8000", help="HOST:PORT (port 0: any)")
    parser.add_argument("--route", action="append", default=[], metavar="PREFIX=HOST:PORT")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (0: in-process)")
    parser.add_argument("--proxy", default="{}", help="ProxyConfig fields as JSON")
    parser.add_argument("--upstream", default="{}", help="Upstream options as JSON (timeouts...)")
    args = parser.parse_args(argv)
    try:
        host, port = parse_address(args.listen, "--listen", any_port=True)
        routes = dict(r.split("=", 1) for r in args.route) if args.route else {}
        if not routes:
            raise ConfigError("give at least one --route PREFIX=HOST:PORT", where="--route")
        payload = json.dumps(
            {
                "routes": routes,
                "proxy": json.loads(args.proxy),
                "upstream": json.loads(args.upstream),
            }
        ).encode()
    except (ConfigError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from carbonplane.proxy.supervisor import run_forever

    return run_forever(
        host, port, "carbonplane.proxy.static:config_from_json", payload, workers=args.workers
    )


if __name__ == "__main__":
    sys.exit(main())
