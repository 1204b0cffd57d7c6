"""The policy table: loading, checking and looking up facts.

The table (data/policy/policy_table.csv) is the only place policy facts live; docs/design.md describes
its columns. Lookup picks, for each fact (`item`) of a topic, the row with the most specific region, then
the most specific condition; rows that state the same fact differently are settled by the written
`resolution` of one of them (policy-check refuses such a conflict without one), never by their dates.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path

from yibao import regions

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_TABLE = PROJECT_DIR / "data" / "policy" / "policy_table.csv"
DEFAULT_SOURCES = PROJECT_DIR / "data" / "policy" / "sources.csv"

COLUMNS = (
    "id",
    "topic",
    "item",
    "rank",
    "account_type",
    "region",
    "condition",
    "answer",
    "source",
    "source_date",
    "as_of",
    "confidence",
    "scope",
    "resolution",
    "valid_until",
    "status",
    "note",
)
# How sure a fact is: the seeds are unofficial web Q&A pages.
SEVERAL_AGREE, ONE_SEED, DISAGREE, OFFICIAL, OPERATOR = "多篇一致", "仅一篇", "说法不一", "官方", "运营方核实"
CONFIDENCES = (SEVERAL_AGREE, ONE_SEED, DISAGREE, OFFICIAL, OPERATOR)
# Facts resting on one page or on pages that disagree: worded as what the sources say, never as a certainty.
THIN = (ONE_SEED, DISAGREE)
SOME_PLACES = "部分地区"
# A row scoped to some places says so in its words.
SOME_PLACES_WORDS = ("有的", "部分", "一些", "各地", "当地", "具体看")
SOURCE_KINDS = ("网络问答", "官方", "运营方")
EXPIRY_WARNING_DAYS = 30
TOPICS = (
    "what_is",
    "account_difference",
    "how_to_bind",
    "how_to_use",
    "activation",
    "limits",
    "effective_time",
    "bind_failed",
    "remote_use",
    "cross_province_pilot",
    "balance_unusable",
    "unbind",
    "contact",
)
ACCOUNT_TYPES = ("亲情账户", "家庭共济")
ANY_ACCOUNT = "通用"
NATIONWIDE = "全国"
STATUSES = ("active", "superseded")
CONDITION_NAMES = (
    "account_type",
    "insured_region",
    "treatment_region",
    "bind_date",
    "insurance_type",
    "family_insurance_type",
    "relation",
    "bind_day",
    "months_since_bind",
    "bind_stage",
    "same_province",
    "both_in_pilot",
    "insured_province",
    "treatment_province",
    "treated_elsewhere",
)
PLACEHOLDERS = (
    "bind_year",
    "bind_month",
    "bind_day",
    "next_month_year",
    "next_month",
    "insured_region",
    "treatment_region",
    "insured_province",
    "treatment_province",
    "pilot_as_of",
)
# Placeholders whose value the assistant computes from a rule (not the user's own words).
COMPUTED_PLACEHOLDERS = ("bind_year", "bind_month", "bind_day", "next_month_year", "next_month", "pilot_as_of")
# Facts that select rows only when the user has told them: never the reason for a follow-up question
# (a family member's insurance type matters when mentioned, but is not worth asking for).
TOLD_ONLY_NAMES = ("family_insurance_type", "bind_stage", "treated_elsewhere")
# Which slot the user must tell us when a condition name is unknown.
SLOT_FOR_NAME = {
    "bind_day": "bind_date",
    "months_since_bind": "bind_date",
    "same_province": "insured_region",
    "both_in_pilot": "insured_region",
    "insured_province": "insured_region",
    "treatment_province": "treatment_region",
}

# Names computed from both places: the one of the two the user has not told yet is asked.
PAIR_NAMES = ("same_province", "both_in_pilot")


def slot_for(name: str, facts: Mapping[str, object]) -> str:
    """The slot to ask for when condition `name` is unknown."""
    if name in PAIR_NAMES and facts.get("insured_region"):
        return "treatment_region"
    return SLOT_FOR_NAME.get(name, name)


_CLAUSE = re.compile(r"^\s*([a-z_]+)\s*(!=|<=|>=|=|<|>)\s*(.+?)\s*$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_MONTH_OR_DATE = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
_ROW_ID = re.compile(r"[a-z]+(?:-[a-z0-9]+)+")
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
            # "insurance_type!=居民医保" reads "unless the user is 居民医保": it holds until they say so.
            return True if self.operator == "!=" else None
        if self.operator in ("=", "!="):
            equal = str(actual) == self.value
            return equal if self.operator == "=" else not equal
        try:
            left, right = float(str(actual)), float(self.value)
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
    as_of: str = ""
    confidence: str = ONE_SEED
    scope: str = NATIONWIDE
    resolution: str = ""
    valid_until: date | None = None

    @property
    def thin(self) -> bool:
        return self.confidence in THIN

    def valid_on(self, day: date | None) -> bool:
        return day is None or self.valid_until is None or day <= self.valid_until

    @property
    def settles(self) -> set[str]:
        """The ids of other rows this row's resolution names."""
        return set(_ROW_ID.findall(self.resolution)) - {self.id}

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
    kind: str = "网络问答"
    url: str = ""


@dataclass
class PolicyTable:
    rows: list[PolicyRow]
    sources: dict[str, Source]
    path: str = str(DEFAULT_TABLE)

    def active(self, today: date | None = None) -> list[PolicyRow]:
        """Rows that may answer: not superseded and, on `today`, not past their valid_until."""
        return [row for row in self.rows if row.status == "active" and row.valid_on(today)]

    @cached_property
    def settled_against(self) -> frozenset[str]:
        """Active rows a conflict's resolution decided against: never answered."""
        return frozenset(row.id for group in self.conflicts() for row in group if row.id not in settling_rows(group))

    def by_id(self, row_id: str) -> PolicyRow | None:
        return next((row for row in self.rows if row.id == row_id), None)

    def conflicts(self) -> list[list[PolicyRow]]:
        """Groups of two or more active rows stating the same fact differently, the settling row first."""
        groups: dict[tuple, list[PolicyRow]] = {}
        for row in self.active():
            groups.setdefault(row.conflict_key, []).append(row)
        return [
            sorted(group, key=lambda r: (r.id not in settling_rows(group), r.line))
            for group in groups.values()
            if len({r.answer for r in group}) > 1
        ]


def settling_rows(group: list[PolicyRow]) -> set[str]:
    """Ids of the rows of a conflict whose resolution names every other row of it."""
    ids = {row.id for row in group}
    return {row.id for row in group if ids - {row.id} <= row.settles}


class PolicyTableError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


def load_sources(path: Path | str = DEFAULT_SOURCES) -> dict[str, Source]:
    with open(path, encoding="utf-8", newline="") as handle:
        return {
            row["source"]: Source(
                row["source"], row["title"], row["date"], row.get("kind") or "网络问答", row.get("url") or ""
            )
            for row in csv.DictReader(handle)
        }


def check_table(
    path: Path | str = DEFAULT_TABLE, sources_path: Path | str = DEFAULT_SOURCES, today: date | None = None
) -> tuple[list[PolicyRow], list[Problem]]:
    """Read and check the table. Returns the rows that could be read and every problem found.
    With `today`, rows past or within 30 days of their valid_until are warned about."""
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
    for source in sources.values():
        if source.kind not in SOURCE_KINDS:
            problem(
                1,
                "source",
                f"来源 {source.source} 的类别应为 {'/'.join(SOURCE_KINDS)}",
                f"source {source.source!r}: kind must be one of {', '.join(SOURCE_KINDS)}",
            )

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        problem(1, "-", "无法读取政策表（需 UTF-8 编码）", f"cannot read the table (UTF-8 expected): {error}")
        return [], problems

    reader = csv.reader(text.splitlines())
    header = next(reader, None)
    if header is None or tuple(column.strip() for column in header) != COLUMNS:
        missing = [c for c in COLUMNS if c not in (header or [])]
        problem(
            1,
            ",".join(missing) or "header",
            f"表头应为：{','.join(COLUMNS)}",
            f"header must be exactly: {','.join(COLUMNS)}",
        )
        return [], problems

    rows: list[PolicyRow] = []
    seen_ids: dict[str, int] = {}
    seen_content: dict[tuple, int] = {}
    for line_number, values in enumerate(reader, start=2):
        if not any(value.strip() for value in values):
            continue
        if len(values) != len(COLUMNS):
            problem(
                line_number,
                "-",
                f"应有 {len(COLUMNS)} 列，实际 {len(values)} 列（检查逗号和引号）",
                f"expected {len(COLUMNS)} columns, found {len(values)} (check commas and quotes)",
            )
            continue
        cells = {column: value.strip() for column, value in zip(COLUMNS, values, strict=True)}
        ok = True
        for column in ("id", "topic", "item", "account_type", "region", "answer", "source", "source_date", "status"):
            if not cells[column]:
                problem(line_number, column, "必填项为空", "required value is empty")
                ok = False
        if cells["id"] in seen_ids:
            problem(
                line_number,
                "id",
                f"编号重复（第 {seen_ids[cells['id']]} 行已用）",
                f"duplicate id (already used on line {seen_ids[cells['id']]})",
            )
            ok = False
        seen_ids.setdefault(cells["id"], line_number)
        if cells["topic"] and cells["topic"] not in TOPICS:
            problem(line_number, "topic", f"未知主题 {cells['topic']}", f"unknown topic {cells['topic']!r}")
            ok = False
        if cells["account_type"] and cells["account_type"] not in (*ACCOUNT_TYPES, ANY_ACCOUNT):
            problem(
                line_number,
                "account_type",
                f"账户类型应为 亲情账户/家庭共济/通用，实际 {cells['account_type']}",
                f"unknown account type {cells['account_type']!r}",
            )
            ok = False
        if cells["region"] and cells["region"] != NATIONWIDE and regions.resolve(cells["region"]) is None:
            problem(
                line_number,
                "region",
                f"地区 {cells['region']} 无法对应到行政区划代码",
                f"region {cells['region']!r} does not resolve to a region code",
            )
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
            problem(
                line_number,
                "source",
                f"来源 {cells['source']} 不在 sources.csv 中",
                f"source {cells['source']!r} is not listed in sources.csv",
            )
            ok = False
        if cells["status"] and cells["status"] not in STATUSES:
            problem(line_number, "status", "状态应为 active 或 superseded", "status must be active or superseded")
            ok = False
        ascii_marks = sorted(set(_ASCII_PUNCTUATION.findall(cells["answer"])))
        if ascii_marks:
            problem(
                line_number,
                "answer",
                f"答案请用全角中文标点（，；：？！（）），不要用 {' '.join(ascii_marks)}",
                f"answers use full-width Chinese punctuation; found {' '.join(ascii_marks)}",
            )
            ok = False
        for placeholder in _PLACEHOLDER.findall(cells["answer"]):
            if placeholder not in PLACEHOLDERS:
                problem(
                    line_number, "answer", f"未知占位符 {{{placeholder}}}", f"unknown placeholder {{{placeholder}}}"
                )
                ok = False
        ok = _check_columns_of_certainty(cells, line_number, problem) and ok
        valid_until = None
        if cells["valid_until"]:
            try:
                valid_until = date.fromisoformat(cells["valid_until"]) if _DATE.match(cells["valid_until"]) else None
            except ValueError:
                valid_until = None
            if valid_until is None:
                problem(
                    line_number,
                    "valid_until",
                    "有效期应为 YYYY-MM-DD 或留空",
                    "valid_until must be YYYY-MM-DD or empty",
                )
                ok = False
            elif today is not None and valid_until < today:
                problem(
                    line_number,
                    "valid_until",
                    f"已过期（{valid_until}），不再作答",
                    f"expired on {valid_until}: never answered",
                    "warning",
                )
            elif today is not None and (valid_until - today).days <= EXPIRY_WARNING_DAYS:
                problem(
                    line_number,
                    "valid_until",
                    f"将于 {valid_until} 过期，请复核",
                    f"expires on {valid_until}: review it",
                    "warning",
                )
        content_key = (
            cells["topic"],
            cells["item"],
            cells["account_type"],
            cells["region"],
            cells["condition"].replace(" ", ""),
            cells["answer"],
        )
        if content_key in seen_content:
            problem(
                line_number,
                "answer",
                f"与第 {seen_content[content_key]} 行完全重复",
                f"duplicates line {seen_content[content_key]}",
            )
            ok = False
        seen_content.setdefault(content_key, line_number)
        if ok and parsed_date is not None:
            rows.append(
                PolicyRow(
                    cells["id"],
                    cells["topic"],
                    cells["item"],
                    rank,
                    cells["account_type"],
                    cells["region"],
                    condition,
                    cells["condition"],
                    cells["answer"],
                    cells["source"],
                    parsed_date,
                    cells["status"],
                    cells["note"],
                    line_number,
                    cells["as_of"],
                    cells["confidence"],
                    cells["scope"],
                    cells["resolution"],
                    valid_until,
                )
            )
    _check_resolutions(rows, problem)
    return rows, problems


def _check_columns_of_certainty(cells: Mapping[str, str], line: int, problem) -> bool:
    """as_of, confidence, scope, resolution and the wording they require. False on an error."""
    ok = True
    answer = cells["answer"]
    if cells["as_of"] and not _MONTH_OR_DATE.match(cells["as_of"]):
        problem(line, "as_of", "截至日期应为 YYYY-MM 或 YYYY-MM-DD", "as_of must be YYYY-MM or YYYY-MM-DD")
        ok = False
    if cells["confidence"] not in CONFIDENCES:
        problem(
            line,
            "confidence",
            f"可信度应为 {'/'.join(CONFIDENCES)}",
            f"confidence must be one of {', '.join(CONFIDENCES)}",
        )
        ok = False
    elif cells["status"] == "active" and cells["confidence"] == DISAGREE and "资料" not in answer:
        problem(
            line,
            "answer",
            "资料说法不一的事实要写成“资料显示……”，不能当作定论",
            "a fact the sources disagree on must be worded as what the sources say (资料…)",
        )
        ok = False
    elif (
        cells["status"] == "active"
        and cells["confidence"] == ONE_SEED
        and "资料" not in answer
        and any(name in COMPUTED_PLACEHOLDERS for name in _PLACEHOLDER.findall(answer))
    ):
        problem(
            line,
            "answer",
            "只有一篇资料的规则，算出来的结论要说明“按资料……”",
            "a result computed from a rule only one source states must say it follows the sources (资料…)",
        )
        ok = False
    scope = cells["scope"]
    if not scope:
        problem(
            line, "scope", "适用范围为空（全国、部分地区或地区名）", "scope is empty (全国, 部分地区 or region names)"
        )
        ok = False
    elif scope == SOME_PLACES:
        if cells["status"] == "active" and not any(word in answer for word in SOME_PLACES_WORDS):
            problem(
                line,
                "answer",
                "适用范围是部分地区，答案要说明“有的地方/各地”",
                "a fact for some places only must say so (有的地方, 各地 …)",
            )
            ok = False
    elif scope != NATIONWIDE:
        for place in re.split(r"[、;]", scope):
            if regions.resolve(place.strip()) is None:
                problem(
                    line, "scope", f"适用范围 {place} 无法对应到地区", f"scope {place!r} does not resolve to a region"
                )
                ok = False
    if cells["status"] == "superseded" and not cells["resolution"]:
        problem(
            line, "resolution", "不采用的行要写明理由（resolution）", "a superseded row needs its written resolution"
        )
        ok = False
    return ok


def _check_resolutions(rows: list[PolicyRow], problem) -> None:
    """A resolution names rows that exist; a conflict between active rows is settled by exactly one of them."""
    ids = {row.id for row in rows}
    for row in rows:
        unknown = sorted(row.settles - ids)
        if unknown:
            problem(
                row.line,
                "resolution",
                f"裁决里提到的行不存在：{'、'.join(unknown)}",
                f"the resolution names rows that do not exist: {', '.join(unknown)}",
            )
    table = PolicyTable(rows, {})
    for group in table.conflicts():
        settling = settling_rows(group)
        names = "、".join(row.id for row in group)
        if len(settling) != 1:
            line = min(row.line for row in group)
            problem(
                line,
                "resolution",
                f"冲突（{names}）要由其中一行的裁决（resolution）写明采用哪一行、为什么，且只能一行",
                f"conflict ({', '.join(r.id for r in group)}) needs exactly one row whose resolution names the others "
                "and says why it answers",
            )


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


def _region_specificity(row: PolicyRow, region: regions.Region | None) -> int | None:
    """2 city, 1 province, 0 nationwide, None when the row is about another place."""
    if row.region == NATIONWIDE:
        return 0
    row_region = row.region_match
    if row_region is None or region is None or not region.is_within(row_region):
        return None
    return 2 if row_region.level == "city" else 1


def lookup(
    table: PolicyTable,
    topic: str,
    account_type: str | None,
    facts: Mapping[str, object],
    region: regions.Region | None,
    today: date | None = None,
) -> Lookup:
    """The rows that answer `topic` for these facts, in answer order."""
    result = Lookup()
    best: dict[str, tuple[tuple, PolicyRow]] = {}
    # Slots an unknown condition would need, by item and the region specificity of its row: a question
    # is only worth asking when no row of a more specific region already answers that item.
    wanted: list[tuple[str, int, str]] = []
    for row in table.active(today):
        if row.topic != topic or row.id in table.settled_against:
            continue
        if account_type and row.account_type not in (account_type, ANY_ACCOUNT):
            continue
        specificity = _region_specificity(row, region)
        if specificity is None:
            continue
        key = row.item if account_type else f"{row.account_type}:{row.item}"
        outcomes = [clause.holds(facts) for clause in row.condition]
        if any(outcome is False for outcome in outcomes):
            continue
        if any(outcome is None for outcome in outcomes):
            wanted.extend(
                (key, specificity, slot_for(clause.name, facts))
                for clause, outcome in zip(row.condition, outcomes, strict=True)
                if outcome is None and clause.name not in TOLD_ONLY_NAMES
            )
            continue
        # A row for the asked account type beats a 通用 row stating the same item.
        score = (specificity, len(row.condition), row.account_type != ANY_ACCOUNT)
        if key not in best or score > best[key][0]:
            best[key] = (score, row)
    for key, specificity, slot in wanted:
        settled = key in best and best[key][0][0] > specificity
        if not settled and slot not in result.missing_slots:
            result.missing_slots.append(slot)
    chosen = [row for _, row in best.values()]
    result.rows = sorted(chosen, key=lambda r: (r.rank, r.id))
    return result


@dataclass(frozen=True)
class PilotListing:
    """A province on the cross-province 家庭共济 pilot lists, with the newest snapshot naming it."""

    province_code: str
    as_of: str  # YYYY-MM or YYYY-MM-DD: the "截至" date of that list, or its page's month
    row: PolicyRow


def snapshot_date(row: PolicyRow) -> str:
    return row.as_of or row.source_date.isoformat()[:7]


def pilot_provinces(table: PolicyTable, today: date | None = None) -> dict[str, PilotListing]:
    """Provinces any of the dated pilot lists names (the lists are snapshots at different dates: a
    province named by an older list only is still named, with that list's date)."""
    listed: dict[str, PilotListing] = {}
    for row in table.active(today):
        if row.topic != "cross_province_pilot" or row.region == NATIONWIDE or row.region_match is None:
            continue
        code = row.region_match.province_code
        when = snapshot_date(row)
        if code not in listed or when > listed[code].as_of:
            listed[code] = PilotListing(code, when, row)
    return listed


def _months(dates: Iterable[str]) -> list[str]:
    return sorted({d[:7] for d in dates if d})


def _month_words(month: str, year_shown: bool) -> str:
    """'2025年4月', or '4月' when the year was just said."""
    return f"{int(month[:4])}年{int(month[5:7])}月" if year_shown else f"{int(month[5:7])}月"


def month_span(dates: Iterable[str]) -> str:
    """'2025年4月', '2025年2月至4月' or '2024年12月至2025年4月' for ISO dates or months."""
    months = _months(dates)
    if not months:
        return ""
    first, last = months[0], months[-1]
    words = _month_words(first, True)
    if last != first:
        words += "至" + _month_words(last, last[:4] != first[:4])
    return words


def months_listed(dates: Iterable[str]) -> str:
    """'2025年4月' or '2025年2月、4月': each snapshot's month, for "截至…的资料"."""
    months = _months(dates)
    return "、".join(
        _month_words(month, index == 0 or months[index - 1][:4] != month[:4]) for index, month in enumerate(months)
    )


def rows_by_ids(table: PolicyTable, ids: Iterable[str]) -> list[PolicyRow]:
    """The rows with these ids, in the order of `ids` (unknown ids are left out)."""
    found = (table.by_id(row_id) for row_id in ids)
    return [row for row in found if row is not None]
