"""Answer text from policy rows: the facts, then where they come from and where to confirm.

Fixed wording (footers, notes) comes from the domain's responses, passed in as `texts`.
"""
from __future__ import annotations

from typing import Mapping

from yibao.policy import PolicyRow, PolicyTable

HOTLINE = "12393"


class _KeepUnknown(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def fill(template: str, values: Mapping[str, object]) -> str:
    """Fill {placeholders} present in `values`; leave the others visible rather than crash."""
    return template.format_map(_KeepUnknown({k: v for k, v in values.items() if v is not None}))


def source_line(rows: list[PolicyRow], table: PolicyTable, texts: Mapping[str, str]) -> str:
    seen: list[str] = []
    for row in rows:
        source = table.sources.get(row.source)
        title = source.title if source else row.source
        label = fill(texts["source_item"], {"title": title, "date": row.source_date.isoformat()})
        if label not in seen:
            seen.append(label)
    return fill(texts["source_line"], {"sources": "；".join(seen)})


def compose_answer(rows: list[PolicyRow], overruled: list[PolicyRow], values: Mapping[str, object],
                   table: PolicyTable, texts: Mapping[str, str], intro: str | None = None) -> str:
    """The whole answer: optional intro, numbered facts, conflict note, sources, where to confirm.
    The national hotline is named once: a reply whose intro or facts already give 12393 confirms
    without it, and a fact that only repeats the intro's hotline is left out."""
    if intro and HOTLINE in intro:
        rows = [row for row in rows if HOTLINE not in row.answer] or rows
    facts = [fill(row.answer, values) for row in rows]
    parts: list[str] = []
    if intro:
        parts.append(intro)
    if len(facts) == 1:
        parts.append(facts[0])
    else:
        parts.append("\n".join(f"{number}. {fact}" for number, fact in enumerate(facts, start=1)))
    if overruled:
        newest = max(row.source_date for row in rows).isoformat()
        older = sorted({row.source_date.isoformat() for row in overruled})
        parts.append(fill(texts["conflict_note"], {"date": newest, "older": "、".join(older)}))
    parts.append(source_line(rows, table, texts))
    named = any(HOTLINE in part for part in parts)
    parts.append(texts["confirm_line_local"] if named else texts["confirm_line"])
    return "\n\n".join(parts)
