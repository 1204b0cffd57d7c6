"""`make policy-check`: check the policy table and list conflicting rows. Exit 1 on any error.

Usage: python -m yibao.policy_check [TABLE.csv [SOURCES.csv]]
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from yibao.policy import DEFAULT_SOURCES, DEFAULT_TABLE, PolicyTable, check_table, load_sources, settling_rows


def china_today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def report(table_path: Path, sources_path: Path, today: date | None = None) -> tuple[list[str], bool]:
    rows, problems = check_table(table_path, sources_path, today or china_today())
    lines = [str(problem) for problem in problems]
    errors = [p for p in problems if p.severity == "error"]
    if not errors:
        table = PolicyTable(rows, load_sources(sources_path), str(table_path))
        for group in table.conflicts():
            answering = next(row for row in group if row.id in settling_rows(group))
            others = "、".join(row.id for row in group if row is not answering)
            lines.append(
                f"{table_path.name}:{answering.line} 冲突按裁决 / conflict settled by its resolution: "
                f"{answering.id} 作答，不用 {others}：{answering.resolution}"
            )
        superseded = [row for row in rows if row.status == "superseded"]
        lines.append(
            f"{table_path.name}: OK — {len(rows)} rows, {len(rows) - len(superseded)} active, "
            f"{len(superseded)} superseded, {len(table.conflicts())} conflicts settled by a resolution"
        )
    else:
        lines.append(f"{table_path.name}: {len(errors)} 个错误 / {len(errors)} error(s)")
    return lines, not errors


def main(argv: list[str]) -> int:
    table_path = Path(argv[0]) if argv else DEFAULT_TABLE
    sources_path = Path(argv[1]) if len(argv) > 1 else DEFAULT_SOURCES
    lines, ok = report(table_path, sources_path)
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
