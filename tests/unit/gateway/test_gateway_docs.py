"""docs/gateway.md carries the entity reference generated from the schemas, kept current."""

from __future__ import annotations

from pathlib import Path

from carbonplane.gateway.config.docgen import entity_reference

DOC = Path(__file__).resolve().parents[3] / "docs" / "gateway.md"


def test_entity_reference_in_docs_is_current():
    assert entity_reference() in DOC.read_text(), (
        "docs/gateway.md's entity reference is stale: run "
        "`python -m carbonplane.gateway.config.docgen docs/gateway.md`"
    )


def test_reference_documents_kong_defaults():
    text = entity_reference()
    for row in (
        "| `retries` | integer | `5` | 0..32767 |",
        "| `strip_path` | boolean | `true` |",
        "| `https_redirect_status_code` | integer | `426` |",
        "| `slots` | integer | `10000` | 10..65536 |",
        "| `weight` | integer | `100` | 0..65535 |",
        "| `healthchecks.active.healthy.http_statuses` | array of integer | `[200, 302]` |",
    ):
        assert row in text, row


def test_public_surface_is_pinned():
    import carbonplane.gateway as gateway

    assert sorted(gateway.__all__) == [
        "AdminAPI",
        "Balancer",
        "GatewayConfig",
        "RouteMatch",
        "Router",
        "check_admin_listen",
        "compile_config",
        "hash_value",
        "load_config_data",
        "load_config_file",
        "load_config_text",
        "register_plugin_schema",
    ]
    assert all(hasattr(gateway, name) for name in gateway.__all__)
