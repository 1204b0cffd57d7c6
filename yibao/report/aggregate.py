"""From tracker-store events to the report's numbers.

Definitions (also printed in the report):
- conversation: one sender id (a chat with one user on one channel); per day, the senders who wrote
  that day.
- message: a user message (`user` event); bot messages are counted apart.
- channel: the user message's `input_channel` (`rest`, `telegram`, `wechat`, `socketio`, …).
- fallback: a user message classified `nlu_fallback`, or after which the fallback action
  (`action_fallback_choices`) ran; out of scope: a user message classified `out_of_scope`.
- unanswered: fallback, out of scope, or a question the table had no row for (action_answer ran and
  left no rows, no follow-up question, with a topic set). Button payloads (`/intent…`) are not questions.
- feedback: the `feedback` slot events action_feedback stores ({helpful, topic, rows, slots}).
- region asked about: a value of the insured_region / treatment_region slot; it "has no region-specific
  rows" when no active table row other than 全国 covers it (a row for the region or for its province).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from yibao import regions
from yibao.policy import NATIONWIDE, PolicyTable
from yibao.privacy import mask_personal_numbers, mask_value
from yibao.report.cluster import DEFAULT_THRESHOLD, Cluster, cluster_texts, normalise
from yibao.report.handoffs import HandoffStats, handoff_stats
from yibao.report.source import CHINA, StoredEvent, day_bounds

FALLBACK_INTENT = "nlu_fallback"
OUT_OF_SCOPE_INTENT = "out_of_scope"
FALLBACK_ACTIONS = ("action_fallback_choices", "action_default_fallback")
ANSWER_ACTION = "action_answer"
FEEDBACK_INTENTS = ("feedback_helpful", "feedback_unhelpful")
REGION_SLOTS = ("insured_region", "treatment_region")
UNKNOWN_CHANNEL = "(unknown)"


@dataclass
class UserTurn:
    """A user message and what the bot did until the next one."""

    sender_id: str
    timestamp: float
    text: str
    intent: str | None
    suggested_intent: str | None
    channel: str
    actions: list[str] = field(default_factory=list)
    bot_messages: int = 0
    slots_after: dict[str, Any] = field(default_factory=dict)

    @property
    def is_payload(self) -> bool:
        return self.text.startswith("/")

    @property
    def fallback(self) -> bool:
        return self.intent == FALLBACK_INTENT or any(a in FALLBACK_ACTIONS for a in self.actions)

    @property
    def out_of_scope(self) -> bool:
        return self.intent == OUT_OF_SCOPE_INTENT

    @property
    def no_rows(self) -> bool:
        return (
            ANSWER_ACTION in self.actions
            and not self.slots_after.get("last_rows")
            and not self.slots_after.get("asked_slot")
            and bool(self.slots_after.get("topic"))
        )

    @property
    def unanswered_reason(self) -> str | None:
        if self.fallback:
            return "fallback"
        if self.out_of_scope:
            return "out_of_scope"
        if self.no_rows:
            return "no_rows"
        return None


@dataclass
class FeedbackEvent:
    timestamp: float
    conversation: str  # a salted short hash of the sender id, never the id itself
    channel: str
    helpful: bool
    topic: str | None
    rows: list[str]
    slots: dict[str, Any]
    question: str | None  # the user message the judged answer replied to (masked)


@dataclass
class UnansweredCluster:
    cluster: Cluster
    reasons: Counter
    suggested_intent: str | None


@dataclass
class RowFeedback:
    row_id: str
    topic: str | None
    account_type: str | None
    region: str | None
    answer: str | None  # None when the row is no longer in the table
    unhelpful: int = 0
    helpful: int = 0


@dataclass
class RegionAsked:
    name: str  # the region's short name (or the value as stored when it does not resolve)
    province: str | None
    conversations: int
    as_insured: int
    as_treatment: int
    has_specific_rows: bool


@dataclass
class Report:
    since: date
    until: date
    timezone: str
    source: str
    conversations: int
    user_messages: int
    bot_messages: int
    fallback: int
    out_of_scope: int
    unanswered: int
    per_day: list[tuple[date, int, int, int]]  # day, conversations, user messages, bot messages
    per_channel: list[tuple[str, int, int]]  # channel, conversations, user messages
    intents: list[tuple[str, int]]
    clusters: list[UnansweredCluster]
    unanswered_examples: list[tuple[str, int, str | None]]  # masked text, count, suggested intent
    feedback: list[FeedbackEvent]
    row_feedback: list[RowFeedback]
    regions: list[RegionAsked]
    generated_at: datetime = field(default_factory=lambda: datetime.now(CHINA))
    handoffs: HandoffStats = field(default_factory=HandoffStats)

    @property
    def helpful(self) -> int:
        return sum(1 for item in self.feedback if item.helpful)

    @property
    def unhelpful(self) -> int:
        return sum(1 for item in self.feedback if not item.helpful)

    @property
    def regions_without_rows(self) -> list[RegionAsked]:
        return [region for region in self.regions if not region.has_specific_rows]


def conversation_key(sender_id: str, salt: bytes) -> str:
    """A short name for a conversation that does not reveal the sender id (a phone number, an openid).

    Salted per report, so that the key cannot be matched against guessed ids.
    """
    return hmac.new(salt, sender_id.encode("utf-8"), hashlib.sha256).hexdigest()[:10]


def _suggested(parse_data: dict[str, Any], intent: str | None) -> str | None:
    for candidate in parse_data.get("intent_ranking") or []:
        name = candidate.get("name")
        if name and name != FALLBACK_INTENT:
            return name
    return intent if intent != FALLBACK_INTENT else None


@dataclass
class Replay:
    turns: list[UserTurn]  # user messages inside the range, with what followed them
    bot_times: list[float]  # bot messages inside the range
    feedback: list[FeedbackEvent]
    region_values: list[tuple[str, str, str]]  # (sender, slot, value) set inside the range


def replay(events: Iterable[StoredEvent], lo: float, hi: float) -> Replay:
    """Walk each conversation's events in order, keeping the slots, and cut them into user turns.

    Events before `lo` only set the slots; what is returned happened inside [lo, hi).
    """
    salt = os.urandom(16)
    turns: list[UserTurn] = []
    bot_times: list[float] = []
    feedback: list[FeedbackEvent] = []
    region_values: list[tuple[str, str, str]] = []
    by_sender: dict[str, list[StoredEvent]] = defaultdict(list)
    for event in events:
        by_sender[event.sender_id].append(event)

    for sender_id, stream in by_sender.items():
        slots: dict[str, Any] = {}
        turn: UserTurn | None = None
        last_text: str | None = None  # the latest user message in words (not a button, not feedback)
        last_question: str | None = None  # the one the latest answer with table rows replied to
        for event in stream:
            data = event.data
            kind = event.type_name or data.get("event")
            inside = lo <= event.timestamp < hi
            if kind == "user":
                if turn is not None:
                    turn.slots_after = dict(slots)
                parse = data.get("parse_data") or {}
                intent = event.intent_name or (parse.get("intent") or {}).get("name")
                turn = UserTurn(
                    sender_id,
                    event.timestamp,
                    str(data.get("text") or ""),
                    intent,
                    _suggested(parse, intent),
                    data.get("input_channel") or UNKNOWN_CHANNEL,
                )
                if inside:
                    turns.append(turn)
                if not turn.is_payload and turn.text.strip() and intent not in FEEDBACK_INTENTS:
                    last_text = turn.text
            elif kind == "bot":
                if inside:
                    bot_times.append(event.timestamp)
                if turn is not None:
                    turn.bot_messages += 1
            elif kind == "action":
                if turn is not None:
                    turn.actions.append(event.action_name or data.get("name") or "")
            elif kind == "slot":
                name, value = str(data.get("name") or event.action_name or ""), data.get("value")
                slots[name] = value
                if name == "last_rows" and value:
                    last_question = last_text
                if name == "feedback" and isinstance(value, dict) and inside:
                    feedback.append(
                        FeedbackEvent(
                            event.timestamp,
                            conversation_key(sender_id, salt),
                            turn.channel if turn else UNKNOWN_CHANNEL,
                            bool(value.get("helpful")),
                            value.get("topic"),
                            [str(r) for r in value.get("rows") or []],
                            mask_value(dict(value.get("slots") or {})),
                            mask_personal_numbers(last_question) if last_question else None,
                        )
                    )
                if name in REGION_SLOTS and isinstance(value, str) and value and inside:
                    region_values.append((sender_id, name, value))
            elif kind in ("restart", "reset_slots"):
                slots = {}
        if turn is not None:
            turn.slots_after = dict(slots)
    return Replay(turns, bot_times, feedback, region_values)


def _region_rows(table: PolicyTable | None):
    if table is None:
        return []
    return [row.region_match for row in table.active() if row.region != NATIONWIDE and row.region_match]


def regions_asked(values: list[tuple[str, str, str]], table: PolicyTable | None) -> list[RegionAsked]:
    row_regions = _region_rows(table)
    grouped: dict[str, dict[str, Any]] = {}
    for sender_id, slot, value in values:
        found = regions.resolve(value)
        key = found.code if found else value
        entry = grouped.setdefault(
            key, {"region": found, "value": value, "senders": set(), "insured_region": 0, "treatment_region": 0}
        )
        entry["senders"].add(sender_id)
        entry[slot] += 1
    result = []
    for entry in grouped.values():
        found = entry["region"]
        specific = bool(found) and any(found.is_within(row_region) for row_region in row_regions)
        result.append(
            RegionAsked(
                found.short if found else mask_personal_numbers(entry["value"]),
                found.province.short if found and found.level == "city" else None,
                len(entry["senders"]),
                entry["insured_region"],
                entry["treatment_region"],
                specific,
            )
        )
    return sorted(result, key=lambda r: (r.has_specific_rows, -r.conversations, r.name))


def row_feedback(feedback: list[FeedbackEvent], table: PolicyTable | None) -> list[RowFeedback]:
    """Per table row: how often an answer using it was marked 没帮助 / 有帮助. Only rows marked 没帮助."""
    by_row: dict[str, RowFeedback] = {}
    for item in feedback:
        for row_id in item.rows:
            if row_id not in by_row:
                row = table.by_id(row_id) if table else None
                by_row[row_id] = RowFeedback(
                    row_id,
                    row.topic if row else item.topic,
                    row.account_type if row else None,
                    row.region if row else None,
                    row.answer if row else None,
                )
            if item.helpful:
                by_row[row_id].helpful += 1
            else:
                by_row[row_id].unhelpful += 1
    marked = [entry for entry in by_row.values() if entry.unhelpful]
    return sorted(marked, key=lambda r: (-r.unhelpful, r.helpful, r.row_id))


def build_report(
    events: list[StoredEvent],
    since: date,
    until: date,
    table: PolicyTable | None = None,
    tz: ZoneInfo = CHINA,
    source: str = "",
    threshold: float = DEFAULT_THRESHOLD,
) -> Report:
    lo, hi = day_bounds(since, until, tz)
    replayed = replay(events, lo, hi)
    user_turns = replayed.turns

    def day_of(timestamp: float) -> date:
        return datetime.fromtimestamp(timestamp, tz).date()

    days = [since + timedelta(days=n) for n in range((until - since).days + 1)]
    senders_by_day: dict[date, set[str]] = defaultdict(set)
    users_by_day: Counter[date] = Counter()
    for turn in user_turns:
        senders_by_day[day_of(turn.timestamp)].add(turn.sender_id)
        users_by_day[day_of(turn.timestamp)] += 1
    bots_by_day = Counter(day_of(timestamp) for timestamp in replayed.bot_times)
    per_day = [(day, len(senders_by_day[day]), users_by_day[day], bots_by_day[day]) for day in days]

    channel_senders: dict[str, set[str]] = defaultdict(set)
    channel_messages: Counter[str] = Counter()
    for turn in user_turns:
        channel_senders[turn.channel].add(turn.sender_id)
        channel_messages[turn.channel] += 1
    per_channel = sorted(
        ((channel, len(channel_senders[channel]), count) for channel, count in channel_messages.items()),
        key=lambda c: (-c[2], c[0]),
    )

    intents = Counter(turn.intent or "(none)" for turn in user_turns)

    unanswered = [t for t in user_turns if t.unanswered_reason and not t.is_payload and t.text.strip()]
    masked = [(mask_personal_numbers(t.text), t) for t in unanswered]
    clusters = cluster_texts([text for text, _ in masked], threshold)
    info: dict[str, list[UserTurn]] = defaultdict(list)
    for text, turn in masked:
        info[normalise(text)].append(turn)
    grouped: list[UnansweredCluster] = []
    examples: list[tuple[str, int, str | None]] = []
    for cluster in clusters:
        members = [turn for text, _ in cluster.examples for turn in info[normalise(text)]]
        suggestions = Counter(turn.suggested_intent for turn in members if turn.suggested_intent)
        suggested = suggestions.most_common(1)[0][0] if suggestions else None
        grouped.append(UnansweredCluster(cluster, Counter(turn.unanswered_reason for turn in members), suggested))
        for text, count in cluster.examples:
            own = Counter(t.suggested_intent for t in info[normalise(text)] if t.suggested_intent)
            examples.append((text, count, own.most_common(1)[0][0] if own else suggested))

    return Report(
        since=since,
        until=until,
        timezone=str(tz),
        source=source,
        conversations=len({turn.sender_id for turn in user_turns}),
        user_messages=len(user_turns),
        bot_messages=len(replayed.bot_times),
        fallback=sum(1 for turn in user_turns if turn.fallback),
        out_of_scope=sum(1 for turn in user_turns if turn.out_of_scope),
        unanswered=len(unanswered),
        per_day=per_day,
        per_channel=per_channel,
        intents=sorted(intents.items(), key=lambda item: (-item[1], item[0])),
        clusters=grouped,
        unanswered_examples=examples,
        feedback=sorted(replayed.feedback, key=lambda f: f.timestamp),
        row_feedback=row_feedback(replayed.feedback, table),
        regions=regions_asked(replayed.region_values, table),
        handoffs=handoff_stats(events, lo, hi, days, tz),
    )
