"""Rasa's Redis lock store, with the wait for a conversation's turn fixed for replicas that die.

Replaces ``rasa.core.lock_store.LockStore._acquire_lock`` (in a subclass of ``RedisLockStore``).

endpoints.scale.yml::

    lock_store:
      type: rasa_ext.lock_store.FairRedisLockStore
      url: ...          # the same keys as `type: redis`
      port: ...
      db: ...
      key_prefix: ...

Rasa 3.6 serialises the messages of one conversation with numbered tickets that expire after
``TICKET_LOCK_LIFETIME`` seconds (default 60). A message waits while ``now_serving`` (the oldest
unexpired ticket) is not its own ticket. When a replica is killed while it holds a ticket, the next
message of that conversation waits for that ticket to expire; but its own ticket was issued at about
the same moment and expires at about the same moment too. Rasa polls once a second, and if both have
expired at the next poll, ``now_serving`` is 0 and never again equals the waiting ticket: the message
waits until the HTTP layer gives up (Sanic's 60 s response timeout; the user gets the apology). This
was seen in tests/test_scale_out.py.

Here a message is served as soon as no unexpired ticket older than its own remains, and its own
ticket's lifetime restarts when it is served (so it covers the processing rather than the wait, and
the messages after it keep waiting for it). Everything else
(keys, ticket format, expiry) is Rasa's ``RedisLockStore``: replicas with either class can share a
Redis. Like Rasa's, the lock is read, changed and written without a Redis transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from rasa.core import lock_store as rasa_lock_store
from rasa.core.lock import Ticket, TicketLock
from rasa.core.lock_store import RedisLockStore

logger = logging.getLogger(__name__)


class FairRedisLockStore(RedisLockStore):
    """``RedisLockStore`` whose waiting messages never outwait their own ticket."""

    def __init__(self, endpoint_config: Any | None = None, **kwargs: Any) -> None:
        # Rasa builds a lock store named by module path as `cls(endpoint_config=...)`.
        if endpoint_config is not None:
            kwargs = {"host": endpoint_config.url or "localhost", **endpoint_config.kwargs, **kwargs}
        super().__init__(**kwargs)

    async def _acquire_lock(self, conversation_id: str, ticket: int, wait_time_in_seconds: float) -> TicketLock:
        logger.debug("Acquiring lock for conversation '%s'.", conversation_id)
        while True:
            lock = self.get_lock(conversation_id) or self.create_lock(conversation_id)
            live = [t for t in lock.tickets if not t.has_expired()]
            ahead = [t for t in live if t.number < ticket]
            if not ahead:
                # Served: (re)start our ticket's lifetime now, so that it covers the processing
                # (not the time spent waiting) and the messages behind us wait for this one, even
                # when our ticket expired while we waited for a dead holder.
                renewed = Ticket(ticket, time.time() + rasa_lock_store.LOCK_LIFETIME)
                lock.tickets = sorted([t for t in live if t.number != ticket] + [renewed], key=lambda t: t.number)
                self.save_lock(lock)
                logger.debug("Acquired lock for conversation '%s'.", conversation_id)
                return lock
            logger.debug(
                "Conversation '%s': %d message(s) ahead of ticket %d; retrying in %s s.",
                conversation_id,
                len(ahead),
                ticket,
                wait_time_in_seconds,
            )
            await asyncio.sleep(wait_time_in_seconds)
            self.update_lock(conversation_id)
