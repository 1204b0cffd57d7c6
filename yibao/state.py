"""Dialogue state: what one message changes in the conversation. No Rasa here.

The classifier's intent is one opinion. The conversation decides the rest:
- the pending question: whatever answers the slot the assistant just asked for fills it, in any words;
- the current topic and feature: kept from earlier turns until the user changes one, whether the feature
  was named, described (让我妈用我的个账) or implied by the assistant's own answer;
- 那X呢: the last question again with the one detail that changed;
- scope: a message about something else that shares our words is declined, never answered as ours.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable, Mapping

from yibao import entities, regions, understanding
from yibao.normalize import normalize

QUESTION_TOPICS = ("bind_failed", "effective_time", "remote_use", "balance_unusable", "how_to_use", "unbind",
                   "account_difference")
OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"
HANDOFF = "human_handoff"
INFORM = "inform"
# A reply this short that fills the pending slot answers it, whatever the classifier made of it.
SHORT_REPLY = 20
# A follow-up (那上海呢) this short re-asks the last question; a longer one may be a new question.
SHORT_FOLLOW_UP = 10
# The classifier's second opinion is used for a described feature only from this confidence on.
RESCUE_FLOOR = 0.15
# What a comparison that names neither feature is about instead.
_OTHER_THINGS = re.compile(r"医保|保险|社保|合作医疗|公积金|卡|账户")
_COMPLAINT = re.compile(r"不能用|用不了|刷不了|扣不了|不让用|用不上|无法使用|付不了|不能刷|没法用|不能付|不能扣|不能花|花不了|显示.{0,4}(不|无)")


@dataclass
class Decision:
    """The question the assistant answers now, and the slot changes the message implies."""
    intent: str  # a QUESTION_TOPICS id, INFORM (answer the current topic again), OUT_OF_SCOPE or FALLBACK
    updates: dict[str, Any] = field(default_factory=dict)
    extraction: entities.Extraction = field(default_factory=entities.Extraction)
    reading: understanding.Reading | None = None
    text: str = ""
    # Rows to say first: (table topic, account type, item), e.g. that a 亲情账户 has no money of its own
    # when someone asks to pay for family with one.
    lead: tuple[str, str, str] | None = None
    # Only these table topics answer (limits asked on their own), instead of all of the intent's.
    focus: tuple[str, ...] | None = None


def _answers_pending(asked: str | None, found: entities.Extraction, reading: understanding.Reading) -> bool:
    if not asked:
        return False
    if asked == "account_type":
        return bool(reading.account_type) or "account_type" in found.slots
    if asked == "bind_date":
        return "bind_date" in found.slots or found.date_problem is not None
    if asked == "insurance_type":
        return "insurance_type" in found.slots or entities.FAMILY_INSURANCE in found.slots
    return asked in found.slots


def _two_provinces(updates: Mapping[str, Any]) -> bool:
    insured = regions.resolve(updates.get("insured_region") or "")
    treatment = regions.resolve(updates.get("treatment_region") or "")
    return bool(insured and treatment and insured.province_code != treatment.province_code)


def decide(intent: str, text: str, entity_list: Iterable[Mapping[str, Any]], slots: Mapping[str, Any],
           today: date, ranking: Iterable[Mapping[str, Any]] = ()) -> Decision:
    """What the message asks, given the conversation so far (`slots`)."""
    normalised = normalize(text or "")
    reading = understanding.read(normalised)
    asked = slots.get("asked_slot")
    found = entities.extract(normalised, list(entity_list or []), today, slots, asked=asked)
    updates: dict[str, Any] = dict(found.slots)
    if "account_type" not in updates and "account_type" not in found.conflicting and reading.described:
        updates["account_type"] = reading.described
    ranking = list(ranking or [])
    topic = slots.get("topic")
    answered = _answers_pending(asked, found, reading)
    told_something = bool(updates) or found.date_problem is not None

    if answered and (len(normalised.strip()) <= SHORT_REPLY or intent not in QUESTION_TOPICS):
        intent = INFORM
    elif reading.outside_scope and not answered:
        intent = OUT_OF_SCOPE
    elif intent == OUT_OF_SCOPE and reading.wants_person:
        # "上海医保卡联系电话是多少": a 医保 phone number is the handoff's to give.
        intent = HANDOFF
    elif intent in QUESTION_TOPICS and not answered and not topic and not slots.get("account_type") and (
            not reading.anchored
            # Another place without a feature, a description or a family member: the user's own 异地就医.
            or (intent == "remote_use" and not (reading.named or reading.described_all or reading.family))
            # A comparison of other things (居民医保和灵活就业医保有啥区别).
            or (intent == "account_difference" and not (reading.named or reading.described_all)
                and _OTHER_THINGS.search(normalised))):
        # Nothing in the message or the conversation so far ties it to our two features
        # ("意外险多长时间能生效"): declined rather than answered as ours.
        intent = OUT_OF_SCOPE
    elif intent == OUT_OF_SCOPE and (reading.described or reading.named):
        # A named feature, or a described family use of one's own 医保, is ours even when the classifier
        # doubts it (products named like ours, 支付宝亲情卡, were declined above).
        intent = understanding.best_topic(ranking, QUESTION_TOPICS, 0.0) or "how_to_use"
    elif intent in (FALLBACK, OUT_OF_SCOPE, INFORM) and topic and told_something:
        # 那上海呢 / 我爸在河南: a detail for the question being discussed.
        intent = INFORM
    elif intent in (FALLBACK, OUT_OF_SCOPE) and (topic or slots.get("account_type")) \
            and len(normalised.strip()) <= SHORT_REPLY:
        # 一个人能绑几个 / 在哪解: a short question inside a conversation about our features is ours.
        intent = understanding.best_topic(ranking, QUESTION_TOPICS, 0.0) or topic or FALLBACK
    elif intent == FALLBACK and (reading.account_type or reading.described):
        intent = understanding.best_topic(ranking, QUESTION_TOPICS, RESCUE_FLOOR) or FALLBACK
    elif intent in QUESTION_TOPICS and topic and reading.follow_up and told_something \
            and len(normalised.strip()) <= SHORT_FOLLOW_UP:
        intent = INFORM

    if intent == "remote_use" and not reading.elsewhere and not found.slots.get("treatment_region") \
            and not found.slots.get("insured_region") and not slots.get("treatment_region"):
        # Nothing in the message is elsewhere: "我是居民医保 能开共济吗" is not about another city.
        intent = understanding.best_topic(ranking, QUESTION_TOPICS, 0.0, excluding=("remote_use",)) or "how_to_use"
    if intent == "how_to_use" and _two_provinces(updates):
        # 我妈在成都住院了 我是江苏交的: two provinces in one question make it about using it there.
        intent = "remote_use"
    if intent == "balance_unusable" and reading.described == "家庭共济" and not _COMPLAINT.search(normalised):
        # "能让我爸用我卡里的钱吗" asks how to share the money, not why it cannot be spent.
        intent = "how_to_use"
    if intent == INFORM and not topic and (updates.get("account_type") or reading.account_type):
        # A feature and a binding day without a question ask when it works; a feature alone, how to use it.
        intent = "effective_time" if "bind_date" in updates else ("how_to_use" if reading.described else INFORM)

    lead, focus = None, None
    described = reading.described_all
    if "account_type" not in updates and not described and reading.my_money and not reading.named \
            and (slots.get("relation") or found.slots.get("relation") or topic) and intent in QUESTION_TOPICS + (INFORM,):
        # "开了能用我卡里的钱吗" in a conversation about a family member or our features: the family using
        # the user's money.
        updates["account_type"] = "家庭共济"
    if intent in ("how_to_use", "bind_failed", "balance_unusable") and reading.named == ("亲情账户",) \
            and "家庭共济" in described:
        # "能用亲情账户给我妈交医保费吗": paying for family is 家庭共济; say why first.
        updates["account_type"], lead = "家庭共济", ("what_is", "亲情账户", "own_money")
    elif intent in QUESTION_TOPICS and reading.no_money and \
            (reading.named == ("亲情账户",) or (not reading.named and slots.get("account_type") == "亲情账户")):
        # "绑了亲情账户 里面怎么没钱": it has no money of its own.
        lead = ("what_is", "亲情账户", "own_money")
    elif intent in ("how_to_use", "bind_failed", "account_difference", "effective_time") and reading.limits \
            and not (intent == "bind_failed" and reading.bind_stage == understanding.FAILED):
        # (提示人数已达上限 绑不了 is a failed binding, answered with its reasons.)
        intent, focus = "how_to_use", ("limits",)
    elif intent in QUESTION_TOPICS and not reading.named and len(described) > 1 and intent != "account_difference":
        # Both wishes at once (亮码 on my phone and paying with my money): two features, explained together.
        intent = "account_difference"
        updates.pop("account_type", None)

    if intent in QUESTION_TOPICS:
        updates["topic"] = intent
        # The stage of a binding belongs to the 绑定不了 question it was told with.
        updates["bind_stage"] = reading.bind_stage if intent == "bind_failed" else None
        if intent == "account_difference" and not reading.account_type:
            updates.pop("account_type", None)
    elif intent == INFORM and reading.bind_stage and (topic == "bind_failed"):
        updates["bind_stage"] = reading.bind_stage
    return Decision(intent=intent, updates=updates, extraction=found, reading=reading, text=normalised, lead=lead, focus=focus)
