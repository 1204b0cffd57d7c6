"""Every answer the table can give (quality/lengths.py: each question × account type × the slot values
that change its rows), checked as a 医保 service-centre worker would read it on a phone."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from quality import lengths
from yibao.policy import load_table
from yibao.texts import load_texts

GATES = yaml.safe_load((Path(__file__).parent / "quality_thresholds.yml").read_text(encoding="utf-8"))["answers"]
ASCII_MARKS = re.compile(r"[,;:?!()]")


@pytest.fixture(scope="module")
def table():
    return load_table()


@pytest.fixture(scope="module")
def every_answer(table):
    texts = load_texts()
    return [(case, lengths.answer(case, table, texts)) for case in lengths.cases(table)]


def answered(every_answer):
    return [(case, turn) for case, turn in every_answer if turn.rows]


def test_lengths_stand_at_the_gate(table, every_answer):
    texts = sorted({turn.messages[0].text for _, turn in answered(every_answer)})
    figures = lengths.figures(texts)
    print(f"\n{figures}")
    assert figures["answers"] >= 40  # the enumeration reaches every topic
    assert figures["median_han"] <= GATES["median_han"]
    assert figures["max_han"] <= GATES["max_han"]


def test_every_question_topic_is_played(every_answer):
    played = {(case.topic, case.focus) for case, _ in answered(every_answer)}
    assert {topic for topic, _ in played} >= {"bind_failed", "effective_time", "remote_use", "balance_unusable",
                                              "how_to_use", "unbind", "account_difference"}
    assert ("how_to_use", ("limits",)) in played and ("remote_use", ("cross_province_pilot",)) in played


def test_one_message_full_width_12393_once_and_a_source_line(every_answer):
    texts = load_texts()
    for case, turn in answered(every_answer):
        assert len(turn.messages) == 1, case.label()
        text = turn.messages[0].text
        assert text.count("12393") <= 1, case.label()
        assert not ASCII_MARKS.search(text), (case.label(), ASCII_MARKS.findall(text))
        lines = text.splitlines()
        assert any(line.startswith("来源：") for line in lines), case.label()
        assert any(line in (texts["confirm_thin"], texts["confirm_line"], texts["confirm_thin_local"],
                            texts["confirm_line_local"]) for line in lines), case.label()


def test_at_most_three_facts_under_the_first_sentence_and_the_rest_behind_the_button(every_answer):
    for case, turn in answered(every_answer):
        facts = [line for line in turn.messages[0].text.splitlines() if line.startswith("· ")]
        assert len(facts) <= 3, case.label()
        titles = [button["payload"] for button in turn.messages[0].buttons]
        if turn.asked:
            assert "/feedback_helpful" not in titles, case.label()  # a "1" on WeChat answers the question
        else:
            assert titles[-2:] == ["/feedback_helpful", "/feedback_unhelpful"], case.label()
            assert ("/more_reasons" in titles) == bool(turn.more), case.label()


def test_a_fact_from_one_page_or_disagreeing_pages_is_hedged(table, every_answer):
    texts = load_texts()
    for case, turn in answered(every_answer):
        rows = [table.by_id(row_id) for row_id in turn.rows]
        if any(row.thin for row in rows):
            assert texts["confirm_thin"] in turn.messages[0].text or texts["confirm_thin_local"] in turn.messages[0].text


def test_rows_that_do_not_apply_are_left_out(table, every_answer):
    for case, turn in answered(every_answer):
        slots = dict(case.slots)
        rows = [table.by_id(row_id) for row_id in turn.rows + turn.more]
        if slots.get("account_type"):
            assert all(row.account_type in (slots["account_type"], "通用") for row in rows
                       if row.topic != "what_is"), case.label()
        if slots.get("insurance_type") == "居民医保":
            assert not [row.id for row in rows if "insurance_type!=居民医保" in row.condition_text], case.label()
        if not case.elsewhere and case.topic != "remote_use" and slots.get("treatment_region") in (None, slots.get("insured_region")):
            assert not [row.id for row in rows if "treated_elsewhere" in row.condition_text], case.label()
        if slots.get("bind_stage") == "绑定失败":
            assert turn.asked != "bind_date", case.label()
            assert not [row.id for row in rows if "bind_stage!=绑定失败" in row.condition_text], case.label()


def test_the_first_sentence_is_the_users_own_case_when_the_slots_allow(every_answer):
    for case, turn in answered(every_answer):
        slots = dict(case.slots)
        first = turn.messages[0].text.splitlines()[0]
        if case.topic == "effective_time" and slots.get("account_type") == "亲情账户" and slots.get("bind_date"):
            month, day = (int(part) for part in slots["bind_date"].split("-")[1:])
            assert first.startswith(f"按资料的15号规则（指绑定医保电子凭证），您{month}月{day}日绑定"), (case.label(), first)
        if case.topic == "balance_unusable" and slots.get("insurance_type") == "居民医保":
            assert first.startswith("居民医保（包括新农合）没有个人账户"), (case.label(), first)
        if case.topic == "remote_use" and not case.focus and slots.get("account_type") == "家庭共济" \
                and slots.get("insured_region") and slots.get("treatment_region"):
            assert slots["insured_region"][:2] in first, (case.label(), first)


