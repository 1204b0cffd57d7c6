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


_RELATIVE_DAYS = {
    "大前天": -3,
    "前天": -2,
    "前日": -2,
    "昨天": -1,
    "昨日": -1,
    "昨儿": -1,
    "今天": 0,
    "今日": 0,
    "今儿": 0,
    "刚刚": 0,
    "刚才": 0,
}
_FULL = re.compile(r"(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*[日号號]?")
_MONTH_DAY = re.compile(r"(?<!\d)(\d{1,2})\s*(?:月份?|[./-])\s*(\d{1,2})\s*[日号號]?(?!\d)")
_RELATIVE_MONTH_DAY = re.compile(r"(上上个?月|上个?月|这个?月|本月|当月)\s*(\d{1,2})\s*[日号號]?")
_DAY = re.compile(r"(?<![\d.月])(\d{1,2})\s*[日号號](?!\d)")
# 月底 / 上个月初 / 这个月中旬: a part of a month. 月底 is the month's last day, 月初 its 1st, 月中 its 15th.
_MONTH_PART = re.compile(
    r"(?:(上上个?月|上个?月|这个?月|本月|当月)|(?<!\d)(\d{1,2})\s*月份?)?\s*(?(1)|(?(2)|月))(底|末|初|中旬|上旬|下旬|中)"
)
_PART_DAY = {"初": 1, "上旬": 5, "中": 15, "中旬": 15, "下旬": 25, "底": 31, "末": 31}
# 上周三 / 上礼拜五 / 这周一 / 星期二: a weekday of last week or of this week.
_WEEKDAY = re.compile(r"(上上个?|上个?|这个?|本)?\s*(周|星期|礼拜)\s*([一二三四五六日天1-7])")
_WEEKDAY_INDEX = {
    "一": 0,
    "二": 1,
    "三": 2,
    "四": 3,
    "五": 4,
    "六": 5,
    "日": 6,
    "天": 6,
    "1": 0,
    "2": 1,
    "3": 2,
    "4": 3,
    "5": 4,
    "6": 5,
    "7": 6,
}


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


_QUANTITY_AFTER = re.compile(r"^\s*(?:天|元|块|万|倍|个|岁|年|斤|%|公里|小时|分钟|折)")


def _not_a_date(match: re.Match, text: str) -> bool:
    """0.5天 / 1.5万: a number with a dot, not a month and a day."""
    if "月" in match.group(0):
        return False
    return int(match.group(1)) == 0 or bool(_QUANTITY_AFTER.match(text[match.end() :]))


def _last_day(year: int, month: int) -> int:
    next_year, following = _shift_month(year, month, 1)
    return (date(next_year, following, 1) - timedelta(days=1)).day


def _month_part(match: re.Match, today: date) -> FoundDate:
    """月底 / 上个月初: without a month word, the most recent such part that has begun."""
    word, number, part = match.group(1), match.group(2), match.group(3)
    wanted = _PART_DAY[part]
    if number:
        month = int(number)
        if not 1 <= month <= 12:
            raise DateProblem("impossible", match.group(0))
        year = (
            today.year
            if (month, min(wanted, 28)) <= (today.month, today.day) or month < today.month
            else today.year - 1
        )
        found = date(year, month, min(wanted, _last_day(year, month)))
        return FoundDate(min(found, today), match.group(0))
    if word:
        delta = {"上上个月": -2, "上上月": -2, "上个月": -1, "上月": -1}.get(word, 0)
        year, month = _shift_month(today.year, today.month, delta)
    else:
        start_day = 25 if wanted == 31 else wanted
        year, month = (today.year, today.month) if today.day >= start_day else _shift_month(today.year, today.month, -1)
    day = min(wanted, _last_day(year, month))
    found = date(year, month, day)
    if found > today:
        if (year, month) != (today.year, today.month) or today.day < (25 if wanted == 31 else wanted):
            raise DateProblem("future", match.group(0))
        found = today  # 这个月底, said on the 28th: it cannot be later than today
    return FoundDate(found, match.group(0))


def _weekday(match: re.Match, today: date) -> FoundDate:
    week_word, weekday = match.group(1) or "", _WEEKDAY_INDEX[match.group(3)]
    weeks_back = 2 if week_word.startswith("上上") else 1 if week_word.startswith("上") else 0
    monday = today - timedelta(days=today.weekday()) - timedelta(weeks=weeks_back)
    found = monday + timedelta(days=weekday)
    if found > today:
        if week_word:
            raise DateProblem("future", match.group(0))
        found -= timedelta(weeks=1)  # a bare 周五 said on a Tuesday means last Friday
    return FoundDate(found, match.group(0))


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
    if match and not _not_a_date(match, normalised):
        month, day = int(match.group(1)), int(match.group(2))
        return FoundDate(_latest_past(month, day, today, match.group(0)), match.group(0))

    match = _MONTH_PART.search(normalised)
    if match:
        return _month_part(match, today)

    match = _WEEKDAY.search(normalised)
    if match:
        return _weekday(match, today)

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
