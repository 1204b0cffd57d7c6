"""The policy table the action server answers from, reloaded when its files change.

An edited table is checked before it is used; a table that fails the check is refused and the
previous one keeps serving, so a typo never takes answers down.

The files default to data/policy/; the environment variables POLICY_TABLE and POLICY_SOURCES point the
action server at other copies.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import UTC, datetime
from pathlib import Path

from yibao.policy import DEFAULT_SOURCES, DEFAULT_TABLE, PolicyTable, PolicyTableError, load_table

logger = logging.getLogger(__name__)


class TableStore:
    def __init__(self, table_path: Path | str | None = None, sources_path: Path | str | None = None) -> None:
        self.table_path = Path(table_path or os.environ.get("POLICY_TABLE") or DEFAULT_TABLE)
        self.sources_path = Path(sources_path or os.environ.get("POLICY_SOURCES") or DEFAULT_SOURCES)
        self._lock = threading.Lock()
        self._table: PolicyTable | None = None
        self._stamp: tuple[float, float] | None = None
        self.last_error: PolicyTableError | None = None
        self.loaded_at: datetime | None = None  # when the serving table was loaded (UTC)
        self.last_error_at: datetime | None = None

    def _current_stamp(self) -> tuple[float, float]:
        return (self.table_path.stat().st_mtime_ns, self.sources_path.stat().st_mtime_ns)

    def reload(self) -> PolicyTable:
        """Load the files now. Raises PolicyTableError (and keeps the old table) when they fail the check."""
        with self._lock:
            stamp = self._current_stamp()
            try:
                table = load_table(self.table_path, self.sources_path)
            except PolicyTableError as error:
                self.last_error, self.last_error_at = error, datetime.now(UTC)
                self._stamp = stamp  # do not re-check the same broken files on every message
                logger.error("policy table refused, previous table keeps serving:\n%s", error)
                raise
            self._table, self._stamp, self.last_error = table, stamp, None
            self.loaded_at = datetime.now(UTC)
            logger.info("policy table loaded: %d rows from %s", len(table.rows), self.table_path)
            return table

    @property
    def current(self) -> PolicyTable | None:
        """The table now serving, without looking at the files."""
        return self._table

    def get(self) -> PolicyTable:
        """The current table, reloading first if the files changed since the last look."""
        try:
            changed = self._stamp != self._current_stamp()
        except OSError:
            changed = False
        if self._table is None or changed:
            try:
                return self.reload()
            except PolicyTableError:
                if self._table is None:
                    raise
        assert self._table is not None
        return self._table
