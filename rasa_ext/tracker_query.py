"""Which conversations are with the agents now, in one query on Rasa's SQL tracker store.

Replaces nothing; reaches into two symbols that are not Rasa's public API:

* ``rasa.core.tracker_store.AwaitableTrackerStore._tracker_store``: Rasa wraps a custom tracker store
  (``stores.tracker_store.MaskingSQLTrackerStore``) in ``AwaitableTrackerStore``; the query needs the
  store itself.
* ``rasa.core.tracker_store.SQLTrackerStore.SQLEvent`` and ``session_scope``: its table and sessions.

Why: the agent inbox (channels/inbox.py) lists the waiting conversations every 15 s per agent, and each
replica's timeout sweep looks every 30 s. Through the public API that means loading every tracker
(``keys()`` then ``retrieve``); here one grouped query returns the senders whose newest handoff event
is a ``pause``, and only their trackers are loaded. A store that is not SQL returns None (the caller
falls back to ``keys()``).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

# Events that start or end a handoff; a conversation waits when the newest of them is a pause.
HANDOFF_EVENTS = ("pause", "resume", "restart", "session_started")


def inner_store(store: Any) -> Any:
    """The store Rasa's ``AwaitableTrackerStore`` wraps, or ``store`` itself."""
    return getattr(store, "_tracker_store", store)


def paused_senders(store: Any, limit: int) -> list[str] | None:
    """Senders whose newest handoff event is a pause, longest waiting first; None when the store is
    not Rasa's SQL store."""
    inner = inner_store(store)
    table = getattr(getattr(inner, "SQLEvent", None), "__table__", None)
    if table is None or not hasattr(inner, "session_scope"):
        return None
    newest_pause = sa.func.max(sa.case((table.c.type_name == "pause", table.c.id)))
    statement = (
        sa.select(table.c.sender_id)
        .where(table.c.type_name.in_(HANDOFF_EVENTS))
        .group_by(table.c.sender_id)
        .having(newest_pause == sa.func.max(table.c.id))
        .order_by(newest_pause)
        .limit(limit)
    )
    with inner.session_scope() as session:
        return [str(row[0]) for row in session.execute(statement)]
