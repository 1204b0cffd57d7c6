"""Binding dates as people write them (16号, 十月十六, 上个月20号, 昨天) -> calendar dates.

Relative words are resolved against the conversation's date; a month and day without a year mean
the most recent such day that is not in the future (people tell us when they already bound).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

import cn2an


class DateProblem(ValueError):
    """A date expression that cannot be a binding date. `kind` is impossible | future | unparsed."""

    def __init__(self, kind: str, text: str) -> None:
        super().__init__(f"{kind}: {text}")
        self.kind = kind
        self.text = text


_RELATIVE_DAYS = {"大前天": -3, "前天": -2, "前日": -2, "昨天": -1, "昨日": -1, "昨儿": -1, "今天": 0,
                  "今日": 0, "今儿": 0, "刚刚": 0, "刚才": 0}
_FULL = re.compile(r"(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*[日号號]?")
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})\s*(?:月份?|[./-])\s*(\d{1,2})\s*[日号號]?(?!\d)")
_RELATIVE_MONTH_DAY = re.compile(r"(上上个?月|上个?月|这个?月|本月|当月)\s*(\d{1,2})\s*[日号號]?")
_DAY = re.compile(r"(?<![\d.月])(\d{1,2})\s*[日号號](?!\d)")


@dataclass(frozen=True)
class FoundDate:
    value: date
    text: str


def _to_arabic(text: str) -> str:
    try:
        return cn2an.transform(text, "cn2an")
    except (ValueError, KeyError, IndexError):
        # cn2an refuses some mixed strings; the Arabic digits already present still parse.
        return text


def _build(year: int, month: int, day: int, text: str) -> date:
    try:
        return date(year, month, day)
    except ValueError as error:
        raise DateProblem("impossible", text) from error


def _shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1


def _latest_past(month: int, day: int, today: date, text: str) -> date:
    if not 1 <= month <= 12:
        raise DateProblem("impossible", text)
    # Check the day against a leap year first so that 2月29号 is judged possible in principle.
    _build(2024, month, day, text)
    for year in (today.year, today.year - 1, today.year - 2, today.year - 3, today.year - 4):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= today:
            return candidate
    raise DateProblem("impossible", text)


def find_bind_date(text: str, today: date) -> FoundDate | None:
    """The first binding date in `text`, or None when it names none. Raises DateProblem when it names
    a date that cannot exist (2月30号) or lies in the future."""
    if not text:
        return None
    for word, offset in _RELATIVE_DAYS.items():
        if word in text:
            return FoundDate(today + timedelta(days=offset), word)

    normalised = _to_arabic(text)
    match = _FULL.search(normalised)
    if match:
        year, month, day = (int(group) for group in match.groups())
        found = _build(year, month, day, match.group(0))
        if found > today:
            raise DateProblem("future", match.group(0))
        return FoundDate(found, match.group(0))

    match = _RELATIVE_MONTH_DAY.search(normalised)
    if match:
        word, day = match.group(1), int(match.group(2))
        delta = {"上上个月": -2, "上上月": -2, "上个月": -1, "上月": -1}.get(word, 0)
        year, month = _shift_month(today.year, today.month, delta)
        found = _build(year, month, day, match.group(0))
        if found > today:
            raise DateProblem("future", match.group(0))
        return FoundDate(found, match.group(0))

    match = _MONTH_DAY.search(normalised)
    if match:
        month, day = int(match.group(1)), int(match.group(2))
        return FoundDate(_latest_past(month, day, today, match.group(0)), match.group(0))

    match = _DAY.search(normalised)
    if match:
        day = int(match.group(1))
        if not 1 <= day <= 31:
            raise DateProblem("impossible", match.group(0))
        for delta in (0, -1, -2):
            year, month = _shift_month(today.year, today.month, delta)
            try:
                candidate = date(year, month, day)
            except ValueError:
                continue
            if candidate <= today:
                return FoundDate(candidate, match.group(0))
        raise DateProblem("impossible", match.group(0))
    return None


def next_month(year: int, month: int) -> tuple[int, int]:
    return _shift_month(year, month, 1)
