"""What the assistant says next, from the intent, the message and the slots. No Rasa here.

A follow-up question is asked only when the policy table has rows whose condition needs a slot we do
not know yet (so the answer would change with it), or when the topic's rows differ by account type.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from yibao import dates, entities, regions, state, understanding
from yibao.compose import answer_order, compose_page, fill, told_names
from yibao.normalize import normalize
from yibao.policy import (
    ACCOUNT_TYPES,
    PolicyRow,
    PolicyTable,
    lookup,
    months_listed,
    pilot_provinces,
    rows_by_ids,
    snapshot_date,
)

# Which table topics answer each question intent, in answer order.
INTENT_TOPICS: dict[str, tuple[str, ...]] = {
    "bind_failed": ("bind_failed",),
    "effective_time": ("effective_time",),
    "remote_use": ("remote_use",),
    "balance_unusable": ("balance_unusable",),
    "how_to_use": ("how_to_bind", "activation", "how_to_use", "limits"),
    "unbind": ("unbind",),
    "account_difference": ("account_difference", "what_is"),
}
# "什么是家庭共济" (account_difference naming one feature) is answered by that feature's own rows.
WHAT_IS_TOPICS = ("what_is",)
# Questions about both features at once: never ask which one.
BOTH_TYPES_INTENTS = {"account_difference"}
# "有余额不能用" is about the user's own personal account whichever feature is involved: answer with
# the rows of both types instead of asking which one.
ALL_TYPES_INTENTS = {"balance_unusable"}
ASK_ORDER = ("account_type", "insured_region", "treatment_region", "bind_date", "insurance_type", "relation")
SLOT_BUTTONS = {
    "account_type": ACCOUNT_TYPES,
    "insurance_type": ("职工医保", "居民医保", "灵活就业"),
}
UNKNOWN_STAGE = "不清楚"
# Rows of the facts a message asks about in its own words, said first (more would bury the user's case).
MAX_ASKED_ROWS = 2
# Slots not worth a follow-up question for a topic: how to open 家庭共济 does not depend on asking
# which insurance the user has (a 居民医保 user who says so gets the row about it).
NOT_ASKED = {"how_to_use": {"insurance_type"}}


@dataclass
class Message:
    text: str
    buttons: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Turn:
    """The assistant's reply to one message: one message (an answer with the buttons that belong to it)."""

    messages: list[Message] = field(default_factory=list)
    slots: dict[str, Any] = field(default_factory=dict)
    rows: list[str] = field(default_factory=list)
    asked: str | None = None
    more: list[str] = field(default_factory=list)
    # A person was asked for: with the live handoff on, the action hands over (yibao/handoff.py).
    handoff: bool = False


def inform_payload(slot: str, value: str) -> str:
    return "/inform" + json.dumps({slot: value}, ensure_ascii=False)


def buttons_for(slot: str) -> list[dict[str, str]]:
    return [{"title": value, "payload": inform_payload(slot, value)} for value in SLOT_BUTTONS.get(slot, ())]


def feedback_buttons(texts: Mapping[str, str]) -> list[dict[str, str]]:
    return [
        {"title": texts["feedback_yes"], "payload": "/feedback_helpful"},
        {"title": texts["feedback_no"], "payload": "/feedback_unhelpful"},
    ]


def answer_buttons(texts: Mapping[str, str], topic: str | None, more: bool) -> list[dict[str, str]]:
    """Under an answer: "还有其他原因" when rows are left, then 有帮助 / 没帮助."""
    label = texts.get(f"more_label_{topic}") or texts["more_label"]
    return ([{"title": label, "payload": f"/{state.MORE}"}] if more else []) + feedback_buttons(texts)


def topic_buttons(texts: Mapping[str, str], intents: Iterable[str]) -> list[dict[str, str]]:
    return [{"title": texts[f"label_{intent}"], "payload": f"/{intent}"} for intent in intents]


def one_message(messages: list[Message]) -> Message:
    """Several things to say in one turn become one message carrying the last one's buttons."""
    return Message(
        "\n".join(m.text for m in messages if m.text), next((m.buttons for m in reversed(messages) if m.buttons), [])
    )


def facts_from(
    slots: Mapping[str, Any], table: PolicyTable, today: date | None = None, texts: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Slot values plus the values conditions and placeholders compute from them."""
    facts: dict[str, Any] = {k: v for k, v in slots.items() if isinstance(v, str) and v}
    facts.setdefault("bind_stage", UNKNOWN_STAGE)
    if slots.get("bind_date"):
        bound = date.fromisoformat(slots["bind_date"])
        next_year, next_month = dates.next_month(bound.year, bound.month)
        facts.update(
            bind_day=bound.day,
            bind_month=bound.month,
            bind_year=bound.year,
            next_month=next_month,
            next_month_year=next_year,
        )
        if today is not None:
            facts["months_since_bind"] = (today.year - bound.year) * 12 + today.month - bound.month
    insured = regions.resolve(slots.get("insured_region") or "")
    treatment = regions.resolve(slots.get("treatment_region") or "")
    if insured:
        facts["insured_province"] = insured.province.short
    if treatment:
        facts["treatment_province"] = treatment.province.short
    if insured and treatment:
        facts["same_province"] = "是" if insured.province_code == treatment.province_code else "否"
        pilot = pilot_provinces(table, today)
        listed = [pilot[code] for code in (insured.province_code, treatment.province_code) if code in pilot]
        facts["both_in_pilot"] = "是" if len(listed) == 2 else "否"
        if texts is not None:
            snapshots = [listing.as_of for listing in listed] or [
                snapshot_date(row) for row in table.active(today) if row.topic == "cross_province_pilot"
            ]
            facts["pilot_as_of"] = fill(texts["pilot_as_of"], {"span": months_listed(snapshots)})
        if insured.code != treatment.code:
            facts["treated_elsewhere"] = "是"
    return facts


def _needs_account_type(table: PolicyTable, topics: Iterable[str]) -> bool:
    types = {row.account_type for row in table.active() if row.topic in topics}
    return all(kind in types for kind in ACCOUNT_TYPES)


def _ask(slot: str, texts: Mapping[str, str]) -> Message:
    return Message(texts[f"ask_{slot}"], buttons_for(slot))


def answer_topic(
    topic: str,
    slots: Mapping[str, Any],
    table: PolicyTable,
    texts: Mapping[str, str],
    today: date | None = None,
    lead: tuple[str, str, str] | None = None,
    focus: tuple[str, ...] | None = None,
    elsewhere: bool = False,
    asked_about: Iterable[tuple[str, str]] = (),
) -> Turn:
    """Answer a question intent from the table in one message, asking for the one slot that would
    change it; the user's own case comes first and rows that do not apply are left out."""
    turn = Turn()
    topics = focus or INTENT_TOPICS[topic]
    account_type = slots.get("account_type") if topic not in BOTH_TYPES_INTENTS else None
    if topic in BOTH_TYPES_INTENTS and slots.get("account_type"):
        # "什么是家庭共济": one feature asked about on its own is described on its own.
        topics, account_type = WHAT_IS_TOPICS, slots["account_type"]
    if not account_type and topic not in BOTH_TYPES_INTENTS | ALL_TYPES_INTENTS and _needs_account_type(table, topics):
        turn.messages.append(_ask("account_type", texts))
        turn.asked = "account_type"
        return turn

    facts = facts_from(slots, table, today, texts)
    if elsewhere or topic == "remote_use":
        facts["treated_elsewhere"] = "是"
    place = regions.resolve(slots.get("insured_region") or "") or regions.resolve(slots.get("treatment_region") or "")
    if focus == state.PILOT_LISTS:
        place = None  # "哪些省份能跨省共济" is answered by the whole dated lists, not one province's entry
    rows: list[PolicyRow] = []
    missing: list[str] = []
    lead_ids: list[str] = []
    if lead:
        lead_topic, lead_type, lead_item = lead
        found = lookup(table, lead_topic, lead_type, facts, place, today)
        lead_rows = [row for row in found.rows if row.item == lead_item]
        rows.extend(lead_rows)
        lead_ids = [row.id for row in lead_rows]
    asked_rows, own_topic = _asked_rows(table, asked_about, topics, account_type, facts, place, today)
    # A fact of the question's own topics leads; one of another topic follows the user's own case.
    early_ids = [] if own_topic else [row.id for row in asked_rows]
    for asked_row in asked_rows:
        if asked_row.id not in lead_ids:
            rows.append(asked_row)
            if own_topic:
                lead_ids.append(asked_row.id)
    for table_topic in topics:
        found = lookup(table, table_topic, account_type, facts, place, today)
        rows.extend(row for row in found.rows if row.id not in lead_ids and row.id not in early_ids)
        missing.extend(
            slot
            for slot in found.missing_slots
            if slot not in missing and not slots.get(slot) and slot not in NOT_ASKED.get(topic, ())
        )
    ask = next((slot for slot in ASK_ORDER if slot in missing), None)
    question = _ask(ask, texts) if ask else None
    if rows:
        ordered = answer_order(rows, told_names(slots), lead_ids, early_ids)
        page = compose_page(ordered, facts, table, texts, question=question.text if question else None)
        # A pending question takes the buttons (and a bare "1" on WeChat answers it, not the feedback).
        buttons = question.buttons if question else answer_buttons(texts, topic, bool(page.more))
        turn.messages.append(Message(page.text, buttons))
        turn.rows, turn.more = page.shown, page.more
    elif question:
        turn.messages.append(question)
    else:
        turn.messages.append(Message(texts["no_rows"], topic_buttons(texts, ["human_handoff"])))
    turn.asked = ask
    return turn


def _asked_rows(
    table: PolicyTable,
    asked_about: Iterable[tuple[str, str]],
    topics: Iterable[str],
    account_type: str | None,
    facts: Mapping[str, Any],
    place: regions.Region | None,
    today: date | None,
) -> tuple[list[PolicyRow], bool]:
    """The rows of the facts the message asks about in its own words (住进去三天了 → 入院前绑好): those of
    the topics being answered, else the first such fact of another topic, at most MAX_ASKED_ROWS; and
    whether they are of the question's own topics."""
    asked = list(asked_about)
    own = [pair for pair in asked if pair[0] in topics]
    chosen: list[PolicyRow] = []
    for group in (own, [pair for pair in asked if pair not in own]):
        for topic, item in group:
            chosen.extend(
                row
                for row in lookup(table, topic, account_type, facts, place, today).rows
                if row.item == item and row not in chosen
            )
            if chosen and group is not own:
                break  # one fact of another topic is enough
        if chosen:
            return chosen[:MAX_ASKED_ROWS], group is own
    return [], False


def more_page(
    slots: Mapping[str, Any], table: PolicyTable, texts: Mapping[str, str], today: date | None = None
) -> Turn:
    """The next rows of the last answer ("还有其他原因")."""
    rows = [row for row in rows_by_ids(table, slots.get("more_rows") or []) if row.valid_on(today)]
    if not rows:
        return Turn(
            messages=[Message(texts["no_more"], topic_buttons(texts, ["human_handoff"]))], slots={"more_rows": None}
        )
    facts = facts_from(slots, table, today, texts)
    page = compose_page(rows, facts, table, texts, heading=texts["more_heading"], first_page=False)
    message = Message(page.text, answer_buttons(texts, slots.get("topic"), bool(page.more)))
    return Turn(
        messages=[message],
        rows=page.shown,
        more=page.more,
        slots={"more_rows": page.more or None, "last_rows": page.shown},
    )


def respond(
    intent: str,
    text: str,
    entity_list: list[Mapping[str, Any]],
    slots: Mapping[str, Any],
    today: date,
    table: PolicyTable,
    texts: Mapping[str, str],
    ranking: Iterable[Mapping[str, Any]] = (),
) -> Turn:
    """The reply to a message, with the slot changes it implies (see yibao/state.py)."""
    turn = _respond(intent, text, entity_list, slots, today, table, texts, ranking)
    if len(turn.messages) > 1:
        turn.messages = [one_message(turn.messages)]
    return turn


def _respond(
    intent: str,
    text: str,
    entity_list: list[Mapping[str, Any]],
    slots: Mapping[str, Any],
    today: date,
    table: PolicyTable,
    texts: Mapping[str, str],
    ranking: Iterable[Mapping[str, Any]],
) -> Turn:
    decision = state.decide(intent, text, entity_list, slots, today, ranking)
    found, updates = decision.extraction, decision.updates
    if decision.intent == state.MORE:
        return more_page(slots, table, texts, today)
    cleared = {"asked_slot": None} if slots.get("asked_slot") else {}
    if slots.get("more_rows"):
        cleared["more_rows"] = None
    if decision.intent == state.OUT_OF_SCOPE:
        return Turn(messages=[Message(texts["out_of_scope"])], slots=cleared)
    if decision.intent == state.HANDOFF:
        turn = handoff({**slots, **updates}, table, texts)
        turn.slots = {**cleared, **turn.slots}
        return turn
    if decision.intent == state.FALLBACK:
        return Turn(messages=[fallback_choices(ranking, texts)], slots={**cleared, **updates})
    topic = updates.get("topic") or slots.get("topic")
    merged = {**slots, **updates}
    if topic in BOTH_TYPES_INTENTS:
        # Only a feature named in this very message narrows a comparison to that feature.
        merged["account_type"] = updates.get("account_type")

    problem_messages: list[Message] = []
    if found.date_problem is not None:
        key = "date_future" if found.date_problem.kind == "future" else "date_impossible"
        problem_messages.append(Message(texts[key].format(text=found.date_problem.text)))
    if found.unknown_regions and not any(k in found.slots for k in ("insured_region", "treatment_region")):
        problem_messages.append(Message(texts["region_unknown"].format(text=found.unknown_regions[0])))
    for slot in found.conflicting:
        if slot == "account_type" and topic in BOTH_TYPES_INTENTS:
            continue  # "亲情账户和家庭共济有啥区别" names both on purpose
        slot = "insurance_type" if slot == entities.FAMILY_INSURANCE else slot
        problem_messages.append(Message(texts[f"conflict_{slot}"], buttons_for(slot)))
    if problem_messages:
        asked = "bind_date" if found.date_problem else (found.conflicting[0] if found.conflicting else None)
        return Turn(messages=problem_messages, slots=updates, asked=asked)

    if not topic:
        return Turn(messages=[Message(texts["which_topic"], topic_buttons(texts, INTENT_TOPICS))], slots=updates)

    fresh = decision.intent != state.INFORM
    reading = decision.reading
    turn = answer_topic(
        topic,
        merged,
        table,
        texts,
        today,
        decision.lead if fresh else None,
        decision.focus if fresh else None,
        elsewhere=bool(reading and reading.elsewhere),
        asked_about=reading.asked_about if reading else (),
    )
    turn.slots = {**updates, **turn.slots, "last_rows": turn.rows or None, "more_rows": turn.more or None}
    return turn


def handoff_or_decline(
    text: str,
    slots: Mapping[str, Any],
    table: PolicyTable,
    texts: Mapping[str, str],
    entity_list: list[Mapping[str, Any]] | None = None,
    today: date | None = None,
    ranking: Iterable[Mapping[str, Any]] = (),
) -> Turn:
    """转人工 and phone numbers; a hotline of something else (国航, 10086) is declined instead, and a
    message that asks for no person or number ("一个人能绑几个") is answered as the question it is."""
    reading = understanding.read(normalize(text or ""))
    if reading.outside_scope:
        return Turn(messages=[Message(texts["out_of_scope"])])
    if today is None or (text or "").startswith("/"):
        return handoff(slots, table, texts)
    if not reading.wants_person:
        others = [entry for entry in ranking if entry.get("name") != state.HANDOFF]
        intent = understanding.best_topic(others, INTENT_TOPICS, 0.0) or state.FALLBACK
        return respond(intent, text, list(entity_list or []), slots, today, table, texts, others)
    # "遂平县医保中心电话多少": the place named in the message gives its local numbers.
    places = state.decide(state.HANDOFF, text, list(entity_list or []), slots, today).updates
    told = {slot: places[slot] for slot in ("insured_region", "treatment_region") if places.get(slot)}
    turn = handoff({**slots, **told}, table, texts)
    turn.slots = told
    return turn


def handoff(slots: Mapping[str, Any], table: PolicyTable, texts: Mapping[str, str]) -> Turn:
    """12393 and, when the region is known, the local numbers the table has for it."""
    place = regions.resolve(slots.get("insured_region") or "") or regions.resolve(slots.get("treatment_region") or "")
    found = lookup(table, "contact", None, facts_from(slots, table), place)
    rows = found.rows if place else [row for row in found.rows if row.region == "全国"]
    if not rows:
        return Turn(messages=[Message(texts["handoff_intro"])], handoff=True)
    page = compose_page(
        answer_order(rows, told_names(slots)), {}, table, texts, intro=texts["handoff_intro"], per_page=len(rows)
    )
    return Turn(messages=[Message(page.text)], rows=page.shown, handoff=True)


def fallback_choices(ranking: Iterable[Mapping[str, Any]], texts: Mapping[str, str]) -> Message:
    """The two likeliest question topics as buttons, plus 转人工."""
    likely = [
        entry["name"]
        for entry in sorted(ranking, key=lambda e: -float(e.get("confidence", 0)))
        if entry.get("name") in INTENT_TOPICS
    ][:2]
    return Message(texts["fallback"], topic_buttons(texts, [*likely, "human_handoff"]))


def feedback_record(helpful: bool, slots: Mapping[str, Any]) -> dict[str, Any]:
    """What is stored when a user says an answer helped or not."""
    return {
        "helpful": helpful,
        "topic": slots.get("topic"),
        "rows": list(slots.get("last_rows") or []),
        "slots": {k: v for k, v in slots.items() if k not in ("last_rows", "asked_slot") and v},
    }


def feedback_reply(record: Mapping[str, Any], texts: Mapping[str, str]) -> Turn:
    """Thanks for a 有帮助; for a 没帮助 an apology that offers 转人工."""
    if record["helpful"]:
        return Turn(messages=[Message(texts["feedback_thanks"])])
    return Turn(messages=[Message(texts["feedback_sorry"], topic_buttons(texts, ["human_handoff"]))])
