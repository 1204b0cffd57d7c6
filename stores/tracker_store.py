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
* Cheaper per message: the fast reads and writes of its base class,
  ``rasa_ext.sql_tracker_store.FastSQLTrackerStore`` (which reaches into Rasa's store, so it lives
  with the other Rasa patches).
"""
from __future__ import annotations

import logging
import os
from typing import Any, Dict, Optional, Text

from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import validate_port
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event
from rasa.shared.exceptions import ConnectionException

from rasa_ext.sql_tracker_store import FastSQLTrackerStore
from stores.connectivity import Unreachable, wait_for_sql
from yibao.privacy import mask_value

logger = logging.getLogger(__name__)

DEFAULT_CONNECT_TIMEOUT = 30.0


class TrackerStoreUnreachable(ConnectionException):
    """The database of the tracker store cannot be reached at start."""


def masked_event_dict(event: Event) -> Dict[Text, Any]:
    """``event.as_dict()`` with every personal number masked (idempotent)."""
    return mask_value(event.as_dict())


class MaskingSQLTrackerStore(FastSQLTrackerStore):
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

    def stored_event_data(self, event: Event) -> Dict[Text, Any]:
        """Every row written and every event published: masked."""
        return masked_event_dict(event)


def _connect_timeout(configured: Optional[Any]) -> float:
    value = configured if configured not in (None, "") else os.environ.get("TRACKER_STORE_CONNECT_TIMEOUT")
    try:
        seconds = float(value) if value not in (None, "") else DEFAULT_CONNECT_TIMEOUT
    except (TypeError, ValueError):
        seconds = DEFAULT_CONNECT_TIMEOUT
    return seconds if seconds >= 0 else DEFAULT_CONNECT_TIMEOUT
