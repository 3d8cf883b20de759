"""``python -m bench [events|router|gateway|tls|reload|mesh|integrations ...] [--json]``: run
the benchmarks (all by default)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

SUITES = {
    "events": "bench.events",
    "locallog": "bench.local_log",
    "router": "bench.router",
    "gateway": "bench.gateway",
    "tls": "bench.tls",
    "reload": "bench.reload",
    "mesh": "bench.mesh",
    "integrations": "bench.integrations",
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    ap.add_argument(
        "suites", nargs="*", help=f"which benchmarks: {', '.join(SUITES)} (default: all)"
    )
    ap.add_argument("--json", action="store_true", help="print one JSON object with every figure")
    ap.add_argument(
        "--quick", action="store_true", help="fewer, shorter runs (a smoke check, not a result)"
    )
    args = ap.parse_args(argv)
    unknown = [s for s in args.suites if s not in SUITES]
    if unknown:
        ap.error(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}")
    results = {}
    for name in args.suites or list(SUITES):
        module = importlib.import_module(SUITES[name])
        results[name] = module.run(quick=args.quick, log=(lambda *_: None) if args.json else print)
    if args.json:
        print(json.dumps(results, indent=None, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
