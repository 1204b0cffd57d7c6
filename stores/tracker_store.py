"""Rasa's SQL tracker store, with personal numbers masked before anything is written.

endpoints.yml::

    tracker_store:
      type: stores.tracker_store.MaskingSQLTrackerStore
      dialect: sqlite            # or postgresql (then url/host, port, db, username, password)
      db: tracker.db
      # connect_timeout: 30      # PostgreSQL etc.: give up after N seconds (env TRACKER_STORE_CONNECT_TIMEOUT)

It takes the keys of ``type: SQL`` and writes the same ``events`` table, so an existing database
keeps working and can be read back by ``type: SQL``.

* Second privacy layer. The channels mask 身份证号, bank card and mobile numbers before Rasa sees a
  message; this store masks again (``yibao.privacy.mask_value`` over every string of every event:
  user text, ``parse_data`` text and entity values, metadata, slot values, bot text) before a row is
  written or an event is published to an event broker. That also covers ``rasa shell`` and the
  HTTP API, which bypass the project's channels.
* Fail fast. Rasa's ``SQLTrackerStore`` retries an unreachable database every 5 s forever; this
  one stops after ``connect_timeout`` seconds (default 30) with an error naming the endpoints.yml
  ``tracker_store`` settings to fix, in Chinese and English.
* Cheaper per message (docs/benchmarks.md). ``retrieve`` reads the current session with one
  precompiled Core SQL statement instead of the ORM query (same rows, same order), and ``save``
  knows how many of a tracker's events are already stored (from the ``retrieve`` or ``save`` that
  produced it) instead of counting them with a query on every turn; a tracker that came from
  elsewhere is counted as Rasa does. Rows are inserted in one statement.
* Importing it changes nothing else: the Rasa patches (the action-server apology, the speed fixes)
  are installed by the launcher ``python -m rasa_ext`` (rasa_ext/__init__.py).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
from typing import Any, Dict, List, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SQLTrackerStore, validate_port
from rasa.shared.exceptions import ConnectionException
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.nlu.constants import INTENT_NAME_KEY

from rasa_ext.sqlite_engine import tune_sqlite_engine
from stores.connectivity import Unreachable, wait_for_sql
from yibao.privacy import mask_value

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 30.0

# How many of a tracker's events are in the database, set on trackers this store read or wrote.
STORED_EVENTS = "_yibao_stored_events"


class TrackerStoreUnreachable(ConnectionException):
    """The database of the tracker store cannot be reached at start."""


def masked_event_dict(event: Event) -> Dict[Text, Any]:
    """``event.as_dict()`` with every personal number masked (idempotent)."""
    return mask_value(event.as_dict())


class MaskingSQLTrackerStore(SQLTrackerStore):
    """``SQLTrackerStore`` that never writes an unmasked personal number and fails fast at start."""

    def __init__(
        self,
        domain: Optional[Domain] = None,
        dialect: Text = "sqlite",
        host: Optional[Text] = None,
        port: Optional[int] = None,
        db: Text = "rasa.db",
        username: Text = None,
        password: Text = None,
        event_broker: Optional[EventBroker] = None,
        login_db: Optional[Text] = None,
        query: Optional[Dict] = None,
        connect_timeout: Optional[float] = None,
        **kwargs: Dict[Text, Any],
    ) -> None:
        if not str(dialect or "sqlite").lower().startswith("sqlite"):
            deadline = _connect_timeout(connect_timeout)
            url = self.get_db_url(dialect, host, validate_port(port), db, username, password, login_db, query)
            shown = {"type": type(self).__module__ + "." + type(self).__name__, "dialect": dialect, "url": host,
                     "port": port, "db": db, "login_db": login_db, "username": username,
                     "password": password}
            try:
                wait_for_sql(url, shown, deadline)
            except Unreachable as error:
                raise TrackerStoreUnreachable(str(error)) from None
        super().__init__(domain, dialect, host, port, db, username, password, event_broker, login_db, query,
                         **kwargs)
        tune_sqlite_engine(self)

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
            .where(table.c.sender_id == sender,
                   sa.or_(table.c.timestamp >= session_start, session_start.is_(None)))
            .order_by(table.c.id)
        )

    async def retrieve(self, sender_id: Text) -> Optional[DialogueStateTracker]:
        """The tracker of the latest conversation session (as ``SQLTrackerStore.retrieve``)."""
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
        """Writes the tracker's new events, masked (same rows as ``SQLTrackerStore.save``)."""
        await self.stream_events(tracker)

        with self.session_scope() as session:
            stored = getattr(tracker, STORED_EVENTS, None)
            if isinstance(stored, int) and 0 <= stored <= len(tracker.events):
                new_events = itertools.islice(tracker.events, stored, None)
            else:
                new_events = self._additional_events(session, tracker)
            rows = []
            for event in new_events:
                data = masked_event_dict(event)
                rows.append({
                    "sender_id": tracker.sender_id,
                    "type_name": event.type_name,
                    "timestamp": data.get("timestamp"),
                    "intent_name": (data.get("parse_data") or {}).get("intent", {}).get(INTENT_NAME_KEY),
                    "action_name": data.get("name"),
                    "data": json.dumps(data),
                })
            if rows:
                session.execute(self.SQLEvent.__table__.insert(), rows)
            session.commit()
        setattr(tracker, STORED_EVENTS, len(tracker.events))

        logger.debug("Tracker with sender_id '%s' stored to database (personal numbers masked)", tracker.sender_id)

    async def _stream_new_events(self, event_broker: EventBroker, new_events: List[Event], sender_id: Text) -> None:
        """Publishes the new events to the event broker, masked."""
        for event in new_events:
            body: Dict[Text, Any] = {"sender_id": sender_id}
            body.update(masked_event_dict(event))
            event_broker.publish(body)


def _connect_timeout(configured: Optional[Any]) -> float:
    value = configured if configured not in (None, "") else os.environ.get("TRACKER_STORE_CONNECT_TIMEOUT")
    try:
        seconds = float(value) if value not in (None, "") else DEFAULT_CONNECT_TIMEOUT
    except (TypeError, ValueError):
        seconds = DEFAULT_CONNECT_TIMEOUT
    return seconds if seconds >= 0 else DEFAULT_CONNECT_TIMEOUT
