"""The actions as the action server runs them: a tracker in, exact messages and events out."""
from datetime import datetime

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions import actions
from actions.actions import CHINA
from yibao.table_store import TableStore
from conftest import FIXTURES

NOV_23 = datetime(2026, 11, 23, 10, 0, tzinfo=CHINA).timestamp()


@pytest.fixture(autouse=True)
def small_store(monkeypatch):
    monkeypatch.setattr(actions, "TABLE", TableStore(FIXTURES / "policy_small.csv", FIXTURES / "sources_small.csv"))


def tracker(text, intent, entities=(), slots=None, ranking=None):
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": list(entities),
              "intent_ranking": ranking or [{"name": intent, "confidence": 0.9}]}
    events = [{"event": "user", "timestamp": NOV_23, "text": text, "parse_data": latest}]
    return Tracker("user-1", slots or {}, latest, events, False, None, {}, "action_listen")


# Every action ends the bot's turn and says so (Rasa then skips predicting `action_listen`).
LISTEN = FollowupAction("action_listen")


def run(action, tracker_):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker_, {})
    return dispatcher.messages, events


def test_effective_time_question_sets_slots_and_asks_the_day(texts):
    text = "亲情账户绑定后多久生效"
    messages, events = run(actions.ActionAnswer(), tracker(
        text, "effective_time", [{"entity": "account_type", "value": "亲情账户", "start": 0, "end": 4}]))
    # One message: the rule first, the question last, and no feedback buttons while the question is open.
    assert len(messages) == 1
    lines = messages[0]["text"].split("\n")
    assert (lines[0], lines[-1]) == ("每月15号前绑定当月生效，否则次月生效。", texts["ask_bind_date"])
    assert not messages[0].get("buttons")
    assert events == [SlotSet("account_type", "亲情账户"), SlotSet("topic", "effective_time"),
                      SlotSet("last_rows", ["t-eff-rule"]), SlotSet("asked_slot", "bind_date"), LISTEN]


def test_bind_date_uses_the_conversation_date():
    slots = {"topic": "effective_time", "account_type": "亲情账户", "asked_slot": "bind_date"}
    messages, events = run(actions.ActionAnswer(), tracker("我是昨天绑的", "inform", [], slots))
    assert messages[0]["text"].startswith("按资料，您11月22号绑定，2026年12月生效。\n")
    assert events == [SlotSet("bind_date", "2026-11-22"), SlotSet("last_rows", ["t-eff-late"]),
                      SlotSet("asked_slot", None), LISTEN]


def test_bind_failed_without_type_asks_with_buttons(texts):
    messages, events = run(actions.ActionAnswer(), tracker("绑定不了", "bind_failed"))
    assert len(messages) == 1 and messages[0]["text"] == texts["ask_account_type"]
    assert messages[0]["buttons"] == [{"title": "亲情账户", "payload": '/inform{"account_type": "亲情账户"}'},
                                      {"title": "家庭共济", "payload": '/inform{"account_type": "家庭共济"}'}]
    assert events == [SlotSet("topic", "bind_failed"), SlotSet("bind_stage", "绑定失败"),
                      SlotSet("asked_slot", "account_type"), LISTEN]


def test_handoff_uses_the_known_region():
    messages, events = run(actions.ActionHandoff(), tracker("转人工", "human_handoff", slots={"insured_region": "遂平"}))
    assert "12393" in messages[0]["text"] and "0396-2763198" in messages[0]["text"]
    assert events == [LISTEN]


def test_fallback_offers_two_topics_and_a_person(texts):
    ranking = [{"name": "nlu_fallback", "confidence": 0.5}, {"name": "balance_unusable", "confidence": 0.4},
               {"name": "bind_failed", "confidence": 0.35}]
    messages, events = run(actions.ActionFallbackChoices(), tracker("钱咋不能弄", "nlu_fallback", ranking=ranking))
    assert events == [LISTEN]
    assert messages[0]["text"] == texts["fallback"]
    assert [b["payload"] for b in messages[0]["buttons"]] == ["/balance_unusable", "/bind_failed", "/human_handoff"]


def test_feedback_is_stored_with_topic_rows_and_slots(texts):
    slots = {"topic": "effective_time", "last_rows": ["t-eff-late"], "account_type": "亲情账户"}
    messages, events = run(actions.ActionFeedback(), tracker("没帮助", "feedback_unhelpful", slots=slots))
    assert messages[0]["text"] == texts["feedback_sorry"]
    assert messages[0]["buttons"] == [{"title": "转人工", "payload": "/human_handoff"}]
    assert events == [SlotSet("feedback", {"helpful": False, "topic": "effective_time", "rows": ["t-eff-late"],
                                           "slots": {"topic": "effective_time", "account_type": "亲情账户"}}),
                      LISTEN]
