"""Channel state that every Rasa replica sees: Redis when Rasa's lock store is Redis, else this process.

The channels keep a little state between requests: WeChat's message ids (a retry is answered once),
the numbered options a user was offered, the WeChat access token, Telegram's long button payloads and
the update ids it has handled. Behind a load balancer a retry, a reply "1" or a button press can reach
another replica than the one that holds that state, so it lives where all replicas look.

Which store is used is decided on first use, from the running server: Rasa's lock store
(``app.ctx.agent.lock_store``) is what makes one conversation go to one replica at a time, so when it
is a ``RedisLockStore`` every replica already shares that Redis. Its client and key prefix are reused
(``<key_prefix>channel:<key>``, next to Rasa's ``<key_prefix>lock:<conversation>``), so there is no
second setting to get wrong. Otherwise (one process, the in-memory lock store) the state stays in the
process, bounded and with the same expiry.

Every value is a short string with an expiry; a key is never kept forever.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from rasa.core.lock_store import RedisLockStore

CHANNEL_PREFIX = "channel:"
DEFAULT_MAX_ENTRIES = 10_000
POLL_SECONDS = 0.05

# Deletes a key only while it still holds the caller's value, so a holder whose lock expired never
# removes the lock another holder took since.
_RELEASE_LUA = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class ChannelState(ABC):
    """Short string values with an expiry, shared by whoever uses the same store."""

    @abstractmethod
    async def claim(self, key: str, value: str, ttl: float) -> bool:
        """Stores ``value`` unless ``key`` exists; True for the one caller that stored it."""

    @abstractmethod
    async def put(self, key: str, value: str, ttl: float) -> None:
        """Stores ``value`` under ``key`` for ``ttl`` seconds (replacing what was there)."""

    @abstractmethod
    async def get(self, key: str) -> str | None:
        """The value, or None when missing or expired."""

    @abstractmethod
    async def delete(self, key: str) -> None:
        """Removes ``key`` (no error when it is missing)."""

    @abstractmethod
    async def release(self, key: str, value: str) -> bool:
        """Removes ``key`` only while it holds ``value``; True when it did."""

    async def put_json(self, key: str, value: Any, ttl: float) -> None:
        await self.put(key, json.dumps(value, ensure_ascii=False), ttl)

    async def get_json(self, key: str) -> Any:
        raw = await self.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return None  # written by something else: treat as missing rather than fail a user's turn

    async def wait_for(self, key: str, timeout: float, interval: float = POLL_SECONDS) -> str | None:
        """Polls until ``key`` has a value or ``timeout`` seconds passed (then None)."""
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            value = await self.get(key)
            if value is not None or time.monotonic() >= deadline:
                return value
            await asyncio.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))

    @asynccontextmanager
    async def lock(self, key: str, ttl: float, wait: float, interval: float = POLL_SECONDS) -> AsyncIterator[bool]:
        """Holds ``key`` for at most ``ttl`` seconds, waiting up to ``wait`` seconds for it.

        Yields True when held (released on exit), False when another holder kept it past ``wait``;
        the caller decides what to do then. The expiry frees a lock whose holder died.
        """
        owner = uuid.uuid4().hex
        deadline = time.monotonic() + wait
        held = await self.claim(key, owner, ttl)
        while not held and time.monotonic() < deadline:
            await asyncio.sleep(interval)
            held = await self.claim(key, owner, ttl)
        try:
            yield held
        finally:
            if held:
                await self.release(key, owner)


class MemoryState(ChannelState):
    """State of one process: bounded (least recently written out first) and with expiry."""

    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._items: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._writes = 0

    def __len__(self) -> int:
        self._sweep()
        return len(self._items)

    def _live(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._items[key]
            return None
        return item[0]

    def _sweep(self) -> None:
        now = self._clock()
        for key in [key for key, (_, expires) in self._items.items() if expires <= now]:
            del self._items[key]

    def _store(self, key: str, value: str, ttl: float) -> None:
        self._items[key] = (value, self._clock() + ttl)
        self._items.move_to_end(key)
        self._writes += 1
        if self._writes % 1000 == 0:
            self._sweep()  # expired keys nobody asks for again would otherwise stay until evicted
        while len(self._items) > self.max_entries:
            self._items.popitem(last=False)

    # No await between the check and the write: on one event loop this is atomic.
    async def claim(self, key: str, value: str, ttl: float) -> bool:
        if self._live(key) is not None:
            return False
        self._store(key, value, ttl)
        return True

    async def put(self, key: str, value: str, ttl: float) -> None:
        self._store(key, value, ttl)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def delete(self, key: str) -> None:
        self._items.pop(key, None)

    async def release(self, key: str, value: str) -> bool:
        if self._live(key) != value:
            return False
        del self._items[key]
        return True


class RedisState(ChannelState):
    """State in Redis under ``prefix``, with Redis's own expiry.

    Uses redis-py's synchronous client, as Rasa's ``RedisLockStore`` does on the same event loop:
    each call is one round trip to a nearby server, shorter than a thread hand-off would be.
    """

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix
        self._release = client.register_script(_RELEASE_LUA)

    def __repr__(self) -> str:
        return f"RedisState(prefix={self.prefix!r})"

    def _key(self, key: str) -> str:
        return self.prefix + key

    @staticmethod
    def _ms(ttl: float) -> int:
        return max(int(ttl * 1000), 1)

    @staticmethod
    def _text(value: Any) -> str | None:
        if value is None:
            return None
        return value.decode("utf-8") if isinstance(value, bytes) else str(value)

    async def claim(self, key: str, value: str, ttl: float) -> bool:
        return bool(self.client.set(self._key(key), value, px=self._ms(ttl), nx=True))

    async def put(self, key: str, value: str, ttl: float) -> None:
        self.client.set(self._key(key), value, px=self._ms(ttl))

    async def get(self, key: str) -> str | None:
        return self._text(self.client.get(self._key(key)))

    async def delete(self, key: str) -> None:
        self.client.delete(self._key(key))

    async def release(self, key: str, value: str) -> bool:
        return bool(self._release(keys=[self._key(key)], args=[value]))


def channel_prefix(lock_key_prefix: str) -> str:
    """``yibao:lock:`` (Rasa's prefix for lock keys) -> ``yibao:channel:``."""
    base = lock_key_prefix[: -len("lock:")] if lock_key_prefix.endswith("lock:") else lock_key_prefix
    return base + CHANNEL_PREFIX


def state_from_lock_store(lock_store: Any) -> ChannelState | None:
    """Redis state on the lock store's own client and prefix, or None when it is not Redis."""
    if isinstance(lock_store, RedisLockStore):
        return RedisState(lock_store.red, channel_prefix(lock_store.key_prefix))
    return None


class SharedState:
    """A channel's handle on its state, found on first use from the Sanic app Rasa runs.

    Tests (and anything else) may pass the state to use instead.
    """

    def __init__(self, state: ChannelState | None = None, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._state = state
        self._memory: MemoryState | None = None
        self._max_entries = max_entries

    @property
    def memory(self) -> MemoryState:
        if self._memory is None:
            self._memory = MemoryState(self._max_entries)
        return self._memory

    def current(self) -> ChannelState:
        """The state found so far (the process's own until a request has shown the server)."""
        return self._state if self._state is not None else self.memory

    def for_app(self, app: Any) -> ChannelState:
        if self._state is not None:
            return self._state
        agent = getattr(getattr(app, "ctx", None), "agent", None)
        if agent is None:
            # No Rasa agent (yet): keep to this process, and look again on the next request.
            return self.memory
        self._state = state_from_lock_store(getattr(agent, "lock_store", None)) or self.memory
        return self._state
