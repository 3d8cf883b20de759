"""``POST /config/reload`` through the Admin API's sans-IO ``handle``: the ``reload`` hook re-reads
a real file; answers for success, an invalid file (file:line), no hook, wrong method, no token."""

from __future__ import annotations

import dataclasses
import json

from carbonplane.gateway.admin import AdminAPI
from carbonplane.gateway.config.loader import load_config_file
from carbonplane.gateway.plugins import load_bundled

GOOD = '_format_version: "3.0"\nservices:\n- name: api\n  url: http://127.0.0.1:9/\n'
BAD = GOOD + "  routez: []\n"  # line 5


def api_reading(path, token=None) -> AdminAPI:
    load_bundled()
    api = AdminAPI(load_config_file(path), token=token)

    def reload():
        new = load_config_file(path, version=api.config.version + 1)
        api.store.replace(new)
        return new

    api.hooks = dataclasses.replace(api.hooks, reload=reload)
    return api


def call(api: AdminAPI, method: str = "POST", headers=None):
    status, _, body = api.handle(method, "/config/reload", None, headers or [], b"")
    return status, json.loads(body) if body else None


def test_a_valid_file_is_applied_and_shown(tmp_path):
    path = tmp_path / "kong.yml"
    path.write_text(GOOD)
    api = api_reading(path)
    path.write_text(GOOD.replace("name: api", "name: renamed"))
    status, doc = call(api)
    assert status == 200 and doc["configuration_version"] == 2
    assert doc["configuration_hash"] == api.config.hash
    assert [s["name"] for s in api.config.services] == ["renamed"]


def test_an_invalid_file_is_400_with_file_and_line_and_changes_nothing(tmp_path):
    path = tmp_path / "kong.yml"
    path.write_text(GOOD)
    api = api_reading(path)
    before = api.config
    path.write_text(BAD)
    status, doc = call(api)
    assert status == 400 and doc["code"] == 14
    assert doc["flattened_errors"][0]["where"] == "kong.yml:5: services[0].routez"
    assert api.config is before


def test_without_a_hook_wrong_method_or_token(tmp_path):
    path = tmp_path / "kong.yml"
    path.write_text(GOOD)
    load_bundled()
    status, doc = call(AdminAPI(load_config_file(path)))
    assert status == 400 and "nothing to re-read" in doc["message"]
    assert call(api_reading(path), method="GET")[0] == 405
    guarded = api_reading(path, token="t" * 20)
    assert call(guarded)[0] == 401
    assert call(guarded, headers=[(b"kong-admin-token", b"t" * 20)])[0] == 200
