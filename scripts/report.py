"""`make report`: an HTML report of the conversations in the tracker store, and the unanswered questions
exported for labelling.

    python scripts/report.py [--db URL] [--since YYYY-MM-DD] [--until YYYY-MM-DD]
                             [--out reports/report.html] [--unanswered-out reports/unanswered_nlu.yml]

--db defaults to $TRACKER_DB_URL, else the tracker_store of endpoints.yml (--endpoints; SQLite tracker.db
by default, PostgreSQL when configured there). Days are calendar days in Asia/Shanghai (--tz); the range
defaults to the 30 days ending today. --unanswered-out ending in .csv writes CSV, else Rasa NLU YAML.
Exit 0 on success, 2 when the tracker store or the table cannot be read.
"""
from __future__ import annotations

import argparse
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

PROJECT = Path(__file__).resolve().parent.parent
if str(PROJECT) not in sys.path:
    sys.path.insert(0, str(PROJECT))

from yibao.policy import PolicyTableError, load_table  # noqa: E402
from yibao.report import (ReportSourceError, build_report, read_events, render_html,  # noqa: E402
                          tracker_db_url, write_unanswered)
from yibao.report.cluster import DEFAULT_THRESHOLD  # noqa: E402
from yibao.report.source import display_url  # noqa: E402
from yibao.table_store import TableStore  # noqa: E402


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"日期应为 YYYY-MM-DD / date must be YYYY-MM-DD: {text!r}")


def arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Report on the conversations in the tracker store.")
    parser.add_argument("--db", help="SQLAlchemy URL, e.g. sqlite:///tracker.db or postgresql://user@host/db")
    parser.add_argument("--endpoints", default=str(PROJECT / "endpoints.yml"),
                        help="endpoints file whose tracker_store is read when --db is not given")
    parser.add_argument("--since", type=parse_day, help="first day (default: 29 days before --until)")
    parser.add_argument("--until", type=parse_day, help="last day, inclusive (default: today)")
    parser.add_argument("--tz", default="Asia/Shanghai", help="time zone of the days (default Asia/Shanghai)")
    parser.add_argument("--out", default="reports/report.html", help="the HTML report")
    parser.add_argument("--unanswered-out", default="reports/unanswered_nlu.yml",
                        help="unanswered questions: .yml (Rasa NLU, intent TODO_label) or .csv; '' to skip")
    parser.add_argument("--table", help="policy table (default $POLICY_TABLE or data/policy/policy_table.csv)")
    parser.add_argument("--sources", help="sources of the table (default $POLICY_SOURCES or data/policy/sources.csv)")
    parser.add_argument("--similarity", type=float, default=DEFAULT_THRESHOLD,
                        help=f"cosine similarity for grouping near-duplicates (default {DEFAULT_THRESHOLD})")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    tz = ZoneInfo(args.tz)
    until = args.until or datetime.now(tz).date()
    since = args.since or until - timedelta(days=29)
    if since > until:
        print(f"--since {since} 晚于 --until {until} / --since is after --until", file=sys.stderr)
        return 2
    try:
        url = args.db or tracker_db_url(args.endpoints)
        events = read_events(url, since, until, tz)
    except ReportSourceError as error:
        print(f"report: {error}", file=sys.stderr)
        return 2
    store = TableStore(args.table, args.sources)
    try:
        table = load_table(store.table_path, store.sources_path)
    except (PolicyTableError, OSError) as error:
        print(f"report: 政策表无法读取 / cannot load the policy table:\n{error}", file=sys.stderr)
        return 2

    report = build_report(events, since, until, table, tz, display_url(url), args.similarity)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(report), encoding="utf-8")
    print(f"report: {out} — {since}..{until}: {report.conversations} conversations, {report.user_messages} user "
          f"messages, fallback {report.fallback}, out of scope {report.out_of_scope}, {report.unanswered} "
          f"unanswered in {len(report.clusters)} clusters, {report.unhelpful} marked 没帮助, "
          f"{len(report.regions_without_rows)} regions without region-specific rows")
    if args.unanswered_out:
        path = write_unanswered(report, args.unanswered_out)
        print(f"unanswered: {path} — {len(report.unanswered_examples)} distinct questions to label")
    return 0


if __name__ == "__main__":
    sys.exit(main())
