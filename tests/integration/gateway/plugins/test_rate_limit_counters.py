"""One contract, three rate-limit counter stores: in-process (``LocalCounters``), host-wide shared
memory (``HostCounters``), each with its Python specification and its native step, and
cluster-wide Redis (``RedisCounters`` on the real Redis at 127.0.0.1:6379). Exactness under
concurrency: threads and coroutines on every store, and real processes hammering one
``HostCounters`` file."""

from __future__ import annotations

import asyncio
import inspect
import multiprocessing
import os
import threading
import time
import uuid

import pytest

from carbonplane.gateway.plugins.pdk import counters
from carbonplane.gateway.plugins.pdk.counters import HostCounters, LocalCounters
from carbonplane.gateway.plugins.rate_limiting.redis_policy import RedisCounters, client_for

STORES = ("local-python", "local-native", "host-python", "host-native", "redis")


@pytest.fixture(params=STORES)
def store_kind(request):
    if request.param == "redis":
        request.getfixturevalue("redis_url")  # fails with how to start Redis when it is down
    if request.param.endswith("-native"):
        request.getfixturevalue("native_plugins")
    return request.param


def open_store(kind: str, tmp_path, impl: str | None = None):
    kind, _, named = kind.partition("-")
    impl = impl or named or None
    if kind == "local":
        return LocalCounters(impl=impl)
    if kind == "host":
        return HostCounters.open(str(tmp_path / "host.counters"), impl=impl)
    return RedisCounters(
        lambda: client_for({"host": "127.0.0.1", "port": 6379, "database": 0, "timeout": 2000})
    )


async def take(store, cells, now_ms):
    result = store.take(cells, now_ms)
    return await result if inspect.isawaitable(result) else result


def cell(
    name: str,
    limit: int,
    now_ms: int,
    ttl_ms: int = 60_000,
    prev: str | None = None,
    weight: float = 0.0,
):
    return (name.encode(), now_ms + ttl_ms, limit, prev.encode() if prev else None, weight)


def names() -> str:
    return f"ratelimit:test:{uuid.uuid4().hex}"


def test_exactly_limit_admitted_with_usages_before_each_hit(store_kind, tmp_path):
    async def scenario():
        store, key, now = open_store(store_kind, tmp_path), names(), int(time.time() * 1000)
        return [await take(store, [cell(key, 3, now)], now) for _ in range(5)]

    results = asyncio.run(scenario())
    assert results == [(True, [0]), (True, [1]), (True, [2]), (False, [3]), (False, [3])]


def test_all_windows_or_none_are_counted(store_kind, tmp_path):
    async def scenario():
        store, key, now = open_store(store_kind, tmp_path), names(), int(time.time() * 1000)
        second, minute = f"{key}:second", f"{key}:minute"
        out = []
        for _ in range(3):
            out.append(await take(store, [cell(second, 1, now, 1000), cell(minute, 5, now)], now))
        out.append(
            await take(store, [cell(f"{key}:second-next", 1, now, 1000), cell(minute, 5, now)], now)
        )
        return out

    results = asyncio.run(scenario())
    assert results == [(True, [0, 0]), (False, [1, 1]), (False, [1, 1]), (True, [0, 1])]


def test_sliding_estimate_weighs_the_previous_window(store_kind, tmp_path):
    async def scenario():
        store, key, now = open_store(store_kind, tmp_path), names(), int(time.time() * 1000)
        for _ in range(10):
            assert (await take(store, [cell(f"{key}:w1", 100, now)], now))[0]
        results = [
            await take(store, [cell(f"{key}:w2", 10, now, prev=f"{key}:w1", weight=0.5)], now)
            for _ in range(6)
        ]
        return results

    results = asyncio.run(scenario())
    assert [r[0] for r in results] == [True] * 5 + [False]
    assert [r[1][0] for r in results] == [5, 6, 7, 8, 9, 10]


@pytest.mark.parametrize("kind", ["local", "host"])
def test_expired_counters_start_again_from_zero(kind, impl, tmp_path):
    store, key, now = open_store(kind, tmp_path, impl), names(), 1_000_000
    assert asyncio.run(take(store, [cell(key, 1, now, 1000)], now)) == (True, [0])
    assert asyncio.run(take(store, [cell(key, 1, now, 1000)], now + 999)) == (False, [1])
    assert asyncio.run(take(store, [cell(key, 1, now + 1000, 1000)], now + 1000)) == (True, [0])


def test_redis_counters_expire_with_their_window(redis_url):
    import redis

    async def scenario():
        store, key, now = open_store("redis", None), names(), int(time.time() * 1000)
        await take(store, [cell(key, 5, now, ttl_ms=30_000)], now)
        return key

    key = asyncio.run(scenario())
    ttl = redis.Redis.from_url(redis_url).pttl(key)
    assert 25_000 < ttl <= 30_000


def test_threads_on_local_and_host_stores_admit_exactly_the_limit(impl, tmp_path):
    for kind in ("local", "host"):
        store, key, now = open_store(kind, tmp_path, impl), names(), int(time.time() * 1000)
        admitted = []

        def hammer():
            for _ in range(100):
                admitted.append(store.take([cell(key, 150, now)], now)[0])

        threads = [threading.Thread(target=hammer) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        assert sum(admitted) == 150 and len(admitted) == 800, kind


def test_concurrent_redis_clients_admit_exactly_the_limit(redis_url):
    async def scenario():
        key, now = names(), int(time.time() * 1000)
        import redis.asyncio as aioredis

        clients = [aioredis.Redis(host="127.0.0.1", port=6379) for _ in range(4)]
        stores = [RedisCounters(c) for c in clients]

        async def hammer(store):
            return [(await store.take([cell(key, 120, now)], now))[0] for _ in range(100)]

        results = await asyncio.gather(*(hammer(s) for s in stores for _ in range(2)))
        for c in clients:
            await c.aclose()
        return [x for r in results for x in r]

    admitted = asyncio.run(scenario())
    assert len(admitted) == 800 and sum(admitted) == 120


def _process_hammer(path: str, key: str, now: int, limit: int, n: int, start, out) -> None:
    store = HostCounters.open(path)
    start.wait(30)
    admitted = sum(
        store.take([(key.encode(), now + 60_000, limit, None, 0.0)], now)[0] for _ in range(n)
    )
    out.put((os.getpid(), admitted))


def test_processes_sharing_one_host_store_admit_exactly_the_limit(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    path, key, now = str(tmp_path / "shared.counters"), names(), int(time.time() * 1000)
    HostCounters.open(path).close()
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_process_hammer, args=(path, key, now, 3000, 2000, start, out))
        for _ in range(4)
    ]
    for p in procs:
        p.start()
    start.set()
    results = [out.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(30)
    assert len({pid for pid, _ in results}) == 4
    assert sum(n for _, n in results) == 3000  # 8000 attempts, exactly the limit admitted


_inherited: HostCounters | None = None


def _forked_hammer(key: str, now: int, n: int, start, out) -> None:
    start.wait(30)
    admitted = sum(
        _inherited.take([(key.encode(), now + 60_000, 1500, None, 0.0)], now)[0] for _ in range(n)
    )
    out.put(admitted)


def test_a_store_opened_before_fork_stays_exact_in_the_children(tmp_path):
    """flock belongs to the open file, which forked children share: each takes its own."""
    global _inherited
    _inherited = HostCounters.open(str(tmp_path / "forked.counters"))
    ctx = multiprocessing.get_context("fork")
    key, now = names(), int(time.time() * 1000)
    start, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_forked_hammer, args=(key, now, 1000, start, out)) for _ in range(3)
    ]
    for p in procs:
        p.start()
    start.set()
    admitted = sum(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    assert admitted == 1500


def _steps():
    """(step, now, cells) every 250 ms over 20 s: a fixed 1 s window (limit 3) and a sliding 4 s
    one (limit 7, the previous window weighted 0.5), so windows expire and requests are refused."""
    for step in range(80):
        now = 1_000_000 + step * 250
        yield (
            step,
            now,
            [
                (b"s:%d" % (now // 1000), now // 1000 * 1000 + 1000, 3, None, 0.0),
                (
                    b"m:%d" % (now // 4000),
                    now // 4000 * 4000 + 8000,
                    7,
                    b"m:%d" % (now // 4000 - 1),
                    0.5,
                ),
            ],
        )


@pytest.mark.parametrize("kind", ["local", "host"])
def test_python_and_native_steps_count_alike(kind, tmp_path, native_plugins):
    """The specification and the C step agree, fixed and sliding windows, across expiry and
    refusals, each on a table of its own."""
    for impl in ("python", "native"):
        (tmp_path / impl).mkdir()
    stores = [open_store(kind, tmp_path / impl, impl) for impl in ("python", "native")]
    try:
        for step, now, cells in _steps():
            results = [store.take(cells, now) for store in stores]
            assert results[0] == results[1], (step, results)
        assert len({store.live_counters(1_020_000) for store in stores}) == 1
    finally:
        for store in stores:
            store.close()


def test_a_full_probe_window_refuses_and_counts_nothing(impl, tmp_path):
    store = HostCounters.open(str(tmp_path / "full.counters"), slots=16, impl=impl)  # names collide
    now = 5_000_000
    try:
        for i in range(40):  # fill every probe window with live counters
            try:
                store.take([(b"fill:%d" % i, now + 60_000, 10, None, 0.0)], now)
            except counters.CounterStoreFull:
                pass
        live = store.live_counters(now)
        found = [store._find_at(*store._locate(b"fill:%d" % i)) for i in range(40)]
        with pytest.raises(counters.CounterStoreFull, match="is full around slot"):
            for i in range(40, 400):  # some new name lands in a full window
                store.take([(b"fill:%d" % i, now + 60_000, 10, None, 0.0)], now)
        assert store.live_counters(now) >= live
        assert sum(f >= 0 for f in found) == live  # nothing partial: a name is all or none
    finally:
        store.close()


def test_an_expired_counter_rewritten_by_a_take_is_not_given_to_a_new_one(impl, tmp_path):
    """A take that renews an expired counter and creates a new one in the same probe window
    must not put both in one slot."""
    store = LocalCounters(slots=16, impl=impl)
    names_ = [b"w:%d" % i for i in range(2000)]
    by_window: dict[int, list[bytes]] = {}
    for name in names_:
        by_window.setdefault(store._locate(name)[1], []).append(name)
    old, new = next(v for v in by_window.values() if len(v) >= 2)[:2]
    assert store.take([(old, 1_000, 5, None, 0.0)], 0) == (True, [0])  # lives until 1 000
    assert store.take([(new, 9_000, 5, None, 0.0), (old, 9_000, 5, None, 0.0)], 2_000) == (
        True,
        [0, 0],
    )
    assert store.take([(new, 9_000, 5, None, 0.0), (old, 9_000, 5, None, 0.0)], 3_000) == (
        True,
        [1, 1],
    )
    assert store.live_counters(3_000) == 2


def test_an_unknown_impl_or_a_missing_native_step_is_refused():
    with pytest.raises(ValueError, match="impl must be one of"):
        LocalCounters(impl="fast")
    if not counters.NATIVE_BUILT:
        with pytest.raises(ValueError, match="not built"):
            LocalCounters(impl="native")


def test_the_c_step_rejects_malformed_calls_without_touching_the_store(tmp_path, native_plugins):
    from carbonplane.gateway.plugins.pdk._native.counters import take

    store = HostCounters.open(str(tmp_path / "bad.counters"), slots=64, impl="native")
    args = (store._mm, store._lock_fd, store._values)
    try:
        with pytest.raises(TypeError, match="a cell is"):
            take(*args, [(b"x", 1)], store._located, store._locate, 0)
        with pytest.raises(TypeError, match="locate"):
            take(*args, [(b"x", 9, 1, None, 0.0)], {}, lambda name: "nope", 0)
        with pytest.raises(ValueError, match="outside the store"):
            take(*args, [(b"x", 9, 1, None, 0.0)], {b"x": (b"k" * 16, 10**9)}, store._locate, 0)
        with pytest.raises(ValueError, match="at most"):
            take(*args, [(b"x", 9, 1, None, 0.0)] * 17, store._located, store._locate, 0)
        assert store.live_counters(0) == 0
        assert take(*args, [(b"x", 9, 1, None, 0.0)], store._located, store._locate, 0) == (
            True,
            [0],
        )
    finally:
        store.close()
