"""Rasa's SQL tracker store, cheaper per message; the base of ``stores.tracker_store.MaskingSQLTrackerStore``.

Replaces, in a subclass of ``rasa.core.tracker_store.SQLTrackerStore``: ``retrieve``, ``save`` and the
private ``_stream_new_events``, and on SQLite the ``engine`` and ``sessionmaker`` its ``__init__`` builds.

Why (py-spy, 2026-11; docs/benchmarks.md): reading and writing a conversation was ~31 % of Rasa's CPU
per message. ``retrieve`` reads the current session with one precompiled Core SQL statement instead of
the ORM query (same rows, same order); ``save`` knows how many of a tracker's events are stored already
(from the ``retrieve`` or ``save`` that produced it) instead of counting them with a query on every turn
(a tracker that came from elsewhere is counted as Rasa does, with its private ``_additional_events``),
and inserts the rows in one statement. On SQLite, SQLAlchemy 1.4 gives a file database a ``NullPool``
(a new connection and schema read for every retrieve and save) and SQLite's default journal fsyncs
several times per commit, on Rasa's event loop: here one kept connection per thread, ``journal_mode=WAL``
and ``synchronous=NORMAL`` (after a power cut the last commits may be lost, the file is never corrupted;
a crash of Rasa itself loses nothing). Gain: ~31 % → ~18 % of Rasa's CPU per message.

Subclasses decide what is written and published through ``stored_event_data`` (default: the event as
Rasa stores it); tests/test_speed.py reads the rows back with Rasa's own ``SQLTrackerStore``.
"""

from __future__ import annotations

import itertools
import json
import logging
from typing import Any

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

logger = logging.getLogger(__name__)

# How many of a tracker's events are in the database, set on trackers this store read or wrote.
STORED_EVENTS = "_yibao_stored_events"
# Switched on by rasa_ext.install() (the launcher), so that `make bench-compare OFF=sql_tracker_store` can
# measure the store with Rasa's own reads and writes; off, FastSQLTrackerStore behaves as SQLTrackerStore.
ENABLED = False


def install() -> None:
    global ENABLED
    ENABLED = True


def tune_sqlite_engine(store: Any) -> None:
    """Give a SQLTrackerStore on SQLite one kept connection per thread, WAL and synchronous=NORMAL."""
    import sqlalchemy as sa
    from sqlalchemy import event

    if store.engine.dialect.name != "sqlite":
        return
    url = store.engine.url
    store.engine.dispose()
    engine = sa.create_engine(url, poolclass=sa.pool.SingletonThreadPool)

    @event.listens_for(engine, "connect")
    def _pragmas(connection: Any, _record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    store.engine = engine
    store.sessionmaker = sa.orm.session.sessionmaker(bind=engine)


class FastSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` with one statement per read and no count query per write (same rows)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fast = ENABLED
        if self.fast:
            tune_sqlite_engine(self)

    def stored_event_data(self, event: Event) -> dict[str, Any]:
        """What is written (and published) for ``event``; subclasses may change it (masking)."""
        return event.as_dict()

    def _current_session_statement(self) -> Any:
        """Rasa's ``_event_query`` for the latest session (events since the newest ``SessionStarted``
        by timestamp, or all), as one Core statement selecting only ``data``."""
        import sqlalchemy as sa

        table = self.SQLEvent.__table__
        sender = sa.bindparam("sender_id")
        session_start = (
            sa.select(sa.func.max(table.c.timestamp))
            .where(table.c.sender_id == sender, table.c.type_name == SessionStarted.type_name)
            .scalar_subquery()
        )
        return (
            sa.select(table.c.data)
            .where(table.c.sender_id == sender, sa.or_(table.c.timestamp >= session_start, session_start.is_(None)))
            .order_by(table.c.id)
        )

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        """The tracker of the latest conversation session (as ``SQLTrackerStore.retrieve``)."""
        if not self.fast:
            return await super().retrieve(sender_id)
        statement = self.__dict__.get("_current_session")
        if statement is None:
            statement = self._current_session = self._current_session_statement()
        with self.session_scope() as session:
            rows = session.execute(statement, {"sender_id": sender_id}).scalars().all()
        if not (self.domain and rows):
            logger.debug("No stored conversation for sender id '%s'.", sender_id)
            return None
        tracker = DialogueStateTracker.from_dict(sender_id, [json.loads(row) for row in rows], self.domain.slots)
        setattr(tracker, STORED_EVENTS, len(rows))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        """Writes the tracker's new events (same rows as ``SQLTrackerStore.save``)."""
        if not self.fast:
            return await self._save_as_rasa(tracker)
        await self.stream_events(tracker)

        with self.session_scope() as session:
            stored = getattr(tracker, STORED_EVENTS, None)
            if isinstance(stored, int) and 0 <= stored <= len(tracker.events):
                new_events = itertools.islice(tracker.events, stored, None)
            else:
                new_events = self._additional_events(session, tracker)
            rows = []
            for event in new_events:
                data = self.stored_event_data(event)
                rows.append(
                    {
                        "sender_id": tracker.sender_id,
                        "type_name": event.type_name,
                        "timestamp": data.get("timestamp"),
                        "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                        "action_name": data.get("name"),
                        "data": json.dumps(data),
                    }
                )
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, STORED_EVENTS, len(tracker.events))
        logger.debug("Tracker with sender_id '%s' stored to database", tracker.sender_id)

    async def _save_as_rasa(self, tracker: DialogueStateTracker) -> None:
        """Rasa's own ``save`` (ORM, a count query per turn), writing ``stored_event_data`` as the rows."""
        await self.stream_events(tracker)
        with self.session_scope() as session:
            for event in self._additional_events(session, tracker):
                data = self.stored_event_data(event)
                session.add(
                    self.SQLEvent(
                        sender_id=tracker.sender_id,
                        type_name=event.type_name,
                        timestamp=data.get("timestamp"),
                        intent_name=(data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                        action_name=data.get("name"),
                        data=json.dumps(data),
                    )
                )
            session.commit()

    async def _stream_new_events(self, event_broker: EventBroker, new_events: list[Event], sender_id: str) -> None:
        """Publishes the new events to the event broker as they are stored."""
        for event in new_events:
            body: dict[str, Any] = {"sender_id": sender_id}
            body.update(self.stored_event_data(event))
            event_broker.publish(body)
