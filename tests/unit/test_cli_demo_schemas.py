"""`carbonplane demo` (what `make run` runs) and `carbonplane schemas`, through the real CLI app."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from typer.testing import CliRunner

from carbonplane.cli.main import app

REPO = Path(__file__).resolve().parents[2]


def test_demo_reads_back_all_twelve_types(cp_home):
    result = CliRunner().invoke(app, ["demo", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["backend"] == "local"
    assert len(report["rows"]) == 12 and all(r["round_trip_equal"] for r in report["rows"])
    assert {r["topic"] for r in report["rows"]} == {
        "data-ingestion",
        "data-quality",
        "data-lineage",
        "data-transformation",
        "system-health",
        "deployment-events",
        "config-changes",
        "security-events",
        "audit-user-actions",
        "audit-api-calls",
        "audit-data-access",
        "audit-admin-operations",
    }
    assert "failedRecords" in report["rejected"]
    assert report["stats"]["delivered"] == 12 and report["stats"]["rejected"] == 1


def test_schemas_check_and_generate(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(REPO / "schemas", root)
    runner = CliRunner()
    assert runner.invoke(app, ["schemas", "check", "--root", str(root)]).exit_code == 0
    victim = next((root / "avro").glob("*.avsc"))
    victim.write_text("{}")
    result = runner.invoke(app, ["schemas", "check", "--root", str(root), "--json"])
    assert result.exit_code == 1 and json.loads(result.stdout)["stale"]
    assert runner.invoke(app, ["schemas", "generate", "--root", str(root)]).exit_code == 0
    assert runner.invoke(app, ["schemas", "check", "--root", str(root)]).exit_code == 0
