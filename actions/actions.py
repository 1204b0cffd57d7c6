"""Rasa actions: translate between the tracker and the plain functions in `yibao`."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any, Dict, List, Text
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ConversationPaused, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from yibao import dialogue
from yibao import handoff as live
from yibao.table_store import TableStore
from yibao.texts import load_texts

# Dates people say ("今天", "16号") mean the calendar in China.
CHINA = ZoneInfo("Asia/Shanghai")
TABLE = TableStore()
SLOT_NAMES = ("topic", "account_type", "insured_region", "treatment_region", "bind_date", "insurance_type",
              "family_insurance_type", "bind_stage", "relation", "last_rows", "more_rows", "asked_slot")


def conversation_date(tracker: Tracker) -> date:
    """The day of the user's latest message, in China."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and event.get("timestamp"):
            return datetime.fromtimestamp(float(event["timestamp"]), CHINA).date()
    return datetime.now(CHINA).date()


def message_time(tracker: Tracker) -> datetime:
    """When the user's latest message was written (opening hours are judged at that moment)."""
    for event in reversed(tracker.events):
        if event.get("event") == "user" and event.get("timestamp"):
            return datetime.fromtimestamp(float(event["timestamp"]), CHINA)
    return datetime.now(CHINA)


def hand_over(turn: dialogue.Turn, tracker: Tracker) -> List[Dict[Text, Any]]:
    """With the live handoff on (data/handoff.yml), a person asked for in opening hours gets one: the
    waiting text and Rasa's pause, so the bot stops answering until an agent hands back. Outside the
    hours the reply says so, with the hours and the centre's number. Off: the turn is left as it is."""
    if not turn.handoff:
        return []
    config = live.load_config()
    if not live.asks_for_person((tracker.latest_message or {}).get("text") or "", config):
        return []  # "遂平县医保中心电话多少": the numbers, as before
    decision = live.decide(message_time(tracker), config)
    texts = load_texts()
    if decision == live.OPEN:
        turn.messages = [dialogue.Message(live.waiting_text(config, texts))]
        return [ConversationPaused()]
    if decision == live.CLOSED and turn.messages:
        first = turn.messages[0]
        turn.messages = [dialogue.Message(live.closed_text(first.text, config, texts), first.buttons)]
    return []


def end_of_turn(events: List[Dict[Text, Any]]) -> List[Dict[Text, Any]]:
    """Every action here ends the bot's turn (an answer, or one question back), as data/rules.yml says:
    naming `action_listen` as the follow-up spares Rasa a second run of its policies for the message."""
    return [*events, FollowupAction("action_listen")]


def current_slots(tracker: Tracker) -> Dict[str, Any]:
    return {name: tracker.get_slot(name) for name in SLOT_NAMES}


def send(dispatcher: CollectingDispatcher, turn: dialogue.Turn) -> None:
    for message in turn.messages:
        if message.buttons:
            dispatcher.utter_message(text=message.text, buttons=message.buttons)
        else:
            dispatcher.utter_message(text=message.text)


def slot_events(updates: Dict[str, Any], slots: Dict[str, Any]) -> List[Dict[Text, Any]]:
    return [SlotSet(name, value) for name, value in updates.items() if name in SLOT_NAMES and slots.get(name) != value]


class ActionAnswer(Action):
    def name(self) -> Text:
        return "action_answer"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        message = tracker.latest_message or {}
        intent = (message.get("intent") or {}).get("name") or "inform"
        slots = current_slots(tracker)
        turn = dialogue.respond(intent, message.get("text") or "", message.get("entities") or [], slots,
                                conversation_date(tracker), TABLE.get(), load_texts(),
                                message.get("intent_ranking") or [])
        paused = hand_over(turn, tracker)
        send(dispatcher, turn)
        return end_of_turn([*slot_events({**turn.slots, "asked_slot": turn.asked}, slots), *paused])


class ActionHandoff(Action):
    def name(self) -> Text:
        return "action_handoff"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        message = tracker.latest_message or {}
        slots = current_slots(tracker)
        turn = dialogue.handoff_or_decline(message.get("text") or "", slots, TABLE.get(), load_texts(),
                                           message.get("entities") or [], conversation_date(tracker),
                                           message.get("intent_ranking") or [])
        paused = hand_over(turn, tracker)
        send(dispatcher, turn)
        changed = slot_events({**turn.slots, "asked_slot": turn.asked}, slots) if turn.slots or turn.asked else []
        return end_of_turn([*changed, *paused])


class ActionFallbackChoices(Action):
    def name(self) -> Text:
        return "action_fallback_choices"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        ranking = (tracker.latest_message or {}).get("intent_ranking") or []
        message = dialogue.fallback_choices(ranking, load_texts())
        dispatcher.utter_message(text=message.text, buttons=message.buttons)
        return end_of_turn([])


class ActionFeedback(Action):
    """Stores whether the last answer helped as a `feedback` slot event with its topic, rows and slots."""

    def name(self) -> Text:
        return "action_feedback"

    def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: Dict[Text, Any]) -> List[Dict[Text, Any]]:
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        slots = current_slots(tracker)
        record = dialogue.feedback_record(intent == "feedback_helpful", slots)
        turn = dialogue.feedback_reply(record, load_texts())
        send(dispatcher, turn)
        return end_of_turn([SlotSet("feedback", record)])
