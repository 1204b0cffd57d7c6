from datetime import date

import pytest

from yibao.dates import DateProblem, find_bind_date, next_month

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize("text, expected", [
    ("我是10月16号绑的", date(2026, 10, 16)),
    ("十月十六号", date(2026, 10, 16)),
    ("我16号绑的亲情账户咋还用不了", date(2026, 11, 16)),
    ("25号", date(2026, 10, 25)),  # the 25th of this month is still to come
    ("12月20日绑定的", date(2025, 12, 20)),
    ("今天", TODAY), ("昨天", date(2026, 11, 22)), ("前天绑的", date(2026, 11, 21)),
    ("上个月20号", date(2026, 10, 20)), ("上月3号", date(2026, 10, 3)),
    ("2025年3月2日", date(2025, 3, 2)), ("二〇二五年三月二日", date(2025, 3, 2)),
    ("3.5号", date(2026, 3, 5)), ("2月29号", date(2024, 2, 29)),
])
def test_binding_dates_resolve_against_the_conversation_date(text, expected):
    assert find_bind_date(text, TODAY).value == expected


@pytest.mark.parametrize("text", ["2月30号", "13月2号", "4月31日", "32号"])
def test_impossible_dates_are_reported(text):
    with pytest.raises(DateProblem) as problem:
        find_bind_date(text, TODAY)
    assert problem.value.kind == "impossible"


def test_future_full_date_is_reported():
    with pytest.raises(DateProblem) as problem:
        find_bind_date("2027年1月1日", TODAY)
    assert problem.value.kind == "future"


@pytest.mark.parametrize("text", ["亲情账户多久生效", "我有两个孩子", "拨打12393", ""])
def test_text_without_a_date_gives_none(text):
    assert find_bind_date(text, TODAY) is None


def test_december_rolls_over_to_january():
    assert next_month(2025, 12) == (2026, 1)
    assert next_month(2026, 10) == (2026, 11)


