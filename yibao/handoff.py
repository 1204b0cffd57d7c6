"""Live handoff to the service centre's agents: opening hours, what 转人工 does, and the timeouts.

Pure functions over the settings of data/handoff.yml and over a conversation's stored events, so the
action (actions/actions.py), the agent inbox (channels/inbox.py) and the tests share one decision:

* ``decide(now, config)``: ``"off"`` (the handoff is not switched on: 12393 as before), ``"open"``
  (hand the conversation to an agent) or ``"closed"`` (outside opening hours: 12393 and the local
  number with its hours).
* ``waiting_from_events(events)``: whether a conversation is with the agents (paused and not
  resumed), since when, its last question, and when an agent last wrote.
* ``due_timeout(waiting, now, config)``: ``"no_pickup"`` (no agent wrote within the pickup time),
  ``"agent_idle"`` (the user has waited that long for the agent's next reply) or None.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

HANDOFF_FILE = Path(__file__).resolve().parent.parent / "data" / "handoff.yml"
ENABLED_VARIABLE = "HANDOFF_ENABLED"
# Another settings file (a test's, or a deployment's kept outside the image).
FILE_VARIABLE = "HANDOFF_FILE"
# Metadata key of a bot message an agent wrote (its value is the agent's name).
AGENT_KEY = "handoff_agent"
# Metadata key of the bot messages the handoff itself adds (timeouts, hand-back).
NOTICE_KEY = "handoff_notice"

OFF, OPEN, CLOSED = "off", "open", "closed"
NO_PICKUP, AGENT_IDLE = "no_pickup", "agent_idle"
# A notice that does not end the handoff: the user wrote while nobody has picked up yet.
STILL_WAITING = "still_waiting"

_WEEKDAY_NAMES = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}


@dataclass(frozen=True)
class HandoffConfig:
    enabled: bool = False
    timezone: str = "Asia/Shanghai"
    weekdays: frozenset[int] = frozenset({1, 2, 3, 4, 5})
    hours: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(14), time(17, 30)))
    holidays: frozenset[date] = frozenset()
    extra_working_days: frozenset[date] = frozenset()
    expected_wait_minutes: int = 5
    pickup_timeout_minutes: int = 10
    agent_idle_timeout_minutes: int = 15
    # A user who writes while nobody has picked up is told so at most once in this many minutes.
    still_waiting_notice_minutes: int = 5
    local_name: str = "本地医保服务中心"
    local_phone: str = ""
    person_cue: str = "人工|客服|找个人|找人|真人|工作人员|转人|活人"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class HandoffConfigError(ValueError):
    """data/handoff.yml says something that cannot be right; the message names the key."""


def _time(value: Any, key: str) -> time:
    if str(value) == "24:00":
        return time.max  # "until midnight": the span's end is exclusive, so 23:59 would lose a minute
    try:
        hour, minute = str(value).split(":")
        return time(int(hour), int(minute))
    except ValueError:
        raise HandoffConfigError(f"handoff.yml: {key}: {value!r} is not HH:MM") from None


def _day(value: Any, key: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise HandoffConfigError(f"handoff.yml: {key}: {value!r} is not YYYY-MM-DD") from None


def _minutes(raw: Mapping[str, Any], key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise HandoffConfigError(f"handoff.yml: {key}: {value!r} is not a number of minutes")
    return value


def _switch(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    return None


def config_from_mapping(raw: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> HandoffConfig:
    """The settings of a parsed handoff.yml; HANDOFF_ENABLED in ``environ`` overrides ``enabled``."""
    env = os.environ if environ is None else environ
    enabled = bool(raw.get("enabled", False))
    switch = _switch(env.get(ENABLED_VARIABLE, ""))
    if switch is not None:
        enabled = switch
    defaults = HandoffConfig()
    spans = []
    for span in raw.get("hours", [[f"{a:%H:%M}", f"{b:%H:%M}"] for a, b in defaults.hours]) or []:
        if not isinstance(span, list | tuple) or len(span) != 2:
            raise HandoffConfigError(f"handoff.yml: hours: {span!r} is not [start, end]")
        start, end = _time(span[0], "hours"), _time(span[1], "hours")
        if end <= start:
            raise HandoffConfigError(f"handoff.yml: hours: {span!r} ends before it starts")
        spans.append((start, end))
    weekdays = frozenset(int(day) for day in raw.get("weekdays", sorted(defaults.weekdays)) or [])
    if not weekdays <= set(_WEEKDAY_NAMES):
        raise HandoffConfigError(f"handoff.yml: weekdays: {sorted(weekdays)} are not all in 1 (Monday) … 7 (Sunday)")
    timezone = str(raw.get("timezone") or "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (KeyError, ValueError):
        raise HandoffConfigError(f"handoff.yml: timezone: {timezone!r} is not a time zone") from None
    contact = raw.get("local_contact") or {}
    person_cue = str(raw.get("person_cue") or defaults.person_cue)
    try:
        re.compile(person_cue)
    except re.error as error:
        raise HandoffConfigError(f"handoff.yml: person_cue: {error}") from None
    return HandoffConfig(
        person_cue=person_cue,
        enabled=enabled,
        timezone=timezone,
        weekdays=weekdays,
        hours=tuple(spans),
        holidays=frozenset(_day(day, "holidays") for day in raw.get("holidays") or []),
        extra_working_days=frozenset(_day(day, "extra_working_days") for day in raw.get("extra_working_days") or []),
        expected_wait_minutes=_minutes(raw, "expected_wait_minutes", 5),
        pickup_timeout_minutes=_minutes(raw, "pickup_timeout_minutes", 10),
        agent_idle_timeout_minutes=_minutes(raw, "agent_idle_timeout_minutes", 15),
        still_waiting_notice_minutes=_minutes(raw, "still_waiting_notice_minutes", 5),
        local_name=str(contact.get("name") or "本地医保服务中心"),
        local_phone=str(contact.get("phone") or ""),
    )


@lru_cache(maxsize=4)
def _read(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as handle:
        loaded = yaml.safe_load(handle) or {}
    if not isinstance(loaded, dict):
        raise HandoffConfigError(f"{path}: not a YAML mapping")
    return loaded


def load_config(path: str | None = None, environ: Mapping[str, str] | None = None) -> HandoffConfig:
    """The settings of ``path``, else of $HANDOFF_FILE, else of data/handoff.yml."""
    env = os.environ if environ is None else environ
    return config_from_mapping(_read(path or env.get(FILE_VARIABLE) or str(HANDOFF_FILE)), env)


# ---------------------------------------------------------------------------------- opening hours
def is_working_day(day: date, config: HandoffConfig) -> bool:
    """A 调休 working day is open even on a weekend; a holiday is closed even on a weekday."""
    if day in config.extra_working_days:
        return True
    return day.isoweekday() in config.weekdays and day not in config.holidays


def is_open(now: datetime, config: HandoffConfig) -> bool:
    """Whether agents are at work at ``now`` (an aware datetime; a naive one is taken as UTC)."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=ZoneInfo("UTC"))
    local = now.astimezone(config.zone)
    if not is_working_day(local.date(), config):
        return False
    moment = local.time()
    return any(start <= moment < end for start, end in config.hours)


HANDOFF_PAYLOAD = "/human_handoff"


def asks_for_person(text: str, config: HandoffConfig) -> bool:
    """转人工, 人工客服, 找真人 or the 转人工 button; not a question for a phone number or a hotline."""
    stripped = (text or "").strip()
    if stripped.startswith(HANDOFF_PAYLOAD):
        return True
    return bool(re.search(config.person_cue, stripped))


def decide(now: datetime, config: HandoffConfig) -> str:
    """What 转人工 does now: OFF (12393 as before), OPEN (hand over) or CLOSED (12393 + local number)."""
    if not config.enabled:
        return OFF
    return OPEN if is_open(now, config) else CLOSED


def hours_text(config: HandoffConfig) -> str:
    """``周一至周五 9:00-12:00、14:00-17:30，法定节假日除外`` from the settings."""
    days = sorted(config.weekdays)
    if not days:
        day_text = ""
    elif len(days) > 2 and days == list(range(days[0], days[-1] + 1)):
        day_text = f"{_WEEKDAY_NAMES[days[0]]}至{_WEEKDAY_NAMES[days[-1]]}"
    else:
        day_text = "、".join(_WEEKDAY_NAMES[day] for day in days)
    spans = "、".join(f"{start.hour}:{start.minute:02d}-{end.hour}:{end.minute:02d}" for start, end in config.hours)
    holidays = "，法定节假日除外" if config.holidays else ""
    return f"{day_text} {spans}{holidays}".strip()


# ---------------------------------------------------------------------------------- wording
def waiting_text(config: HandoffConfig, texts: Mapping[str, str]) -> str:
    return texts["handoff_waiting"].format(minutes=config.expected_wait_minutes)


def call_text(config: HandoffConfig, texts: Mapping[str, str]) -> str:
    """12393, and the centre's own number with its hours when the operator gave one."""
    if config.local_phone:
        return texts["handoff_call_local"].format(
            name=config.local_name, phone=config.local_phone, hours=hours_text(config)
        )
    return texts["handoff_call"]


def closed_text(base: str, config: HandoffConfig, texts: Mapping[str, str]) -> str:
    """Outside opening hours: why there is no agent, then ``base`` (12393 and the table's local
    numbers, the reply 转人工 always had), then the centre's own number and hours."""
    parts = [texts["handoff_closed"].format(hours=hours_text(config)), base]
    if config.local_phone:
        parts.append(
            texts["handoff_local"].format(name=config.local_name, phone=config.local_phone, hours=hours_text(config))
        )
    return "".join(parts)


def timeout_text(kind: str, config: HandoffConfig, texts: Mapping[str, str]) -> str:
    """The apology after NO_PICKUP or AGENT_IDLE: 12393 and the local number, and the bot is back."""
    head = texts["handoff_no_pickup"] if kind == NO_PICKUP else texts["handoff_agent_idle"]
    return head + call_text(config, texts) + texts["handoff_bot_back"]


# ---------------------------------------------------------------------------------- conversations
@dataclass
class Waiting:
    """A conversation with the agents (paused by the handoff and not resumed)."""

    paused_at: float
    channel: str | None = None
    last_question: str | None = None
    last_user_at: float | None = None
    agent: str | None = None
    agent_first_at: float | None = None
    agent_last_at: float | None = None
    # When the oldest user message the agent has not answered yet was written (None: none waits).
    unanswered_since: float | None = None
    history: list[dict[str, Any]] = field(default_factory=list)


def _is_agent_message(event: Mapping[str, Any]) -> bool:
    metadata = event.get("metadata") or {}
    return event.get("event") == "bot" and isinstance(metadata, Mapping) and bool(metadata.get(AGENT_KEY))


def _is_payload(event: Mapping[str, Any]) -> bool:
    return str(event.get("text") or "").startswith("/")


def waiting_from_events(events: Iterable[Mapping[str, Any]]) -> Waiting | None:
    """The handoff state of a conversation from its stored events (Rasa's event dicts), or None when
    the conversation is not paused. A pause without the handoff's own message before it counts too:
    whoever paused the conversation meant a person to take it."""
    waiting: Waiting | None = None
    channel: str | None = None
    last_question: str | None = None
    last_user_at: float | None = None
    history: list[dict[str, Any]] = []
    for event in events:
        kind = event.get("event")
        stamp = float(event.get("timestamp") or 0.0)
        if kind == "user":
            channel = event.get("input_channel") or channel
            text = event.get("text") or ""
            if text and not text.startswith("/"):
                last_question = text
            last_user_at = stamp
            if waiting is not None:
                waiting.last_question, waiting.last_user_at, waiting.channel = last_question, stamp, channel
                if waiting.unanswered_since is None:
                    waiting.unanswered_since = stamp
        elif kind == "pause":
            waiting = Waiting(paused_at=stamp, channel=channel, last_question=last_question, last_user_at=last_user_at)
        elif kind in ("resume", "restart", "session_started") and waiting is not None:
            waiting = None
        elif waiting is not None and _is_agent_message(event):
            waiting.agent = str((event.get("metadata") or {}).get(AGENT_KEY))
            waiting.agent_first_at = waiting.agent_first_at or stamp
            waiting.agent_last_at = stamp
            waiting.unanswered_since = None
        # A user "message" starting with "/" is a button's or the widget's payload (/greet), not words
        # the agent should read.
        if kind in ("user", "bot") and event.get("text") and not (kind == "user" and _is_payload(event)):
            entry: dict[str, Any] = {
                "who": "user" if kind == "user" else "bot",
                "text": event.get("text"),
                "timestamp": stamp,
            }
            if _is_agent_message(event):
                entry["who"] = "agent"
                entry["agent"] = (event.get("metadata") or {}).get(AGENT_KEY)
            history.append(entry)
    if waiting is not None:
        # The agent reads the whole conversation, not only what came after 转人工.
        waiting.history = history
    return waiting


def wrote_while_nobody_answers(waiting: Waiting) -> bool:
    """The user wrote after the handoff and no agent has written yet: the bot is silent (paused), so
    without a word the user cannot tell the message arrived (channels tell them: still_waiting_text)."""
    return waiting.agent_last_at is None and waiting.unanswered_since is not None


def due_timeout(waiting: Waiting, now: float, config: HandoffConfig) -> str | None:
    """NO_PICKUP when no agent has written within the pickup time of the request; AGENT_IDLE when an
    agent has written but the user's message since has waited the idle time; else None.

    A user who is silent after the agent's reply is not a timeout: the agent hands back when done."""
    if waiting.agent_last_at is None:
        if now - waiting.paused_at >= config.pickup_timeout_minutes * 60:
            return NO_PICKUP
        return None
    if (
        waiting.unanswered_since is not None
        and now - waiting.unanswered_since >= config.agent_idle_timeout_minutes * 60
    ):
        return AGENT_IDLE
    return None
