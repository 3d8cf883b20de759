"""The token store contract (``oauth2.store``), the same tests on both implementations: the
embedded SQLite file and Redis. Atomic spending, expiry, in-place access-token replacement,
listing, and two processes' views of one store."""

from __future__ import annotations

import multiprocessing
import time
import uuid

import pytest

from carbonplane.gateway.plugins.oauth2.redis_store import RedisTokenStore
from carbonplane.gateway.plugins.oauth2.store import SQLiteTokenStore


@pytest.fixture(params=["embedded", "redis"])
def store(request, tmp_path):
    if request.param == "redis":
        request.getfixturevalue("redis_url")
        made = RedisTokenStore({"host": "127.0.0.1", "port": 6379, "timeout": 2000})
    else:
        made = SQLiteTokenStore(tmp_path / "oauth2.db")
    yield made
    made.close()


def token(**over):
    now = time.time()
    doc = {
        "id": str(uuid.uuid4()),
        "created_at": now,
        "service_id": "svc",
        "credential_id": "cred",
        "token_type": "bearer",
        "expires_in": 7200,
        "access_token": uuid.uuid4().hex,
        "refresh_token": uuid.uuid4().hex,
        "authenticated_userid": None,
        "scope": "read",
        "purge_at": now + 60,
    }
    doc.update(over)
    return doc


def test_tokens_by_every_key_and_removed_once(store):
    t = token()
    store.add_token(t)
    assert store.token_by_access(t["access_token"]) == t
    assert store.token_by_refresh(t["refresh_token"]) == t
    assert store.token_by_id(t["id"]) == t
    assert t["id"] in [x["id"] for x in store.list_tokens()]
    assert store.remove_token(t["id"]) is True
    assert store.remove_token(t["id"]) is False
    assert store.token_by_access(t["access_token"]) is None
    assert store.token_by_refresh(t["refresh_token"]) is None


def test_expired_rows_are_invisible(store):
    t = token(purge_at=time.time() + 0.2)
    store.add_token(t)
    assert store.token_by_access(t["access_token"])
    time.sleep(0.4)
    assert store.token_by_access(t["access_token"]) is None
    assert t["id"] not in [x["id"] for x in store.list_tokens()]


def test_replace_access_swaps_only_from_the_current_token(store):
    t = token()
    store.add_token(t)
    stale = dict(t)
    new = uuid.uuid4().hex
    assert store.replace_access(t, new, time.time()) is True
    assert store.token_by_access(stale["access_token"]) is None
    assert store.token_by_access(new)["refresh_token"] == t["refresh_token"]
    assert store.replace_access(stale, uuid.uuid4().hex, time.time()) is False


def test_codes_are_taken_once(store):
    code = {"code": uuid.uuid4().hex, "credential_id": "c", "purge_at": time.time() + 300}
    store.add_code(code)
    assert store.code(code["code"]) == code
    assert store.take_code(code["code"]) is True
    assert store.take_code(code["code"]) is False and store.code(code["code"]) is None


def _take(kind: str, path: str, code: str, out) -> None:
    if kind == "redis":
        s = RedisTokenStore({"host": "127.0.0.1", "port": 6379})
    else:
        s = SQLiteTokenStore(path)
    out.put(s.take_code(code))


def test_two_processes_race_for_one_code(store, tmp_path):
    kind = "redis" if isinstance(store, RedisTokenStore) else "embedded"
    code = {"code": uuid.uuid4().hex, "credential_id": "c", "purge_at": time.time() + 300}
    store.add_code(code)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_take, args=(kind, str(tmp_path / "oauth2.db"), code["code"], out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    results = sorted(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert results == [False, False, False, True]


def test_redis_async_lookup_matches_the_sync_one(redis_url):
    import asyncio

    store = RedisTokenStore({"host": "127.0.0.1", "port": 6379})
    t = token()
    store.add_token(t)

    async def lookups():
        return (
            await store.token_by_access_async(t["access_token"]),
            await store.token_by_access_async("absent-" + t["access_token"]),
        )

    try:
        assert asyncio.run(lookups()) == (t, None)
        store.remove_token(t["id"])
        assert asyncio.run(lookups()) == (None, None)
    finally:
        store.close()
