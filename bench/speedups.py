"""Two fixes for Rasa 3.6's cost per message, found by profiling this assistant under load (py-spy on
`rasa run`, see docs/benchmarks.md) and measured by `make bench` ("+ fixes" rows).

1. Rasa validates every answer of the action server with ``jsonschema.validate(result, schema)``
   (``RemoteAction._validate_action_result``). ``validate()`` first checks the schema itself against
   the JSON-Schema meta-schema, and Rasa's event schema is large: that check alone took ~45 % of the
   Rasa process's CPU per message. A validator built (and checked) once validates the same way.
2. SQLite tracker store: SQLAlchemy 1.4 gives a file database a ``NullPool`` (a new connection, and
   schema read, for every retrieve and every save) and SQLite's default journal fsyncs several times
   per commit, on Rasa's event loop. One kept connection, ``journal_mode=WAL`` and
   ``synchronous=NORMAL`` (no fsync per commit; after a power cut the last commits may be lost, the
   file is never corrupted; a crash of Rasa itself loses nothing).

These belong in the project's runtime modules (channels/rest.py, stores/tracker_store.py); until
they are there, `python -m bench.rasa_speedups run ...` is `rasa run ...` with them applied.
"""
from __future__ import annotations

import logging
from typing import Any, Dict

logger = logging.getLogger(__name__)
_applied = False


def cached_action_result_validation() -> None:
    from jsonschema import ValidationError
    from jsonschema.validators import validator_for
    from rasa.core.actions import action as rasa_action

    if getattr(rasa_action.RemoteAction._validate_action_result, "_yibao_cached", False):
        return
    schema = rasa_action.RemoteAction.action_response_format_spec()
    validator_class = validator_for(schema)
    validator_class.check_schema(schema)  # once, instead of on every message
    validator = validator_class(schema)
    original = rasa_action.RemoteAction._validate_action_result

    def _validate_action_result(self: Any, result: Dict[str, Any]) -> bool:
        try:
            validator.validate(result)
        except ValidationError:
            return original(self, result)  # Rasa's own error message
        return True

    _validate_action_result._yibao_cached = True  # type: ignore[attr-defined]
    rasa_action.RemoteAction._validate_action_result = _validate_action_result


def tune_sqlite_engine(store: Any) -> None:
    """Give a SQLTrackerStore on SQLite one kept connection, WAL and synchronous=NORMAL."""
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


def tuned_sqlite_tracker_stores() -> None:
    from rasa.core.tracker_store import SQLTrackerStore

    if getattr(SQLTrackerStore.__init__, "_yibao_tuned", False):
        return
    original = SQLTrackerStore.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        tune_sqlite_engine(self)

    __init__._yibao_tuned = True  # type: ignore[attr-defined]
    SQLTrackerStore.__init__ = __init__


def apply() -> None:
    global _applied
    if not _applied:
        cached_action_result_validation()
        tuned_sqlite_tracker_stores()
        _applied = True
