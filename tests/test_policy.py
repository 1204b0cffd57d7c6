from pathlib import Path

import pytest
from hypothesis import given, strategies as st

from yibao import regions
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


def test_conflicting_rows_answer_with_the_newest_and_report_the_older(small_table):
    result = lookup(small_table, "account_difference", None, {}, None)
    assert ids(result) == ["t-diff-b"]
    assert [row.id for row in result.overruled] == ["t-diff-a"]
    assert [[row.id for row in group] for group in small_table.conflicts()] == [["t-diff-b", "t-diff-a"]]


def test_superseded_rows_are_never_answered(small_table):
    assert ids(lookup(small_table, "what_is", "亲情账户", {}, None)) == ["t-what-new"]


def test_pilot_list_comes_from_the_newest_source(small_table):
    assert {regions.region_by_code(code).short for code in pilot_provinces(small_table)} == {"江苏", "河南"}


def test_condition_grammar():
    clauses = parse_condition("bind_day>=15; insurance_type=居民医保")
    assert [(c.name, c.operator, c.value) for c in clauses] == [("bind_day", ">=", "15"), ("insurance_type", "=", "居民医保")]
    for bad in ("bind_day>=abc", "colour=red", "bind_day", "=x"):
        with pytest.raises(ValueError):
            parse_condition(bad)


def write_table(tmp_path, rows):
    header = "id,topic,item,rank,account_type,region,condition,answer,source,source_date,status,note\n"
    path = tmp_path / "table.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
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


@given(st.text(max_size=30))
def test_region_resolution_never_crashes(text):
    found = regions.resolve(text)
    assert found is None or found.code.isdigit()
    for mention in regions.find_regions(text):
        assert text[mention.start:mention.end] == mention.text
