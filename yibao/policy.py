"""The policy table: loading, checking and looking up facts.

The table (data/policy/policy_table.csv) is the only place policy facts live; docs/design.md describes
its columns. Lookup picks, for each fact (`item`) of a topic, the row with the most specific region, then
the most specific condition, then the newest source date.
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Iterable, Mapping

from yibao import regions

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = PROJECT_DIR / "data" / "policy" / "policy_table.csv"
DEFAULT_SOURCES = PROJECT_DIR / "data" / "policy" / "sources.csv"

COLUMNS = ("id", "topic", "item", "rank", "account_type", "region", "condition", "answer", "source",
           "source_date", "status", "note")
TOPICS = ("what_is", "account_difference", "how_to_bind", "how_to_use", "activation", "limits",
          "effective_time", "bind_failed", "remote_use", "cross_province_pilot", "balance_unusable",
          "unbind", "contact")
ACCOUNT_TYPES = ("亲情账户", "家庭共济")
ANY_ACCOUNT = "通用"
NATIONWIDE = "全国"
STATUSES = ("active", "superseded")
CONDITION_NAMES = ("account_type", "insured_region", "treatment_region", "bind_date", "insurance_type",
                   "family_insurance_type", "relation", "bind_day", "months_since_bind", "bind_stage",
                   "same_province", "both_in_pilot", "insured_province", "treatment_province")
PLACEHOLDERS = ("bind_year", "bind_month", "bind_day", "next_month_year", "next_month", "insured_region",
                "treatment_region")
# Facts that select rows only when the user has told them: never the reason for a follow-up question
# (a family member's insurance type matters when mentioned, but is not worth asking for).
TOLD_ONLY_NAMES = ("family_insurance_type", "bind_stage")
# Which slot the user must tell us when a condition name is unknown.
SLOT_FOR_NAME = {"bind_day": "bind_date", "months_since_bind": "bind_date", "same_province": "insured_region",
                 "both_in_pilot": "insured_region", "insured_province": "insured_region",
                 "treatment_province": "treatment_region"}

_CLAUSE = re.compile(r"^\s*([a-z_]+)\s*(!=|<=|>=|=|<|>)\s*(.+?)\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
# Half-width marks that a Chinese answer writes full-width (，；：？！（）); "." stays for 8.5 折 and web addresses.
_ASCII_PUNCTUATION = re.compile(r"[,;:?!()]")


@dataclass(frozen=True)
class Clause:
    name: str
    operator: str
    value: str

    def holds(self, facts: Mapping[str, object]) -> bool | None:
        """True/False, or None when the fact is unknown."""
        actual = facts.get(self.name)
        if actual is None or actual == "":
            return None
        if self.operator in ("=", "!="):
            equal = str(actual) == self.value
            return equal if self.operator == "=" else not equal
        try:
            left, right = float(actual), float(self.value)
        except (TypeError, ValueError):
            return False
        return {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right}[self.operator]


def parse_condition(text: str) -> tuple[Clause, ...]:
    """'bind_day<15;insurance_type=职工医保' -> clauses. Raises ValueError on bad syntax."""
    clauses = []
    for part in (text or "").split(";"):
        if not part.strip():
            continue
        match = _CLAUSE.match(part)
        if not match:
            raise ValueError(f"bad clause {part!r}")
        name, operator, value = match.groups()
        if name not in CONDITION_NAMES:
            raise ValueError(f"unknown name {name!r}")
        if operator not in ("=", "!="):
            float(value)  # raises ValueError for a non-number
        clauses.append(Clause(name, operator, value))
    return tuple(clauses)


@dataclass(frozen=True)
class PolicyRow:
    id: str
    topic: str
    item: str
    rank: int
    account_type: str
    region: str
    condition: tuple[Clause, ...]
    condition_text: str
    answer: str
    source: str
    source_date: date
    status: str
    note: str
    line: int

    @property
    def region_match(self) -> regions.Region | None:
        return None if self.region == NATIONWIDE else regions.resolve(self.region)

    @property
    def conflict_key(self) -> tuple[str, str, str, str, str]:
        return (self.topic, self.item, self.account_type, self.region, self.condition_text.replace(" ", ""))


@dataclass(frozen=True)
class Problem:
    """One finding of the table check, located by file, line and column."""
    file: str
    line: int
    column: str
    message_zh: str
    message_en: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line} [{self.column}] {self.severity}: {self.message_zh} / {self.message_en}"


@dataclass(frozen=True)
class Source:
    source: str
    title: str
    date: str


@dataclass
class PolicyTable:
    rows: list[PolicyRow]
    sources: dict[str, Source]
    path: str = str(DEFAULT_TABLE)

    def active(self) -> list[PolicyRow]:
        return [row for row in self.rows if row.status == "active"]

    def by_id(self, row_id: str) -> PolicyRow | None:
        return next((row for row in self.rows if row.id == row_id), None)

    def conflicts(self) -> list[list[PolicyRow]]:
        """Groups of two or more active rows stating the same fact, newest first."""
        groups: dict[tuple, list[PolicyRow]] = {}
        for row in self.active():
            groups.setdefault(row.conflict_key, []).append(row)
        return [sorted(group, key=lambda r: r.source_date, reverse=True)
                for group in groups.values() if len(group) > 1]


class PolicyTableError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def load_sources(path: Path | str = DEFAULT_SOURCES) -> dict[str, Source]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {row["source"]: Source(row["source"], row["title"], row["date"]) for row in csv.DictReader(handle)}


def check_table(path: Path | str = DEFAULT_TABLE,
                sources_path: Path | str = DEFAULT_SOURCES) -> tuple[list[PolicyRow], list[Problem]]:
    """Read and check the table. Returns the rows that could be read and every problem found."""
    path = Path(path)
    name = path.name
    problems: list[Problem] = []

    def problem(line: int, column: str, zh: str, en: str, severity: str = "error") -> None:
        problems.append(Problem(name, line, column, zh, en, severity))

    try:
        sources = load_sources(sources_path)
    except (OSError, KeyError) as error:
        sources = {}
        problem(1, "source", f"无法读取来源表 {sources_path}", f"cannot read sources file {sources_path}: {error}")

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem(1, "-", "无法读取政策表（需 UTF-8 编码）", f"cannot read the table (UTF-8 expected): {error}")
        return [], problems

    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(column.strip() for column in header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in (header or [])]
        problem(1, ",".join(missing) or "header", f"表头应为：{','.join(COLUMNS)}",
                f"header must be exactly: {','.join(COLUMNS)}")
        return [], problems

    rows: list[PolicyRow] = []
    seen_ids: dict[str, int] = {}
    seen_content: dict[tuple, int] = {}
    for line_number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(COLUMNS):
            problem(line_number, "-", f"应有 {len(COLUMNS)} 列，实际 {len(values)} 列（检查逗号和引号）",
                    f"expected {len(COLUMNS)} columns, found {len(values)} (check commas and quotes)")
            continue
        cells = {column: value.strip() for column, value in zip(COLUMNS, values)}
        ok = True
        for column in ("id", "topic", "item", "account_type", "region", "answer", "source", "source_date", "status"):
            if not cells[column]:
                problem(line_number, column, "必填项为空", "required value is empty")
                ok = False
        if cells["id"] in seen_ids:
            problem(line_number, "id", f"编号重复（第 {seen_ids[cells['id']]} 行已用）",
                    f"duplicate id (already used on line {seen_ids[cells['id']]})")
            ok = False
        seen_ids.setdefault(cells["id"], line_number)
        if cells["topic"] and cells["topic"] not in TOPICS:
            problem(line_number, "topic", f"未知主题 {cells['topic']}", f"unknown topic {cells['topic']!r}")
            ok = False
        if cells["account_type"] and cells["account_type"] not in (*ACCOUNT_TYPES, ANY_ACCOUNT):
            problem(line_number, "account_type", f"账户类型应为 亲情账户/家庭共济/通用，实际 {cells['account_type']}",
                    f"unknown account type {cells['account_type']!r}")
            ok = False
        if cells["region"] and cells["region"] != NATIONWIDE and regions.resolve(cells["region"]) is None:
            problem(line_number, "region", f"地区 {cells['region']} 无法对应到行政区划代码",
                    f"region {cells['region']!r} does not resolve to a region code")
            ok = False
        try:
            rank = int(cells["rank"] or 0)
        except ValueError:
            problem(line_number, "rank", "排序应为整数", "rank must be an integer")
            rank, ok = 0, False
        try:
            condition = parse_condition(cells["condition"])
        except ValueError as error:
            problem(line_number, "condition", f"条件格式错误：{error}", f"malformed condition: {error}")
            condition, ok = (), False
        parsed_date = None
        if not _DATE.match(cells["source_date"]):
            problem(line_number, "source_date", "日期应为 YYYY-MM-DD", "date must be YYYY-MM-DD")
            ok = False
        else:
            try:
                parsed_date = date.fromisoformat(cells["source_date"])
            except ValueError:
                problem(line_number, "source_date", "日期不存在", "date does not exist")
                ok = False
        if cells["source"] and sources and cells["source"] not in sources:
            problem(line_number, "source", f"来源 {cells['source']} 不在 sources.csv 中",
                    f"source {cells['source']!r} is not listed in sources.csv")
            ok = False
        if cells["status"] and cells["status"] not in STATUSES:
            problem(line_number, "status", "状态应为 active 或 superseded", "status must be active or superseded")
            ok = False
        ascii_marks = sorted(set(_ASCII_PUNCTUATION.findall(cells["answer"])))
        if ascii_marks:
            problem(line_number, "answer", f"答案请用全角中文标点（，；：？！（）），不要用 {' '.join(ascii_marks)}",
                    f"answers use full-width Chinese punctuation; found {' '.join(ascii_marks)}")
            ok = False
        for placeholder in _PLACEHOLDER.findall(cells["answer"]):
            if placeholder not in PLACEHOLDERS:
                problem(line_number, "answer", f"未知占位符 {{{placeholder}}}", f"unknown placeholder {{{placeholder}}}")
                ok = False
        content_key = (cells["topic"], cells["item"], cells["account_type"], cells["region"],
                       cells["condition"].replace(" ", ""), cells["answer"])
        if content_key in seen_content:
            problem(line_number, "answer", f"与第 {seen_content[content_key]} 行完全重复",
                    f"duplicates line {seen_content[content_key]}")
            ok = False
        seen_content.setdefault(content_key, line_number)
        if ok and parsed_date is not None:
            rows.append(PolicyRow(cells["id"], cells["topic"], cells["item"], rank, cells["account_type"],
                                  cells["region"], condition, cells["condition"], cells["answer"], cells["source"],
                                  parsed_date, cells["status"], cells["note"], line_number))
    return rows, problems


def load_table(path: Path | str = DEFAULT_TABLE, sources_path: Path | str = DEFAULT_SOURCES) -> PolicyTable:
    """Load the table or raise PolicyTableError listing every error."""
    rows, problems = check_table(path, sources_path)
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise PolicyTableError(errors)
    return PolicyTable(rows, load_sources(sources_path), str(path))


@dataclass
class Lookup:
    rows: list[PolicyRow] = field(default_factory=list)
    missing_slots: list[str] = field(default_factory=list)
    # Older active rows that state the same fact differently as the chosen ones.
    overruled: list[PolicyRow] = field(default_factory=list)


def _region_specificity(row: PolicyRow, region: regions.Region | None) -> int | None:
    """2 city, 1 province, 0 nationwide, None when the row is about another place."""
    if row.region == NATIONWIDE:
        return 0
    row_region = row.region_match
    if row_region is None or region is None or not region.is_within(row_region):
        return None
    return 2 if row_region.level == "city" else 1


def account_types_of(table: PolicyTable, topic: str) -> set[str]:
    return {row.account_type for row in table.active() if row.topic == topic}


def lookup(table: PolicyTable, topic: str, account_type: str | None, facts: Mapping[str, object],
           region: regions.Region | None) -> Lookup:
    """The rows that answer `topic` for these facts, in answer order."""
    result = Lookup()
    best: dict[str, tuple[tuple, PolicyRow]] = {}
    for row in table.active():
        if row.topic != topic:
            continue
        if account_type and row.account_type not in (account_type, ANY_ACCOUNT):
            continue
        specificity = _region_specificity(row, region)
        if specificity is None:
            continue
        outcomes = [clause.holds(facts) for clause in row.condition]
        if any(outcome is False for outcome in outcomes):
            continue
        if any(outcome is None for outcome in outcomes):
            for clause, outcome in zip(row.condition, outcomes):
                if outcome is None and clause.name not in TOLD_ONLY_NAMES:
                    slot = SLOT_FOR_NAME.get(clause.name, clause.name)
                    if slot not in result.missing_slots:
                        result.missing_slots.append(slot)
            continue
        # A row for the asked account type beats a 通用 row stating the same item.
        score = (specificity, len(row.condition), row.account_type != ANY_ACCOUNT, row.source_date)
        key = row.item if account_type else f"{row.account_type}:{row.item}"
        if key not in best or score > best[key][0]:
            best[key] = (score, row)
    chosen = [row for _, row in best.values()]
    result.rows = sorted(chosen, key=lambda r: (r.rank, r.id))
    for row in result.rows:
        for other in table.active():
            if other is not row and other.conflict_key == row.conflict_key and other.answer != row.answer:
                result.overruled.append(other)
    return result


def pilot_provinces(table: PolicyTable) -> dict[str, PolicyRow]:
    """Provinces listed as running cross-province 家庭共济, by the newest source that lists them.

    Only rows from the newest dated source count when sources disagree, so that a province dropped by
    a newer page is not kept alive by an older one.
    """
    rows = [row for row in table.active() if row.topic == "cross_province_pilot" and row.region != NATIONWIDE]
    if not rows:
        return {}
    newest = max(row.source_date for row in rows)
    listed: dict[str, PolicyRow] = {}
    for row in rows:
        if row.source_date == newest and row.region_match is not None:
            listed[row.region_match.province_code] = row
    return listed


def rows_by_ids(table: PolicyTable, ids: Iterable[str]) -> list[PolicyRow]:
    wanted = set(ids)
    return [row for row in table.rows if row.id in wanted]
