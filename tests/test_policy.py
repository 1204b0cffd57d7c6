from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from yibao import regions
from datetime import date

from yibao.policy import (PolicyTableError, check_table, load_table, lookup, parse_condition,
                          pilot_provinces)

FIXTURES = Path(__file__).parent / "fixtures"


def ids(result):
    return [row.id for row in result.rows]


def test_unknown_bind_day_gives_the_general_rule_and_asks_for_the_date(small_table):
    result = lookup(small_table, "effective_time", "亲情账户", {}, None)
    assert ids(result) == ["t-eff-rule"]
    assert result.missing_slots == ["bind_date"]


@pytest.mark.parametrize("day, row", [(1, "t-eff-early"), (14, "t-eff-early"), (15, "t-eff-late"), (31, "t-eff-late")])
def test_conditions_on_the_bind_day_select_the_row(small_table, day, row):
    assert ids(lookup(small_table, "effective_time", "亲情账户", {"bind_day": day}, None)) == [row]


def test_family_pooling_never_gets_the_15th_rule(small_table):
    assert ids(lookup(small_table, "effective_time", "家庭共济", {"bind_day": 20}, None)) == ["t-eff-gj"]


def test_rows_come_in_rank_order(small_table):
    assert ids(lookup(small_table, "bind_failed", "亲情账户", {}, None)) == ["t-fail-qq-1", "t-fail-qq-2"]


def test_conditional_row_joins_when_its_slot_is_known(small_table):
    unknown = lookup(small_table, "balance_unusable", None, {}, None)
    assert ids(unknown) == ["t-bal-1"] and unknown.missing_slots == ["insurance_type"]
    resident = lookup(small_table, "balance_unusable", None, {"insurance_type": "居民医保"}, None)
    assert ids(resident) == ["t-bal-res", "t-bal-1"]
    employee = lookup(small_table, "balance_unusable", None, {"insurance_type": "职工医保"}, None)
    assert ids(employee) == ["t-bal-1"]


def test_most_specific_region_wins(small_table):
    facts = {"same_province": "否", "both_in_pilot": "否"}
    assert ids(lookup(small_table, "remote_use", "家庭共济", facts, regions.resolve("上海"))) == ["t-remote-sh"]
    assert ids(lookup(small_table, "remote_use", "家庭共济", facts, regions.resolve("杭州"))) == ["t-remote-no"]


def test_rows_for_other_places_are_not_used(small_table):
    hangzhou = lookup(small_table, "contact", None, {}, regions.resolve("杭州"))
    assert ids(hangzhou) == ["t-contact-nat"]
    zhumadian = lookup(small_table, "contact", None, {}, regions.resolve("遂平"))
    assert ids(zhumadian) == ["t-contact-nat", "t-contact-zmd"]


def test_a_conflict_is_answered_by_the_row_whose_resolution_settles_it_not_by_date(tmp_path):
    older_settles = [
        "c-new,account_difference,d,1,通用,全国,,资料显示，新的说法。,001_981962000fe751d3.txt,2025-04-20,,说法不一,全国,,,active,",
        "c-old,account_difference,d,1,通用,全国,,资料显示，旧的说法。,002_a91be65d7797006d.txt,2025-03-12,,说法不一,全国,"
        "答 c-new 与本行：旧页说得对。,,active,",
    ]
    table = load_table(write_table(tmp_path, older_settles, new_format=True), FIXTURES / "sources_small.csv")
    assert ids(lookup(table, "account_difference", None, {}, None)) == ["c-old"]
    assert [[row.id for row in group] for group in table.conflicts()] == [["c-old", "c-new"]]


def test_the_fixture_conflict_is_settled_by_its_resolution(small_table):
    assert ids(lookup(small_table, "account_difference", None, {}, None)) == ["t-diff-b"]


def test_superseded_rows_are_never_answered(small_table):
    assert ids(lookup(small_table, "what_is", "亲情账户", {}, None)) == ["t-what-new"]


def test_pilot_lists_are_dated_snapshots_and_all_count(small_table):
    listed = pilot_provinces(small_table)
    assert {regions.region_by_code(code).short for code in listed} == {"江苏", "河南", "上海"}
    assert listed[regions.resolve("上海").province_code].as_of == "2025-04"  # the page's month: no 截至 date


def test_the_project_table_keeps_inner_mongolia_from_the_february_list():
    listed = pilot_provinces(load_table())
    inner_mongolia = listed[regions.resolve("内蒙古").province_code]
    assert inner_mongolia.as_of == "2025-02-04" and inner_mongolia.row.source.startswith("003")
    assert listed[regions.resolve("河北").province_code].as_of == "2025-04"


def test_an_expired_row_is_never_answered_and_is_warned_about_before(tmp_path):
    rows = ["v1,unbind,online,1,亲情账户,全国,,在APP里解除。,001_981962000fe751d3.txt,2025-04-20,,仅一篇,全国,,2026-01-31,active,"]
    path = write_table(tmp_path, rows, new_format=True)
    table = load_table(path, FIXTURES / "sources_small.csv")
    assert ids(lookup(table, "unbind", "亲情账户", {}, None, date(2026, 1, 31))) == ["v1"]
    assert ids(lookup(table, "unbind", "亲情账户", {}, None, date(2026, 2, 1))) == []
    _, soon = check_table(path, FIXTURES / "sources_small.csv", date(2026, 1, 5))
    _, later = check_table(path, FIXTURES / "sources_small.csv", date(2025, 12, 1))
    _, past = check_table(path, FIXTURES / "sources_small.csv", date(2026, 2, 2))
    assert [(p.column, p.severity) for p in soon] == [("valid_until", "warning")]
    assert later == []
    assert [(p.column, p.severity) for p in past] == [("valid_until", "warning")] and "过期" in past[0].message_zh


@pytest.mark.parametrize("row, column, words", [
    # A conflict nobody settled.
    ("y2,unbind,online,1,亲情账户,全国,,在支付宝里解除。,000_4ef41ffcd167f519.txt,2025-04-19,,仅一篇,全国,,,active,",
     "resolution", "冲突"),
    # Sources disagree, but the answer says it as a certainty.
    ("y2,unbind,other,1,亲情账户,全国,,只能到窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,说法不一,全国,,,active,",
     "answer", "资料"),
    # A date computed from a one-page rule, stated as a certainty.
    ("y2,effective_time,m,1,亲情账户,全国,bind_day<15,{bind_month}月生效。,004_d0e4fa17a3be92e8.txt,2025-03-19,,仅一篇,全国,,,active,",
     "answer", "按资料"),
    # Some places only, but the answer does not say so.
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,仅一篇,部分地区,,,active,",
     "answer", "有的地方"),
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,仅一篇,火星,,,active,",
     "scope", "火星"),
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,大概吧,全国,,,active,",
     "confidence", "可信度"),
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,仅一篇,全国,,,superseded,",
     "resolution", "理由"),
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,仅一篇,全国,由 zz-99 作答。,,active,",
     "resolution", "zz-99"),
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,2025年,仅一篇,全国,,,active,",
     "as_of", "截至"),
    ("y2,unbind,other,1,亲情账户,全国,,可以在窗口解除。,000_4ef41ffcd167f519.txt,2025-04-19,,仅一篇,全国,,下个月,active,",
     "valid_until", "有效期"),
])
def test_the_columns_of_certainty_are_checked(tmp_path, row, column, words):
    first = "y1,unbind,online,1,亲情账户,全国,,在APP里解除。,001_981962000fe751d3.txt,2025-04-20,,仅一篇,全国,,,active,"
    _, problems = check_table(write_table(tmp_path, [first, row], new_format=True), FIXTURES / "sources_small.csv")
    assert [(p.line, p.column) for p in problems] == [(3 if column != "resolution" or "zz" in row or "superseded" in row
                                                       else 2, column)]
    assert words in problems[0].message_zh + problems[0].message_en


def test_condition_grammar():
    clauses = parse_condition("bind_day>=15; insurance_type=居民医保")
    assert [(c.name, c.operator, c.value) for c in clauses] == [("bind_day", ">=", "15"), ("insurance_type", "=", "居民医保")]
    for bad in ("bind_day>=abc", "colour=red", "bind_day", "=x"):
        with pytest.raises(ValueError):
            parse_condition(bad)


HEADER = ("id,topic,item,rank,account_type,region,condition,answer,source,source_date,as_of,confidence,scope,"
          "resolution,valid_until,status,note\n")


def write_table(tmp_path, rows, new_format=False):
    """Rows written in the short form (..., source_date, status, note) get the default certainty columns."""
    if not new_format:
        rows = [",".join(row.split(",")[:10] + ["", "仅一篇", "全国", "", ""] + row.split(",")[10:]) for row in rows]
    path = tmp_path / "table.csv"
    path.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("row, column", [
    ("x1,nonsense,i,1,通用,全国,,答,000_4ef41ffcd167f519.txt,2025-04-19,active,", "topic"),
    ("x1,contact,i,1,支付宝,全国,,答,000_4ef41ffcd167f519.txt,2025-04-19,active,", "account_type"),
    ("x1,contact,i,1,通用,火星,,答,000_4ef41ffcd167f519.txt,2025-04-19,active,", "region"),
    ("x1,contact,i,1,通用,全国,bind_day>>3,答,000_4ef41ffcd167f519.txt,2025-04-19,active,", "condition"),
    ("x1,contact,i,1,通用,全国,,答,000_4ef41ffcd167f519.txt,2025/04/19,active,", "source_date"),
    ("x1,contact,i,1,通用,全国,,答,,2025-04-19,active,", "source"),
    ("x1,contact,i,1,通用,全国,,答,nowhere.txt,2025-04-19,active,", "source"),
    ("x1,contact,i,1,通用,全国,,答{colour},000_4ef41ffcd167f519.txt,2025-04-19,active,", "answer"),
    ("x1,contact,i,one,通用,全国,,答,000_4ef41ffcd167f519.txt,2025-04-19,active,", "rank"),
    ("x1,contact,i,1,通用,全国,,答,000_4ef41ffcd167f519.txt,2025-04-19,maybe,", "status"),
    ("x1,contact,i,1,通用,全国,答,000_4ef41ffcd167f519.txt,2025-04-19,active,", "-"),
])
def test_check_names_file_line_and_column(tmp_path, row, column):
    path = write_table(tmp_path, [row])
    _, problems = check_table(path, FIXTURES / "sources_small.csv")
    assert [(p.file, p.line, p.column) for p in problems] == [("table.csv", 2, column)]
    assert problems[0].message_zh and problems[0].message_en


def test_duplicate_ids_and_rows_are_reported(tmp_path):
    row = "x1,contact,i,1,通用,全国,,答,000_4ef41ffcd167f519.txt,2025-04-19,active,"
    path = write_table(tmp_path, [row, row])
    _, problems = check_table(path, FIXTURES / "sources_small.csv")
    assert {(p.line, p.column) for p in problems} == {(3, "id"), (3, "answer")}


def test_load_refuses_a_bad_table(tmp_path):
    path = write_table(tmp_path, ["x1,contact,i,1,通用,火星,,答,000_4ef41ffcd167f519.txt,2025-04-19,active,"])
    with pytest.raises(PolicyTableError) as error:
        load_table(path, FIXTURES / "sources_small.csv")
    assert "火星" in str(error.value)


@given(st.text(max_size=40))
def test_condition_parser_never_crashes_unexpectedly(text):
    try:
        parse_condition(text)
    except ValueError:
        pass


