"""The real test sets (tests/real/) are what issue #9 asks for, well-formed, and kept apart from training."""
from __future__ import annotations

import re

import pytest

from quality import sets
from yibao.state import QUESTION_TOPICS

INTENTS = {*QUESTION_TOPICS, "human_handoff", "out_of_scope"}
ENTITY_KEYS = {"insured_region", "treatment_region", "bind_date", "insurance_type", "insurance_of", "relation"}
URL = re.compile(r"^(https?://\S+|seed:\d{3}_[0-9a-f]{16}\.txt)$")


@pytest.fixture(scope="module")
def questions():
    return sets.questions()


@pytest.fixture(scope="module")
def conversations():
    return sets.conversations()


def test_there_are_enough_real_questions_and_near_misses(questions):
    public = [q for q in questions if q.set_name == "public"]
    assert len(questions) >= 300
    assert len(public) >= 150 and all(URL.match(q.source) for q in public)
    assert all(q.source == "written" for q in questions if q.set_name == "chat")
    assert sum(q.intent == "out_of_scope" and q.near_miss for q in questions) >= len(questions) / 3


def test_every_question_is_labelled(questions):
    for question in questions:
        assert question.intent in INTENTS, question
        assert question.account_type in (None, "亲情账户", "家庭共济"), question
        assert set(question.entities) <= ENTITY_KEYS, question
        assert question.must, question
        if question.intent == "out_of_scope":
            assert question.account_type is None, question


def test_there_are_enough_conversations_and_every_turn_says_what_it_needs(conversations):
    assert len(conversations) >= 40
    assert len({c.name for c in conversations}) == len(conversations)
    for conversation in conversations:
        assert len(conversation.turns) >= 2, conversation.name
        for turn in conversation.turns:
            assert turn.user.strip() and turn.must and turn.must_not, (conversation.name, turn)


def test_no_training_example_nearly_duplicates_a_test_item():
    found = sets.near_duplicates(sets.test_texts(), sets.training_texts())
    assert not found, "training examples too close to test items (remove them: python -m quality.dedupe --remove):\n" + \
        "\n".join(f"  {score}  test: {test}  |  training: {train}" for test, train, score in found[:30])


def test_the_similarity_measure_sees_through_spelling_and_punctuation():
    assert sets.similarity("國家醫保綁定親情賬戶失敗？", "国家医保绑定亲情账户失败") == 1.0
    assert sets.similarity("亲情账户绑定后多久生效", "医保亲情账户绑定后多久生效") >= sets.NEAR_DUPLICATE
    assert sets.similarity("亲情账户怎么解绑", "家庭共济多久生效") < sets.NEAR_DUPLICATE
    assert sets.near_duplicates(["亲情账户绑定后多久生效"], ["医保亲情账户绑定后多久生效", "转人工"]) == \
        [("亲情账户绑定后多久生效", "医保亲情账户绑定后多久生效", 0.917)]
