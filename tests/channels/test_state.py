"""channels/state.py on both backends: the Redis on 127.0.0.1:6379 (db 15, a fresh key prefix removed
afterwards) and the in-process store. Two RedisState objects on two clients play two replicas."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from rasa.core.lock_store import InMemoryLockStore, RedisLockStore

from redis_prefix import redis_prefix_fixture  # noqa: F401 (the redis_prefix fixture)

from channels.state import MemoryState, RedisState, SharedState, channel_prefix, state_from_lock_store

REDIS_DB = 15  # as in conftest.py


def run(coroutine: Any) -> Any:
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.close()


def replica_states(kind: str, prefix: str = "") -> list[Any]:
    """Two handles on one store, as two replicas hold them (one shared object in-process)."""
    if kind == "memory":
        state = MemoryState()
        return [state, state]
    return [RedisState(redis.Redis(db=REDIS_DB), prefix), RedisState(redis.Redis(db=REDIS_DB), prefix)]


@pytest.fixture(params=["memory", "redis"])
def states(request) -> list[Any]:
    if request.param == "memory":
        return replica_states("memory")
    return replica_states("redis", request.getfixturevalue("redis_prefix"))


def test_a_key_is_claimed_once_and_the_others_read_the_first_value(states):
    one, two = states

    async def scenario():
        assert await one.claim("wx:turn:1", "replica-1", 5)
        assert not await two.claim("wx:turn:1", "replica-2", 5)
        assert await two.get("wx:turn:1") == "replica-1"
        assert await two.claim("wx:turn:2", "replica-2", 5)  # another key is free

    run(scenario())


def test_values_round_trip_as_text_and_json_and_can_be_deleted(states):
    one, two = states

    async def scenario():
        await one.put("wx:choices:o1", "x", 5)
        await one.put("wx:choices:o1", "亲情账户", 5)  # replaces
        assert await two.get("wx:choices:o1") == "亲情账户"
        await one.put_json("wx:choices:o2", ['/inform{"account_type":"家庭共济"}', "/deny"], 5)
        assert await two.get_json("wx:choices:o2") == ['/inform{"account_type":"家庭共济"}', "/deny"]
        await one.put("wx:broken", "{not json", 5)
        assert await two.get_json("wx:broken") is None
        await two.delete("wx:choices:o1")
        assert await one.get("wx:choices:o1") is None
        assert await one.get("never-written") is None

    run(scenario())


def test_release_removes_a_lock_only_for_its_holder(states):
    one, two = states

    async def scenario():
        assert await one.claim("wx:token-lock", "holder-a", 5)
        assert not await two.release("wx:token-lock", "holder-b")
        assert await two.get("wx:token-lock") == "holder-a"
        assert await one.release("wx:token-lock", "holder-a")
        assert await two.claim("wx:token-lock", "holder-b", 5)

    run(scenario())


def test_one_holder_at_a_time_and_the_next_gets_it_after_release(states):
    one, two = states
    events: list[str] = []

    async def holder(state: Any, name: str, hold: float) -> bool:
        async with state.lock("wx:token-lock", ttl=5, wait=3, interval=0.01) as held:
            if held:
                events.append(f"{name} in")
                await asyncio.sleep(hold)
                events.append(f"{name} out")
            return held

    async def scenario():
        first = asyncio.ensure_future(holder(one, "a", 0.2))
        await asyncio.sleep(0.02)
        assert await holder(two, "b", 0) and await first
        assert events == ["a in", "a out", "b in", "b out"]
        assert await one.get("wx:token-lock") is None  # released

    run(scenario())


def test_a_lock_not_freed_in_time_is_not_held(states):
    one, two = states

    async def scenario():
        assert await one.claim("wx:token-lock", "someone", 5)
        async with two.lock("wx:token-lock", ttl=5, wait=0.1, interval=0.02) as held:
            assert held is False
        assert await one.get("wx:token-lock") == "someone"  # not released by the loser

    run(scenario())


def test_wait_for_returns_a_value_written_later_or_none_after_the_timeout(states):
    one, two = states

    async def scenario():
        async def write_later():
            await asyncio.sleep(0.1)
            await one.put("wx:reply:9", "答复", 5)

        writer = asyncio.ensure_future(write_later())
        assert await two.wait_for("wx:reply:9", timeout=2, interval=0.02) == "答复"
        await writer
        assert await two.wait_for("wx:reply:missing", timeout=0.1, interval=0.02) is None

    run(scenario())


# ---------------------------------------------------------------------------- expiry
def test_memory_values_expire_and_the_store_is_bounded():
    now = [1000.0]
    state = MemoryState(max_entries=3, clock=lambda: now[0])

    async def scenario():
        assert await state.claim("a", "1", ttl=10)
        now[0] += 9.9
        assert not await state.claim("a", "2", ttl=10)
        now[0] += 0.2
        assert await state.get("a") is None
        assert await state.claim("a", "2", ttl=10)  # free again once expired
        for key in "bcd":
            await state.put(key, key, ttl=100)
        assert len(state) == 3
        assert await state.get("a") is None  # the least recently written went first
        assert [await state.get(key) for key in "bcd"] == ["b", "c", "d"]

    run(scenario())


def test_redis_values_expire(redis_prefix):
    one, two = replica_states("redis", redis_prefix)

    async def scenario():
        assert await one.claim("tg:update:1", "1", ttl=0.3)
        assert not await two.claim("tg:update:1", "1", ttl=0.3)
        ttl_ms = one.client.pttl(redis_prefix + "tg:update:1")
        assert 0 < ttl_ms <= 300
        await asyncio.sleep(0.45)
        assert await two.get("tg:update:1") is None
        assert await two.claim("tg:update:1", "1", ttl=0.3)

    run(scenario())


# ---------------------------------------------------------------------------- which store
def test_a_redis_lock_store_gives_redis_state_on_its_client_and_prefix(redis_prefix):
    base = redis_prefix.split(":")[0]
    lock_store = RedisLockStore(db=REDIS_DB, key_prefix=base)
    state = state_from_lock_store(lock_store)
    assert isinstance(state, RedisState)
    assert state.client is lock_store.red
    assert state.prefix == redis_prefix == f"{base}:channel:"
    assert channel_prefix("lock:") == "channel:"  # Rasa's default prefix
    assert state_from_lock_store(InMemoryLockStore()) is None


def test_shared_state_is_found_on_first_use_from_the_apps_agent(redis_prefix):
    base = redis_prefix.split(":")[0]
    app = SimpleNamespace(ctx=SimpleNamespace())
    shared = SharedState()
    # No agent yet: the process's own state, and a second look later.
    assert shared.for_app(app) is shared.memory
    app.ctx.agent = SimpleNamespace(lock_store=RedisLockStore(db=REDIS_DB, key_prefix=base))
    found = shared.for_app(app)
    assert isinstance(found, RedisState) and found.prefix == redis_prefix
    assert shared.for_app(SimpleNamespace(ctx=SimpleNamespace())) is found  # kept once found
    assert shared.current() is found

    in_memory = SharedState()
    app_mem = SimpleNamespace(ctx=SimpleNamespace(agent=SimpleNamespace(lock_store=InMemoryLockStore())))
    assert in_memory.for_app(app_mem) is in_memory.memory
