"""Property-based tests (hypothesis) of the pure parsing functions: dates, regions, Chinese numerals and
the channels' input cleaning. Stronger than the smoke properties in test_dates.py / test_policy.py:
generated valid inputs must round-trip, and arbitrary text may only raise the documented exception."""
from __future__ import annotations

import unicodedata
from datetime import date, timedelta

import cn2an
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from yibao import dates, regions
from yibao.dates import DateProblem, find_bind_date

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TODAYS = st.dates(min_value=date(2001, 1, 1), max_value=date(2098, 12, 31))
PAST_AND_FUTURE = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
_DIGIT_CN = dict(zip("0123456789", "〇一二三四五六七八九"))
# Context words with no digit, no Chinese numeral and no date word.
CONTEXTS = ["{}", "我是{}绑的", "{}绑定的家庭共济", "亲情账户{}绑上的，咋还用不了", "我妈{}开通的"]


def chinese_year(year: int) -> str:
    return "".join(_DIGIT_CN[digit] for digit in str(year))


def chinese_number(value: int) -> str:
    return cn2an.an2cn(value)


@st.composite
def full_date_text(draw):
    """A date with its year, written as people do: 2025年3月2日, 2025-03-02, 二〇二五年三月二号 ..."""
    when = draw(PAST_AND_FUTURE)
    y, m, d = when.year, when.month, when.day
    pad = draw(st.booleans())
    mm, dd = (f"{m:02d}", f"{d:02d}") if pad else (str(m), str(d))
    suffix = draw(st.sampled_from(["日", "号", ""]))
    form = draw(st.sampled_from([
        f"{y}年{mm}月{dd}{suffix or '日'}",
        f"{y}-{mm}-{dd}",
        f"{y}.{mm}.{dd}",
        f"{y}/{mm}/{dd}",
        f"{y} 年 {mm} 月 {dd} {suffix or '号'}",
        f"{chinese_year(y)}年{chinese_number(m)}月{chinese_number(d)}{suffix or '日'}",
        f"{y}年{chinese_number(m)}月{chinese_number(d)}号",
    ]))
    return when, draw(st.sampled_from(CONTEXTS)).format(form)


@SETTINGS
@given(full_date_text(), TODAYS)
def test_a_full_date_in_chinese_or_arabic_forms_round_trips(case, today):
    when, text = case
    if when > today:
        with pytest.raises(DateProblem) as problem:
            find_bind_date(text, today)
        assert problem.value.kind == "future"
    else:
        found = find_bind_date(text, today)
        assert found is not None and found.value == when, text


@st.composite
def month_day_text(draw):
    month = draw(st.integers(1, 12))
    day = draw(st.integers(1, 31))
    form = draw(st.sampled_from([
        f"{month}月{day}号", f"{month}月{day}日", f"{month}月份{day}号", f"{month}.{day}号", f"{month}-{day}",
        f"{chinese_number(month)}月{chinese_number(day)}号", f"{chinese_number(month)}月{chinese_number(day)}",
    ]))
    return month, day, draw(st.sampled_from(CONTEXTS)).format(form)


def _exists(year: int, month: int, day: int) -> bool:
    try:
        date(year, month, day)
        return True
    except ValueError:
        return False


@SETTINGS
@given(month_day_text(), TODAYS)
def test_a_month_and_day_mean_the_latest_such_day_not_in_the_future(case, today):
    month, day, text = case
    if not _exists(2024, month, day):  # 2月30号, 4月31日: never a date
        with pytest.raises(DateProblem) as problem:
            find_bind_date(text, today)
        assert problem.value.kind == "impossible"
        return
    found = find_bind_date(text, today).value
    assert (found.month, found.day) == (month, day) and found <= today, text
    # No later occurrence of that day lies between the answer and today.
    later = [date(y, month, day) for y in range(found.year + 1, today.year + 1) if _exists(y, month, day)]
    assert all(candidate > today for candidate in later)


@SETTINGS
@given(st.integers(1, 31), st.sampled_from(["号", "日"]), st.booleans(), TODAYS)
def test_a_bare_day_is_the_latest_such_day_of_the_last_three_months(day, suffix, chinese, today):
    text = f"我{chinese_number(day) if chinese else day}{suffix}绑的"
    try:
        found = find_bind_date(text, today)
    except DateProblem as problem:  # only when no month of the last three has that day
        assert problem.kind == "impossible"
        assert not any(_exists(*_month_back(today, back), day) and date(*_month_back(today, back), day) <= today
                       for back in range(3))
        return
    assert found.value.day == day and found.value <= today
    assert today - found.value < timedelta(days=93)


def _month_back(today: date, back: int) -> tuple:
    index = today.year * 12 + today.month - 1 - back
    return index // 12, index % 12 + 1


@SETTINGS
@given(st.sampled_from(["上个月", "上月", "这个月", "本月", "上上个月"]), st.integers(1, 31), TODAYS)
def test_relative_month_and_day(word, day, today):
    back = {"上个月": 1, "上月": 1, "这个月": 0, "本月": 0, "上上个月": 2}[word]
    year, month = _month_back(today, back)
    text = f"{word}{day}号绑的"
    if not _exists(year, month, day):
        with pytest.raises(DateProblem):
            find_bind_date(text, today)
        return
    expected = date(year, month, day)
    if expected > today:
        with pytest.raises(DateProblem) as problem:
            find_bind_date(text, today)
        assert problem.value.kind == "future"
    else:
        assert find_bind_date(text, today).value == expected


# Text made of the characters dates are written with, plus noise: far more likely to hit the parser's
# corners than arbitrary Unicode.
DATE_ALPHABET = st.sampled_from(list("0123456789〇零一二两三四五六七八九十百千万亿年月日号號份上这本当个前昨今天刚才.-/ 　点半去绑的X"))
DATEISH = st.text(DATE_ALPHABET, max_size=40)


@SETTINGS
@given(st.one_of(DATEISH, st.text(max_size=60)), TODAYS)
def test_any_text_gives_a_past_date_none_or_a_date_problem(text, today):
    try:
        found = find_bind_date(text, today)
    except DateProblem as problem:
        assert problem.kind in ("impossible", "future")
        return
    if found is not None:
        assert found.value <= today
        assert found.text


@SETTINGS
@given(st.integers(min_value=0, max_value=10**12))
def test_chinese_numerals_become_arabic_inside_text(number):
    assert dates._to_arabic(f"第{cn2an.an2cn(number)}个") == f"第{number}个"


# ---------------------------------------------------------------------------------------- regions
NAMES = sorted(name for name in regions.all_names() if len(name) >= 2)
REGION_ALPHABET = st.sampled_from(sorted({ch for name in NAMES for ch in name} | set("在我妈参保能用吗，。 的市省")))
REGIONISH = st.text(REGION_ALPHABET, max_size=40)
# Characters that occur in no region name: safe separators around an inserted name.
SAFE = st.text(st.sampled_from(list("abcxyz0123456789,.!? ")), max_size=8)


@SETTINGS
@given(st.one_of(REGIONISH, st.text(max_size=60)))
def test_find_regions_spans_index_the_text_without_overlaps(text):
    mentions = regions.find_regions(text)
    previous_end = 0
    for mention in mentions:
        assert 0 <= mention.start < mention.end <= len(text)
        assert text[mention.start:mention.end] == mention.text
        assert mention.start >= previous_end  # sorted, no overlap
        previous_end = mention.end
        assert len(mention.text) >= 2
        assert regions.resolve(mention.text) == mention.region


@SETTINGS
@given(SAFE, st.sampled_from(NAMES), SAFE)
def test_an_inserted_region_name_is_found_where_it_was_put(prefix, name, suffix):
    text = f"{prefix}{name}{suffix}"
    mentions = regions.find_regions(text)
    assert [(m.start, m.end, m.region) for m in mentions] == [
        (len(prefix), len(prefix) + len(name), regions.all_names()[name])]


@SETTINGS
@given(st.sampled_from(NAMES), st.sampled_from(["", " ", "  "]), st.sampled_from(["", "那边", "当地", "这里"]))
def test_resolve_accepts_every_known_spelling_with_spaces_and_trailing_words(name, gap, tail):
    expected = regions.all_names()[name]
    assert regions.resolve(name) == expected
    assert regions.resolve(gap.join(name) + tail) == expected


@SETTINGS
@given(st.one_of(REGIONISH, st.text(max_size=40)))
def test_resolve_never_raises_and_returns_a_known_region(text):
    found = regions.resolve(text)
    if found is not None:
        assert found.code.isdigit() and len(found.code) == 6
        assert found.province.level == "province" and found.is_within(found.province)


# ---------------------------------------------------------------------------------------- channel input
@SETTINGS
@given(st.text(max_size=300))
def test_clean_text_removes_control_characters_and_is_idempotent(text):
    from channels.common import clean_text

    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert all(ch == "\n" or unicodedata.category(ch) not in ("Cc", "Cs") for ch in cleaned)
    assert cleaned == cleaned.strip()
    cleaned.encode("utf-8")  # storable and loggable: no lone surrogates


@SETTINGS
@given(st.text(max_size=2500))
def test_prepare_text_sends_rasa_only_short_non_empty_text(text):
    from channels.common import MAX_TEXT_CHARS, prepare_text
    from yibao.texts import load_texts

    texts = load_texts()
    too_long = texts["channel_too_long"].format(max_chars=MAX_TEXT_CHARS)
    for_rasa, reply = prepare_text(text)
    if reply is None:
        assert for_rasa and len(for_rasa) <= MAX_TEXT_CHARS
    else:
        assert for_rasa == "" and reply in (texts["channel_empty_text"], too_long)


@st.composite
def id_number_with_invisible_characters(draw):
    born = draw(st.dates(min_value=date(1920, 1, 1), max_value=date(2020, 12, 31)))
    number = (draw(st.from_regex(r"[1-6][0-9]{5}", fullmatch=True)) + born.strftime("%Y%m%d")
              + draw(st.from_regex(r"[0-9]{3}[0-9X]", fullmatch=True)))
    invisible = st.sampled_from(["\x00", "\x1b", "\x7f", "\u200b", "\u200d", "\u202e", "\u2060", "\ufeff", "\u00ad"])
    pieces = []
    for ch in number:
        pieces.append(ch)
        if draw(st.integers(0, 3)) == 0:
            pieces.append(draw(invisible))
    return number, "我身份证号" + "".join(pieces) + "绑不上"


@SETTINGS
@given(id_number_with_invisible_characters())
def test_a_number_split_by_invisible_characters_is_still_masked(case):
    from channels.common import clean_text

    number, text = case
    cleaned = clean_text(text)
    assert number not in cleaned and number[:-1] not in cleaned
    assert "[身份证号]" in cleaned
