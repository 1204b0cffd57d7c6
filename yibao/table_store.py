"""The policy table the action server answers from, reloaded when its files change.

An edited table is checked before it is used; a table that fails the check is refused and the
previous one keeps serving, so a typo never takes answers down.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path

from yibao.policy import DEFAULT_SOURCES, DEFAULT_TABLE, PolicyTable, PolicyTableError, load_table

logger = logging.getLogger(__name__)


class TableStore:
    def __init__(self, table_path: Path | str = DEFAULT_TABLE, sources_path: Path | str = DEFAULT_SOURCES) -> None:
        self.table_path = Path(table_path)
        self.sources_path = Path(sources_path)
        self._lock = threading.Lock()
        self._table: PolicyTable | None = None
        self._stamp: tuple[float, float] | None = None
        self.last_error: PolicyTableError | None = None

    def _current_stamp(self) -> tuple[float, float]:
        return (self.table_path.stat().st_mtime_ns, self.sources_path.stat().st_mtime_ns)

    def reload(self) -> PolicyTable:
        """Load the files now. Raises PolicyTableError (and keeps the old table) when they fail the check."""
        with self._lock:
            stamp = self._current_stamp()
            try:
                table = load_table(self.table_path, self.sources_path)
            except PolicyTableError as error:
                self.last_error = error
                self._stamp = stamp  # do not re-check the same broken files on every message
                logger.error("policy table refused, previous table keeps serving:\n%s", error)
                raise
            self._table, self._stamp, self.last_error = table, stamp, None
            logger.info("policy table loaded: %d rows from %s", len(table.rows), self.table_path)
            return table

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
