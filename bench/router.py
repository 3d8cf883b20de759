"""Router micro-benchmark: Kong-semantics matching over the 254Carbon platform's 14 routes.

Reports microseconds per ``router.match`` (median of several runs of a fixed mix of hits and a
miss). Bounded: 5 runs x 20,000 matches.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path

from carbonplane.gateway.config.loader import load_config_file

PLATFORM = Path(__file__).resolve().parent.parent / "platforms" / "254carbon" / "kong.yml"
PATHS = [
    "/api/datahub/entities",
    "/datahub/x",
    "/api/trino/v1/statement",
    "/trino-ui/q",
    "/api/superset/chart",
    "/superset/welcome",
    "/api/dolphinscheduler/projects",
    "/api/s3/bucket",
    "/api/mlflow/runs",
    "/api/iceberg/v1/config",
    "/api/services/status",
    "/api/grafana/d",
    "/api/prometheus/query",
    "/api/schema/subjects",
    "/nomatch/at/all",
]


def run(quick: bool = False, log: Callable[..., None] = print) -> dict:
    config = load_config_file(PLATFORM)
    router = config.router
    per_run, runs = (5_000, 3) if quick else (20_000, 5)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for i in range(per_run):
            router.match("GET", "gateway.254carbon.com", PATHS[i % len(PATHS)])
        samples.append((time.perf_counter() - start) / per_run * 1e6)
    median = statistics.median(samples)
    log(f"router.match: {median:.2f} us per request (14 routes, median of {runs})")
    return {"routes": 14, "us_per_match": samples, "us_per_match_median": median}
