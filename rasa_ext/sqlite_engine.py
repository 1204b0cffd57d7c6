"""A SQLite tracker store with one kept connection per thread, WAL and synchronous=NORMAL.

Replaces the ``engine`` and ``sessionmaker`` that ``rasa.core.tracker_store.SQLTrackerStore.__init__``
builds (called by ``stores.tracker_store.MaskingSQLTrackerStore`` on a SQLite database only).

Why: SQLAlchemy 1.4 gives a file database a ``NullPool`` (a new connection, and schema read, for every
retrieve and every save) and SQLite's default journal fsyncs several times per commit, on Rasa's event
loop. After a power cut the last commits may be lost with synchronous=NORMAL, the file is never
corrupted; a crash of Rasa itself loses nothing. Measured gain: docs/benchmarks.md.
"""

from __future__ import annotations

from typing import Any


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
