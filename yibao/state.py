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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from yibao import entities, regions, understanding
from yibao.normalize import normalize

QUESTION_TOPICS = (
    "bind_failed",
    "effective_time",
    "remote_use",
    "balance_unusable",
    "how_to_use",
    "unbind",
    "account_difference",
)
OUT_OF_SCOPE = "out_of_scope"
FALLBACK = "nlu_fallback"
HANDOFF = "human_handoff"
INFORM = "inform"
# "还有其他原因" (the button, or typed): the next rows of the last answer.
MORE = "more_reasons"
# The table topic that answers "哪些省份能跨省共济" as a question of its own.
PILOT_LISTS = ("cross_province_pilot",)
# A reply this short that fills the pending slot answers it, whatever the classifier made of it.
SHORT_REPLY = 20
# A follow-up (那上海呢) this short re-asks the last question; a longer one may be a new question.
SHORT_FOLLOW_UP = 10
# The classifier's second opinion is used for a described feature only from this confidence on.
RESCUE_FLOOR = 0.15
# What a comparison that names neither feature is about instead.
_OTHER_THINGS = re.compile(r"医保|保险|社保|合作医疗|公积金|卡|账户")
_COMPLAINT = re.compile(
    r"不能用|用不了|刷不了|扣不了|不让用|用不上|无法使用|付不了|不能刷|没法用|不能付|不能扣|不能花|花不了|显示.{0,4}(不|无)"
)


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


def decide(
    intent: str,
    text: str,
    entity_list: Iterable[Mapping[str, Any]],
    slots: Mapping[str, Any],
    today: date,
    ranking: Iterable[Mapping[str, Any]] = (),
) -> Decision:
    """What the message asks, given the conversation so far (`slots`)."""
    normalised = normalize(text or "")
    reading = understanding.read(normalised)
    found = entities.extract(normalised, list(entity_list or []), today, slots, asked=slots.get("asked_slot"))
    updates: dict[str, Any] = dict(found.slots)
    if "account_type" not in updates and "account_type" not in found.conflicting and reading.described:
        updates["account_type"] = reading.described
    ranking = list(ranking or [])
    pressed = (text or "").startswith("/")
    if (intent == MORE and (pressed or reading.more)) or (reading.more and slots.get("more_rows")):
        return Decision(intent=MORE, extraction=found, reading=reading, text=normalised)
    if intent == MORE:
        # "医保卡不能正常使用是什么原因" sounds like "还有其他原因" to the classifier but is a question of its
        # own: its next likeliest reading decides.
        intent = next(
            (
                entry["name"]
                for entry in sorted(ranking, key=lambda e: -float(e.get("confidence") or 0))
                if entry.get("name") not in (MORE, None)
            ),
            FALLBACK,
        )
    context = _Context(normalised, reading, found, updates, slots, ranking)
    if not (text or "").startswith("/"):
        # A button's payload (/bind_failed, /inform{...}) says exactly what was chosen: nothing to correct.
        intent = _correct_topic(_route(intent, context), context)
    decision = Decision(intent=intent, updates=updates, extraction=found, reading=reading, text=normalised)
    _feature_and_focus(decision, context)

    topic = slots.get("topic")
    if decision.intent in QUESTION_TOPICS:
        updates["topic"] = decision.intent
        # The stage of a binding belongs to the 绑定不了 question it was told with.
        updates["bind_stage"] = reading.bind_stage if decision.intent == "bind_failed" else None
        if decision.intent == "account_difference" and not reading.account_type:
            updates.pop("account_type", None)
    elif decision.intent == INFORM and reading.bind_stage and topic == "bind_failed":
        updates["bind_stage"] = reading.bind_stage
    return decision


@dataclass
class _Context:
    text: str
    reading: understanding.Reading
    found: entities.Extraction
    updates: dict[str, Any]
    slots: Mapping[str, Any]
    ranking: list[Mapping[str, Any]]

    @property
    def topic(self) -> str | None:
        return self.slots.get("topic")

    @property
    def short(self) -> bool:
        return len(self.text.strip()) <= SHORT_REPLY


def _route(intent: str, c: _Context) -> str:
    """The classifier's intent against the pending question, the scope and the conversation."""
    reading, slots, topic = c.reading, c.slots, c.topic
    answered = _answers_pending(slots.get("asked_slot"), c.found, reading)
    told_something = bool(c.updates) or c.found.date_problem is not None
    if answered and (c.short or intent not in QUESTION_TOPICS):
        return INFORM
    if reading.outside_scope and not answered:
        return OUT_OF_SCOPE
    if intent == OUT_OF_SCOPE and reading.wants_person:
        # "上海医保卡联系电话是多少": a 医保 phone number is the handoff's to give.
        return HANDOFF
    if (
        intent in QUESTION_TOPICS
        and not answered
        and not topic
        and not slots.get("account_type")
        and (
            not reading.anchored
            # Another place without a feature, a description or a family member: the user's own 异地就医.
            or (intent == "remote_use" and not (reading.named or reading.described_all or reading.family))
            # A comparison of other things (居民医保和灵活就业医保有啥区别).
            or (
                intent == "account_difference"
                and not (reading.named or reading.described_all)
                and _OTHER_THINGS.search(c.text)
            )
        )
    ):
        # Nothing in the message or the conversation so far ties it to our two features
        # ("意外险多长时间能生效"): declined rather than answered as ours.
        return OUT_OF_SCOPE
    if intent == OUT_OF_SCOPE and (reading.described or reading.named):
        # A named feature, or a described family use of one's own 医保, is ours even when the classifier
        # doubts it (products named like ours, 支付宝亲情卡, were declined above).
        return understanding.best_topic(c.ranking, QUESTION_TOPICS, 0.0) or "how_to_use"
    if intent in (FALLBACK, OUT_OF_SCOPE, INFORM) and topic and told_something and (c.short or reading.follow_up):
        # 那上海呢 / 我爸在河南: a detail for the question being discussed (a longer message that names
        # a feature may be a new question: "亲情账户怎么开通，我妈手机…").
        return INFORM
    if intent in (FALLBACK, OUT_OF_SCOPE) and (topic or slots.get("account_type")) and c.short:
        # 一个人能绑几个 / 在哪解: a short question inside a conversation about our features is ours.
        return understanding.best_topic(c.ranking, QUESTION_TOPICS, 0.0) or topic or FALLBACK
    if intent == FALLBACK and (reading.account_type or reading.described):
        return understanding.best_topic(c.ranking, QUESTION_TOPICS, RESCUE_FLOOR) or FALLBACK
    if (
        intent in QUESTION_TOPICS
        and topic
        and reading.follow_up
        and told_something
        and len(c.text.strip()) <= SHORT_FOLLOW_UP
    ):
        return INFORM
    return intent


def _correct_topic(intent: str, c: _Context) -> str:
    """Topic mix-ups the message's own words settle."""
    reading, updates = c.reading, c.updates
    if (
        intent in QUESTION_TOPICS
        and intent != "account_difference"
        and (
            (len(reading.named) == 1 and reading.what_is and len(c.text) <= SHORT_REPLY)
            or (len(reading.named) == 2 and reading.comparison)
        )
    ):
        # "家庭共济是啥意思" / "亲情账户是不是就等于家庭共济": what a feature is, or how the two differ.
        return "account_difference"
    if (
        intent == "remote_use"
        and not reading.elsewhere
        and not c.found.slots.get("treatment_region")
        and not c.found.slots.get("insured_region")
        and not c.slots.get("treatment_region")
    ):
        # Nothing in the message is elsewhere: "我是居民医保 能开共济吗" is not about another city.
        return understanding.best_topic(c.ranking, QUESTION_TOPICS, 0.0, excluding=("remote_use",)) or "how_to_use"
    if intent == "effective_time" and reading.bind_stage == understanding.FAILED:
        # "身份证号[身份证号] 绑不上亲情账户": a binding that failed is not waiting to take effect.
        return "bind_failed"
    if intent == "how_to_use" and _two_provinces(updates):
        # 我妈在成都住院了 我是江苏交的: two provinces in one question make it about using it there.
        return "remote_use"
    if intent == "balance_unusable" and reading.described == "家庭共济" and not _COMPLAINT.search(c.text):
        # "能让我爸用我卡里的钱吗" asks how to share the money, not why it cannot be spent.
        return "how_to_use"
    if intent == INFORM and not c.topic and (updates.get("account_type") or reading.account_type):
        # A feature and a binding day without a question ask when it works; a feature alone, how to use it.
        return "effective_time" if "bind_date" in updates else ("how_to_use" if reading.described else INFORM)
    return intent


def _feature_and_focus(decision: Decision, c: _Context) -> None:
    """The feature the answer is about, rows to say first, and limits asked on their own."""
    reading, updates, intent = c.reading, c.updates, decision.intent
    described = reading.described_all
    if (
        "account_type" not in updates
        and not described
        and reading.my_money
        and not reading.named
        and (c.slots.get("relation") or c.found.slots.get("relation") or c.topic)
        and intent in QUESTION_TOPICS + (INFORM,)
    ):
        # "开了能用我卡里的钱吗" in a conversation about a family member or our features: the family using
        # the user's money.
        updates["account_type"] = "家庭共济"
    if (
        intent in QUESTION_TOPICS + (INFORM,)
        and ("account_difference", "bind_separately") in reading.asked_about
        and (reading.named or c.topic or c.slots.get("account_type"))
    ):
        # "这俩能一起开吗" / "两个都要弄吗" about our two features: they are opened separately.
        decision.intent = "account_difference"
        updates.pop("account_type", None)
        return
    if (
        intent in ("how_to_use", "bind_failed", "balance_unusable")
        and reading.named == ("亲情账户",)
        and "家庭共济" in described
    ):
        # "能用亲情账户给我妈交医保费吗": paying for family is 家庭共济; say why first.
        updates["account_type"], decision.lead = "家庭共济", ("what_is", "亲情账户", "own_money")
    elif (
        intent in QUESTION_TOPICS
        and reading.no_money
        and (reading.named == ("亲情账户",) or (not reading.named and c.slots.get("account_type") == "亲情账户"))
    ):
        # "绑了亲情账户 里面怎么没钱": it has no money of its own.
        decision.lead = ("what_is", "亲情账户", "own_money")
    elif intent in QUESTION_TOPICS and reading.pilot_list and not _two_provinces({**c.slots, **updates}):
        # "哪些省份能跨省共济": the dated pilot lists, as a question of its own.
        decision.intent, decision.focus = "remote_use", PILOT_LISTS
        updates["account_type"] = "家庭共济"
    elif (
        intent in ("how_to_use", "bind_failed", "account_difference", "effective_time")
        and reading.limits
        and not (intent == "bind_failed" and reading.bind_stage == understanding.FAILED)
    ):
        # (提示人数已达上限 绑不了 is a failed binding, answered with its reasons.)
        decision.intent, decision.focus = "how_to_use", ("limits",)
    elif intent in QUESTION_TOPICS and not reading.named and len(described) > 1 and intent != "account_difference":
        # Both wishes at once (亮码 on my phone and paying with my money): two features, explained together.
        decision.intent = "account_difference"
        updates.pop("account_type", None)
