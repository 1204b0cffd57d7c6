"""Two fixes for Rasa 3.6's cost per message, found by profiling this assistant under load (py-spy on
`rasa run`; figures in docs/benchmarks.md).

1. Rasa validates every answer of the action server with ``jsonschema.validate(result, schema)``
   (``RemoteAction._validate_action_result``). ``validate()`` first checks the schema itself against
   the JSON-Schema meta-schema, and Rasa's event schema is large: that check alone took ~45 % of the
   Rasa process's CPU per message. A validator built (and checked) once validates the same way.
2. SQLite tracker store: SQLAlchemy 1.4 gives a file database a ``NullPool`` (a new connection, and
   schema read, for every retrieve and every save) and SQLite's default journal fsyncs several times
   per commit, on Rasa's event loop. One kept connection per thread, ``journal_mode=WAL`` and
   ``synchronous=NORMAL`` (no fsync per commit: after a power cut the last commits may be lost, the
   file is never corrupted; a crash of Rasa itself loses nothing).
"""
from __future__ import annotations

from typing import Any, Dict


def cached_action_result_validation() -> None:
    """Validate action-server answers with a validator built once (same schema, same errors)."""
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
