"""``oauth2_credentials`` in declarative files and the Admin API: Kong's fields, errors with
file:line, secrets stored hashed, and the oauth2 plugin's generated provision_key."""

from __future__ import annotations

import json
import textwrap

import pytest

from carbonplane.errors import GatewayConfigError
from carbonplane.gateway.admin.api import AdminAPI
from carbonplane.gateway.config.entities.oauth2 import is_hashed, verify_client_secret
from carbonplane.gateway.config.loader import load_config_data, load_config_text

GOOD = """\
_format_version: "3.0"
consumers:
  - username: ana
    oauth2_credentials:
      - name: web
        client_id: web
        client_secret: s3cret
        hash_secret: true
        redirect_uris: [https://app.example/cb]
      - name: cli
        client_type: public
plugins:
  - name: oauth2
    config: {enable_client_credentials: true}
"""


def load(text: str):
    return load_config_text(textwrap.dedent(text), source="kong.yml")


def test_credentials_load_hashed_with_generated_fields():
    cfg = load(GOOD)
    web, cli = cfg.entities("oauth2_credentials")
    assert is_hashed(web["client_secret"]) and verify_client_secret("s3cret", web)
    assert cli["client_type"] == "public" and len(cli["client_id"]) == 32
    assert cli["client_secret"] and cli["hash_secret"] is False
    plugin = cfg.entities("plugins")[0]
    assert len(plugin["config"]["provision_key"]) == 32
    assert plugin["config"]["pkce"] == "lax" and plugin["config"]["token_store"] == "embedded"
    again = load(cfg_text_of(web)).entities("oauth2_credentials")[0]
    assert again["client_secret"] == web["client_secret"]  # not hashed twice
    assert verify_client_secret("s3cret", again)


def cfg_text_of(web) -> str:
    """A file carrying an already hashed secret (an export) keeps it as it is."""
    return (
        '_format_version: "3.0"\nconsumers:\n  - username: ana\n    oauth2_credentials:\n'
        f"      - {{name: web, client_secret: '{web['client_secret']}', hash_secret: true}}\n"
    )


def test_bad_credentials_and_plugin_configs_name_file_and_line():
    text = """\
    _format_version: "3.0"
    consumers:
      - username: ana
        oauth2_credentials:
          - name: web
            redirect_uris: ["not a uri", "https://a.example/cb#frag"]
            client_type: secretive
    plugins:
      - name: oauth2
        config: {mandatory_scope: true}
    """
    with pytest.raises(GatewayConfigError) as err:
        load(text)
    message = str(err.value)
    assert "kong.yml:6" in message and "cannot parse 'not a uri'" in message
    assert "fragment not allowed in 'https://a.example/cb#frag'" in message
    assert "kong.yml:7" in message and "client_type" in message
    assert "at least one of these fields must be true: enable_authorization_code" in message
    assert "scopes: required field missing" in message


def test_admin_api_creates_lists_and_hashes_credentials():
    api = AdminAPI(load(GOOD))
    status, _, body = api.handle(
        "POST",
        "/consumers/ana/oauth2",
        None,
        {"content-type": "application/json"},
        b'{"name": "new", "hash_secret": true, "redirect_uris": ["https://n.example/cb"]}',
    )
    assert status == 201, body
    created = json.loads(body)
    assert is_hashed(created["client_secret"])  # a generated secret is hashed too
    status, _, body = api.handle("GET", f"/oauth2/{created['client_id']}", None, {})
    assert status == 200 and json.loads(body)["name"] == "new"
    status, _, body = api.handle("GET", "/consumers/ana/oauth2", None, {})
    assert status == 200 and len(json.loads(body)["data"]) == 3
    status, _, body = api.handle(
        "POST",
        "/consumers/ana/oauth2",
        None,
        {"content-type": "application/json"},
        b'{"name": "dup", "client_id": "web"}',
    )
    assert status == 409


def test_canonical_config_round_trips_credentials_and_provision_key():
    cfg = load(GOOD)
    again = load_config_data(cfg.canonical(), source="GET /config")
    assert again.entities("oauth2_credentials") == cfg.entities("oauth2_credentials")
    key = cfg.entities("plugins")[0]["config"]["provision_key"]
    assert again.entities("plugins")[0]["config"]["provision_key"] == key


def test_admin_tokens_name_an_unreachable_store(tmp_path, monkeypatch):
    from carbonplane.gateway.plugins.oauth2.stores import forget_stores

    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setenv("CARBONPLANE_HOME", str(blocker))
    try:
        status, _, body = AdminAPI(load(GOOD)).handle("GET", "/oauth2_tokens", None, {})
        assert status == 500 and "oauth2 token store" in json.loads(body)["message"]
    finally:
        forget_stores()
