"""Reading Rasa's SQL tracker store: where it is, and its events for a date range.

Rasa's SQLTrackerStore keeps one row per event in the table `events` (sender_id, type_name, timestamp,
intent_name, action_name, data = the event as JSON). This module only reads it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent
DEFAULT_ENDPOINTS = PROJECT_DIR / "endpoints.yml"
CHINA = ZoneInfo("Asia/Shanghai")
_ENV_REFERENCE = re.compile(r"\$\{([^}]+)\}")


class ReportSourceError(RuntimeError):
    """The tracker store cannot be found or read (message in Chinese and English)."""


@dataclass(frozen=True)
class StoredEvent:
    sender_id: str
    type_name: str
    timestamp: float
    intent_name: str | None
    action_name: str | None
    data: dict[str, Any] = field(hash=False, compare=False)


def _expand(value: Any, environ: Mapping[str, str]) -> Any:
    """Rasa's `${VAR}` references in endpoints.yml, replaced from the environment."""
    if not isinstance(value, str):
        return value

    def replace(match: re.Match) -> str:
        if match.group(1) not in environ:
            raise ReportSourceError(
                f"endpoints 中引用的环境变量 {match.group(1)} 未设置 / "
                f"environment variable {match.group(1)} used in the endpoints file is not set"
            )
        return environ[match.group(1)]

    return _ENV_REFERENCE.sub(replace, value)


def tracker_db_url(endpoints: Path | str = DEFAULT_ENDPOINTS, environ: Mapping[str, str] | None = None) -> str:
    """The SQLAlchemy URL of the tracker store: $TRACKER_DB_URL, else the endpoints file's `tracker_store`.

    A relative SQLite file is taken relative to the endpoints file's folder (where `rasa run` runs).
    """
    environ = os.environ if environ is None else environ
    if environ.get("TRACKER_DB_URL"):
        return environ["TRACKER_DB_URL"]
    path = Path(endpoints)
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise ReportSourceError(f"无法读取 {path} / cannot read {path}: {error}") from error
    store = config.get("tracker_store") or {}
    # `type: SQL`, or a subclass of Rasa's SQLTrackerStore such as stores.tracker_store.MaskingSQLTrackerStore.
    if "sql" not in str(store.get("type", "")).lower():
        raise ReportSourceError(
            f"{path.name} 没有配置 SQL 对话存储，请用 --db 指定 / {path.name} has no SQL tracker store; pass --db URL"
        )
    settings = {key: _expand(value, environ) for key, value in store.items()}
    dialect = settings.get("dialect") or "sqlite"
    host = settings.get("url") or settings.get("host")
    if host and "://" in str(host):
        return str(host)
    database = str(settings.get("db") or "rasa.db")
    if dialect == "sqlite":
        file = Path(database)
        if not file.is_absolute():
            file = path.resolve().parent / file
        return f"sqlite:///{file}"
    port = settings.get("port")
    url = sa.engine.URL.create(
        dialect,
        username=settings.get("username") or None,
        password=settings.get("password") or None,
        host=host or None,
        port=int(port) if port not in (None, "") else None,
        database=database,
        query=settings.get("query") or {},
    )
    return url.render_as_string(hide_password=False)


def display_url(url: str) -> str:
    """The URL without its password, for the report."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - anything unparsable is shown by its scheme only
        return url.split("://", 1)[0] + "://…"


def day_bounds(since: date, until: date, tz: ZoneInfo = CHINA) -> tuple[float, float]:
    """[start of `since`, start of the day after `until`) in `tz`, as Unix timestamps."""
    start = datetime.combine(since, time.min, tz)
    end = datetime.combine(until + timedelta(days=1), time.min, tz)
    return start.timestamp(), end.timestamp()


def read_events(url: str, since: date, until: date, tz: ZoneInfo = CHINA) -> list[StoredEvent]:
    """Every event, up to the end of the range, of each conversation that has an event in the range.

    Earlier events come along so that slot values set before the range are known; the aggregation
    counts only what happened inside the range. Events are in the order Rasa stored them.
    """
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        file = Path(url[len("sqlite:///") :])
        if not file.exists():
            raise ReportSourceError(f"对话数据库不存在 / tracker store not found: {file}")
    lo, hi = day_bounds(since, until, tz)
    query = sa.text(
        "SELECT sender_id, type_name, timestamp, intent_name, action_name, data FROM events "
        "WHERE timestamp < :hi AND sender_id IN "
        "(SELECT DISTINCT sender_id FROM events WHERE timestamp >= :lo AND timestamp < :hi) "
        "ORDER BY sender_id, id"
    )
    try:
        engine = sa.create_engine(url)
    except Exception as error:  # noqa: BLE001 - bad URL or missing driver
        raise ReportSourceError(
            f"无法连接对话数据库 / cannot open the tracker store {display_url(url)}: {error}"
        ) from error
    try:
        with engine.connect() as connection:
            if not sa.inspect(connection).has_table("events"):
                raise ReportSourceError(f"数据库中没有 events 表 / no `events` table in {display_url(url)}")
            records = connection.execute(query, {"lo": lo, "hi": hi}).fetchall()
    except sa.exc.SQLAlchemyError as error:
        raise ReportSourceError(
            f"读取对话数据库失败 / cannot read the tracker store {display_url(url)}: "
            f"{error.__class__.__name__}: {error}"
        ) from error
    finally:
        engine.dispose()
    events = []
    for sender_id, type_name, timestamp, intent_name, action_name, data in records:
        try:
            payload = json.loads(data) if data else {}
        except ValueError:
            payload = {}
        events.append(
            StoredEvent(
                sender_id,
                type_name,
                float(timestamp or payload.get("timestamp") or 0),
                intent_name,
                action_name,
                payload if isinstance(payload, dict) else {},
            )
        )
    return events
