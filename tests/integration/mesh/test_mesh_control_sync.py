"""Config push against a real control plane process: a policy change reaches 50 real agents
(ACKed, SYNCED in ``mesh status``) within one second; a snapshot an agent cannot apply shows
STALE with the rejected version and the agent's reason, while that agent keeps its last good one."""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import time

from controlkit import (
    DESTINATION_RULE,
    STRICT,
    agent_for,
    allow_policy,
    cli,
    status_until,
    tokens_for,
)

from carbonplane.mesh.agent import ALL_KINDS, client

AGENTS = 50


def control_cpu(control) -> float:
    """User + system CPU seconds of the control plane process so far."""
    fields = open(f"/proc/{control.proc.pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def all_synced(n):
    return lambda s: (
        len(s["proxies"]) == n
        and all(
            p["state"] == "SYNCED" and p["config_version"] == s["version"] for p in s["proxies"]
        )
    )


def test_policy_change_reaches_fifty_agents_within_one_second(control, tmp_path):
    services = [f"svc-{i:02d}" for i in range(AGENTS)]
    tokens = tokens_for(control.data, services)
    results = []

    async def run():
        applied: dict[str, float] = {}
        target = {"policy": None}

        def on_change(event, agent):
            if event == "config" and agent.current_config.policy.version == target["policy"]:
                applied.setdefault(agent.service, time.monotonic())

        agents = [
            agent_for(
                control,
                tmp_path,
                s,
                tokens[s],
                on_change=on_change,
                address=f"127.0.0.1:{20000 + i}",
            )
            for i, s in enumerate(services)
        ]
        await asyncio.gather(*(a.start() for a in agents))
        await status_until(control, all_synced(AGENTS), 60, "50 agents SYNCED")
        admin_token = (control.data / "admin.token").read_text().strip()
        root = (control.data / "trust-bundle.pem").read_bytes()
        for round_ in range(5):  # three found by the poller, two pushed by a reload request
            applied.clear()
            text = allow_policy(f"round-{round_}", "cluster.local/ns/default/sa/svc-00")
            new = tmp_path / "staged.yaml"
            new.write_text(text)
            from carbonplane.mesh.policy import load_texts

            expected = load_texts([("10-strict.yaml", STRICT), ("20-allow.yaml", text)]).version
            target["policy"] = expected
            cpu0, agents_cpu0 = control_cpu(control), time.process_time()
            t0 = time.monotonic()
            os.replace(new, control.config / "20-allow.yaml")  # the poller finds it, or:
            if round_ >= 3:  # what `mesh apply` does after copying the file
                await client.admin(control.address, root, "cluster.local", admin_token, "reload")
            await asyncio.gather(
                *(
                    a.wait_for(lambda a: a.current_config.policy.version == expected, 5)
                    for a in agents
                )
            )
            lat = sorted(applied[s] - t0 for s in services)
            results.append(
                (
                    "poll" if round_ < 3 else "reload",
                    statistics.median(lat),
                    lat[-1],
                    control_cpu(control) - cpu0,
                    time.process_time() - agents_cpu0,
                )
            )
            status = await status_until(control, all_synced(AGENTS), 10, "SYNCED after change")
            assert status["policy_version"] == expected
        for a in agents:
            await a.stop()

    asyncio.run(run())
    report = {
        "agents": AGENTS,
        "rounds": [
            {
                "via": v,
                "median_s": round(m, 4),
                "max_s": round(x, 4),
                "control_cpu_s": round(c, 3),
                "agents_cpu_s": round(a, 3),
            }
            for v, m, x, c, a in results
        ],
    }
    print("\nMESH-SYNC", json.dumps(report))
    for _, median, worst, _, _ in results:
        assert worst < 1.0, report


def test_rejected_snapshot_shows_stale_with_reason(control, tmp_path):
    tokens = tokens_for(control.data, ["orders", "legacy"])

    async def run():
        modern = await agent_for(control, tmp_path, "orders", tokens["orders"]).start()
        legacy = await agent_for(
            control,
            tmp_path,
            "legacy",
            tokens["legacy"],
            accept_kinds=ALL_KINDS - {"DestinationRule"},
        ).start()
        status = await status_until(control, all_synced(2), 20, "both SYNCED")
        good = status["version"]
        assert legacy.config_version == good
        dr = tmp_path / "30-orders-dr.yaml"
        dr.write_text(DESTINATION_RULE)
        res = await asyncio.to_thread(cli, "mesh", "apply", str(dr), "--data", str(control.data))
        assert res.returncode == 0, res.stderr
        status = await status_until(
            control,
            lambda s: (
                s["version"] != good
                and {p["service"]: p["state"] for p in s["proxies"]}
                == {"default/orders": "SYNCED", "default/legacy": "STALE"}
            ),
            10,
            "legacy STALE",
        )
        row = next(p for p in status["proxies"] if p["service"] == "default/legacy")
        assert row["rejected_version"] == status["version"]
        assert "unsupported kind DestinationRule" in row["rejected_reason"]
        assert "30-orders-dr.yaml" in row["rejected_reason"]
        assert row["config_version"] == good and legacy.config_version == good
        assert legacy.rejected[0] == status["version"]
        # an invalid file is refused by `mesh apply` before anything changes
        bad = tmp_path / "40-bad.yaml"
        bad.write_text(
            DESTINATION_RULE.replace("host:", "hosst:").replace("name: orders", "name: other")
        )
        res = await asyncio.to_thread(cli, "mesh", "apply", str(bad), "--data", str(control.data))
        assert res.returncode == 2 and "40-bad.yaml:" in res.stderr
        assert not (control.config / "40-bad.yaml").exists()
        # removing the DestinationRule brings legacy back to SYNCED
        (control.config / "30-orders-dr.yaml").unlink()
        await status_until(control, all_synced(2), 10, "SYNCED again")
        assert legacy.rejected is None
        await modern.stop()
        await legacy.stop()

    asyncio.run(run())
