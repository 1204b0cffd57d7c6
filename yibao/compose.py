"""Answer text from policy rows, for a phone screen: the user's own case first, a few facts, the next
step once, how sure the sources are and where to confirm, and a short source line. One message.

Fixed wording comes from data/texts.yml, passed in as `texts`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from yibao.policy import NATIONWIDE, OPERATOR, TOLD_ONLY_NAMES, PolicyRow, PolicyTable, month_span

HOTLINE = "12393"
# Supporting facts shown under the first sentence, at most, and the room (in 汉字) the first sentence and
# the facts may take on a phone screen; the rest waits behind "还有其他原因".
FACTS_PER_PAGE = 3
FACTS_ROOM = 100
NEXT_STEP_RANK = 90
SEED_KIND = "网络问答"


_HAN = re.compile(r"[\u4e00-\u9fff]")


def han_length(text: str) -> int:
    """Chinese characters (汉字) in a text: how long an answer reads on a phone."""
    return len(_HAN.findall(text))


class _KeepUnknown(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: Mapping[str, object]) -> str:
    """Fill {placeholders} present in `values`; leave the others visible rather than crash."""
    return template.format_map(_KeepUnknown({k: v for k, v in values.items() if v is not None}))


@dataclass
class Page:
    """One answer message and the rows it leaves for the next "还有其他原因"."""

    text: str
    shown: list[str] = field(default_factory=list)
    more: list[str] = field(default_factory=list)


def about_the_user(row: PolicyRow, told: Iterable[str]) -> bool:
    """A row chosen by something the user told (a matched =, <, >= … condition, or their region)."""
    told = set(told)
    if row.region != NATIONWIDE:
        return True
    return any(
        clause.operator != "!=" and clause.name in told and clause.name not in ("account_type",)
        for clause in row.condition
    )


def answer_order(
    rows: list[PolicyRow], told: Iterable[str], lead: Iterable[str] = (), early: Iterable[str] = ()
) -> list[PolicyRow]:
    """Rows said first (`lead`), then rows about the user's own case, then `early` ones, then the rest in
    the order given (topic by topic, each by rank); the next-step rows (rank >= 90) last."""
    told, lead, early = set(told), list(lead), set(early)
    position = {row.id: index for index, row in enumerate(rows)}
    body = [row for row in rows if row.rank < NEXT_STEP_RANK]
    closing = [row for row in rows if row.rank >= NEXT_STEP_RANK]
    body.sort(
        key=lambda r: (
            r.id not in lead,
            lead.index(r.id) if r.id in lead else 0,
            not about_the_user(r, told),
            r.id not in early,
            position[r.id],
        )
    )
    return body + closing


def source_line(rows: Iterable[PolicyRow], table: PolicyTable, texts: Mapping[str, str]) -> str:
    """来源：网络问答《…》（2025年4月）, or 《…》等3篇（2025年3月至4月）; an operator-kept contact is
    named as such."""
    titles: list[str] = []
    first_kind = SEED_KIND
    seed_dates: list[str] = []
    operator_dates: list[str] = []
    for row in rows:
        source = table.sources.get(row.source)
        if source is not None and (source.kind == "运营方" or row.confidence == OPERATOR):
            operator_dates.append(row.source_date.isoformat())
            continue
        title = source.title if source else row.source
        if not titles and source:
            first_kind = source.kind
        if title not in titles:
            titles.append(title)
        seed_dates.append(row.source_date.isoformat())
    parts = []
    if titles:
        more = fill(texts["source_more"], {"count": len(titles)}) if len(titles) > 1 else ""
        parts.append(f"{first_kind}《{titles[0]}》{more}（{month_span(seed_dates)}）")
    if operator_dates:
        parts.append(fill(texts["source_operator"], {"date": month_span(operator_dates)}))
    return fill(texts["source_line"], {"sources": "；".join(parts)}) if parts else ""


def closing_line(rows: list[PolicyRow], hotline_named: bool, texts: Mapping[str, str]) -> str:
    """How sure the facts are and where to confirm, naming 12393 unless the reply already does."""
    thin = any(row.thin for row in rows)
    key = "confirm_thin" if thin else "confirm_line"
    return texts[key + ("_local" if hotline_named else "")]


def compose_page(
    rows: list[PolicyRow],
    values: Mapping[str, object],
    table: PolicyTable,
    texts: Mapping[str, str],
    *,
    intro: str | None = None,
    heading: str | None = None,
    question: str | None = None,
    per_page: int = FACTS_PER_PAGE,
    first_page: bool = True,
    room: int = FACTS_ROOM,
) -> Page:
    """One message: intro or the first row (the user's own case), up to `per_page` more facts, the next
    step, the closing line, the sources and, last, a follow-up question. Rows that do not fit are
    returned in `more`, in order."""
    body = [row for row in rows if row.rank < NEXT_STEP_RANK]
    closing = [row for row in rows if row.rank >= NEXT_STEP_RANK]
    if intro and HOTLINE in intro:
        body = [row for row in body if HOTLINE not in row.answer]
    shown = body[:1] if first_page and not intro else []
    for row in body[len(shown) :]:
        if len(shown) - (1 if first_page and not intro else 0) >= per_page:
            break
        if shown and han_length("".join(r.answer for r in shown + [row])) > room:
            break
        shown.append(row)
    more = [row for row in body if row not in shown]
    if not more:
        shown += closing
    else:
        # The next step waits for the last page: it says "以上都试过还不行".
        more += closing
    lines: list[str] = []
    if intro:
        lines.append(intro)
    if heading:
        lines.append(heading)
    for index, row in enumerate(shown):
        text = fill(row.answer, values)
        plain = (index == 0 and first_page and not intro) or row.rank >= NEXT_STEP_RANK
        lines.append(text if plain else f"· {text}")
    if shown:
        named = any(HOTLINE in line for line in lines) or bool(question and HOTLINE in question)
        lines.append(closing_line(shown, named, texts))
        source = source_line(shown, table, texts)
        if source:
            lines.append(source)
    if question:
        lines.append(question)
    return Page("\n".join(lines), [row.id for row in shown], [row.id for row in more])


def told_names(slots: Mapping[str, object]) -> set[str]:
    """Condition names whose value the user gave (directly or through a slot it is computed from)."""
    names = {name for name, value in slots.items() if value not in (None, "") and name not in TOLD_ONLY_NAMES}
    if slots.get("bind_date"):
        names |= {"bind_day", "months_since_bind"}
    if slots.get("insured_region") or slots.get("treatment_region"):
        names |= {"same_province", "both_in_pilot", "insured_province", "treatment_province"}
    for name in TOLD_ONLY_NAMES:
        if slots.get(name) not in (None, "", "不清楚"):
            names.add(name)
    return names
