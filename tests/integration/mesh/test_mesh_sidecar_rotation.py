"""Workload certificates rotating under load (3 s certificates, renewed at half-life): every
request through client sidecar -> mTLS -> server sidecar -> app succeeds, the caller's new
certificates reach the server (new connections after each swap: the XFCC hash changes), and each
renewal is a CERT_ISSUED event. Real processes, real TLS on loopback."""

from __future__ import annotations

import json
import re
import threading
import time

from controlkit import STRICT, ControlProcess, tokens_for
from sidecarkit import Workload, events_env
from tests.kits.net import wait_until

LOAD_SECONDS = 8.0


def test_every_request_succeeds_while_certificates_rotate(tmp_path):
    config, data = tmp_path / "policy", tmp_path / "data"
    config.mkdir()
    (config / "00-mesh.yaml").write_text(STRICT)
    control = ControlProcess(config, data, "--workload-ttl", "3").start()
    tokens = tokens_for(data, ["web", "api"])
    env = events_env(tmp_path / "home")
    workloads = []
    try:
        web = Workload("web", control, tokens["web"], tmp_path, env)
        workloads.append(web)
        api = Workload("api", control, tokens["api"], tmp_path, env)
        workloads.append(api)
        wait_until(lambda: web.call("api", "up")["status"] == 200, 20, "web reaching api")
        results: list[tuple[int, str]] = []
        serials = {"web": set(), "api": set()}
        stop = time.monotonic() + LOAD_SECONDS

        def load():
            while time.monotonic() < stop:
                r = web.call("api", "load")
                results.append((r["status"], r["body"]))

        def watch():
            while time.monotonic() < stop:
                for w in (web, api):
                    serials[w.name].add(w.status()["cert_serial"])
                time.sleep(0.2)

        threads = [threading.Thread(target=load) for _ in range(3)]
        threads.append(threading.Thread(target=watch))
        for t in threads:
            t.start()
        for t in threads:
            t.join(LOAD_SECONDS + 30)
        failures = [r for r in results if r[0] != 200]
        assert not failures, (len(failures), len(results), failures[:3])
        assert len(results) > 50, len(results)
        # both sides renewed several times during the run
        assert len(serials["web"]) >= 3 and len(serials["api"]) >= 3, serials
        # the server saw the caller's successive certificates (new connections after each swap)
        hashes = {
            re.search(r"Hash=([0-9a-f]+)", json.loads(b)["xfcc"][0]).group(1) for _, b in results
        }
        assert len(hashes) >= 3, hashes
        issued = web.status()["events"]["by_kind"].get("CERT_ISSUED", 0)
        assert issued >= 2, web.status()["events"]
    finally:
        for w in workloads:
            w.stop()
        control.stop()
