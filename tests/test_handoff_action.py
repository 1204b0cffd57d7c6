"""The handoff in the actions: with HANDOFF_ENABLED the action pauses the conversation in opening hours
and says when the agents work outside them; without it, 转人工 answers exactly as before."""

from __future__ import annotations

from datetime import datetime

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet

from actions import actions
from actions.actions import CHINA
from yibao.table_store import TableStore
from yibao.texts import load_texts
from conftest import FIXTURES

TEXTS = load_texts()
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=CHINA).timestamp()
MONDAY_20 = datetime(2026, 11, 23, 20, 0, tzinfo=CHINA).timestamp()
SATURDAY_10 = datetime(2026, 11, 28, 10, 0, tzinfo=CHINA).timestamp()
LISTEN = FollowupAction("action_listen")


@pytest.fixture(autouse=True)
def small_store(monkeypatch):
    monkeypatch.setattr(actions, "TABLE", TableStore(FIXTURES / "policy_small.csv", FIXTURES / "sources_small.csv"))


def tracker(text, intent, stamp, slots=None, before=()):
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": [],
              "intent_ranking": [{"name": intent, "confidence": 0.9}]}
    events = [*before, {"event": "user", "timestamp": stamp, "text": text, "parse_data": latest}]
    return Tracker("user-1", slots or {}, latest, events, False, None, {}, "action_listen")


def run(action, tracker_):
    from rasa_sdk.executor import CollectingDispatcher

    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker_, {})
    return dispatcher.messages, events


def test_off_by_default_the_reply_is_12393_and_nothing_pauses(monkeypatch):
    monkeypatch.delenv("HANDOFF_ENABLED", raising=False)
    messages, events = run(actions.ActionHandoff(), tracker("转人工", "human_handoff", MONDAY_10))
    assert messages[0]["text"] == TEXTS["handoff_intro"]
    assert events == [LISTEN]


def test_in_opening_hours_a_colleague_takes_over(monkeypatch):
    monkeypatch.setenv("HANDOFF_ENABLED", "1")
    messages, events = run(actions.ActionHandoff(), tracker("转人工", "human_handoff", MONDAY_10))
    assert len(messages) == 1 and "约5分钟" in messages[0]["text"] and "12393" not in messages[0]["text"]
    assert events == [ConversationPaused(), LISTEN]


@pytest.mark.parametrize("stamp", [MONDAY_20, SATURDAY_10])
def test_outside_opening_hours_the_user_gets_12393_and_the_hours(monkeypatch, stamp):
    monkeypatch.setenv("HANDOFF_ENABLED", "1")
    messages, events = run(actions.ActionHandoff(), tracker("转人工", "human_handoff", stamp))
    text = messages[0]["text"]
    assert text.startswith(TEXTS["handoff_closed"].split("（")[0]) and "12393" in text and "9:00-12:00" in text
    assert ConversationPaused() not in events


def test_the_handoff_button_after_an_unhelpful_answer_hands_over(monkeypatch):
    monkeypatch.setenv("HANDOFF_ENABLED", "1")
    record = {"helpful": False, "topic": "effective_time", "rows": [], "slots": {}}
    before = [{"event": "user", "timestamp": MONDAY_10 - 60, "text": "没帮助"},
              {"event": "slot", "name": "feedback", "value": record, "timestamp": MONDAY_10 - 59}]
    messages, events = run(actions.ActionHandoff(),
                           tracker("/human_handoff", "human_handoff", MONDAY_10, {"topic": "effective_time"}, before))
    assert "约5分钟" in messages[0]["text"]
    assert ConversationPaused() in events


def test_a_message_that_asks_for_no_person_is_not_handed_over(monkeypatch):
    # The classifier guessed human_handoff, but the text asks a question: no pause, no waiting text.
    monkeypatch.setenv("HANDOFF_ENABLED", "1")
    messages, events = run(actions.ActionHandoff(), tracker("亲情账户多久生效", "human_handoff", MONDAY_10))
    assert "约5分钟" not in messages[0]["text"]
    assert events == [SlotSet("account_type", "亲情账户"), LISTEN]


def test_a_phone_number_asked_for_gets_the_numbers_not_an_agent(monkeypatch):
    monkeypatch.setenv("HANDOFF_ENABLED", "1")
    messages, events = run(actions.ActionHandoff(), tracker("医保中心电话多少", "human_handoff", MONDAY_10))
    assert messages[0]["text"].startswith(TEXTS["handoff_intro"])
    assert ConversationPaused() not in events
