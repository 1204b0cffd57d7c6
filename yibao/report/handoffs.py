"""Handoffs to the agents in the report: per day, waiting time, unanswered, resolved by an agent.

A *handoff* is a ``pause`` event (the action hands the conversation over, yibao/handoff.py). It is
*answered* when an agent wrote (a bot message with ``metadata.handoff_agent``) before it ended, and its
*waiting time* is from the pause to that first reply. It is *resolved by an agent* when an agent wrote
and handed it back with 交还机器人 (``handoff_notice: resumed``), not by the agent-idle timeout.
*Unanswered*: no agent wrote (the pickup timeout, or still waiting when the report was made).
*Per agent*: the handoffs an agent wrote in, those the agent handed back (``by`` of the ``resumed``
notice), and the median wait of those the agent answered first.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from yibao.handoff import AGENT_KEY, NOTICE_KEY, STILL_WAITING
from yibao.report.source import StoredEvent


@dataclass
class Handoff:
    sender_id: str
    paused_at: float
    first_reply_at: float | None = None
    first_agent: str | None = None
    agents: set[str] = field(default_factory=set)
    handed_back_by: str | None = None
    ended_by: str | None = None  # "resumed", "no_pickup", "agent_idle", "resume" (by something else) or None

    @property
    def answered(self) -> bool:
        return self.first_reply_at is not None

    @property
    def resolved_by_agent(self) -> bool:
        return self.answered and self.ended_by == "resumed"

    @property
    def wait_seconds(self) -> float | None:
        return None if self.first_reply_at is None else self.first_reply_at - self.paused_at


@dataclass
class HandoffDay:
    day: date
    handoffs: int
    answered: int
    unanswered: int
    resolved: int
    median_wait_minutes: float | None


@dataclass
class AgentRow:
    agent: str
    answered: int
    resolved: int
    median_wait_minutes: float | None


@dataclass
class HandoffStats:
    handoffs: list[Handoff] = field(default_factory=list)
    per_day: list[HandoffDay] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.handoffs)

    @property
    def answered(self) -> int:
        return sum(1 for h in self.handoffs if h.answered)

    @property
    def unanswered(self) -> int:
        return self.total - self.answered

    @property
    def resolved(self) -> int:
        return sum(1 for h in self.handoffs if h.resolved_by_agent)

    @property
    def median_wait_minutes(self) -> float | None:
        return _median_minutes(self.handoffs)

    @property
    def per_agent(self) -> list[AgentRow]:
        names = sorted({name for h in self.handoffs for name in h.agents})
        return [
            AgentRow(
                name,
                sum(1 for h in self.handoffs if name in h.agents),
                sum(1 for h in self.handoffs if h.resolved_by_agent and h.handed_back_by == name),
                _median_minutes(h for h in self.handoffs if h.first_agent == name),
            )
            for name in names
        ]


def _median_minutes(handoffs: Iterable[Handoff]) -> float | None:
    waits = [h.wait_seconds for h in handoffs if h.wait_seconds is not None]
    return round(statistics.median(waits) / 60, 1) if waits else None


def find_handoffs(events: Iterable[StoredEvent], lo: float, hi: float) -> list[Handoff]:
    """The handoffs that started inside [lo, hi), each with how it went (events in stored order)."""
    found: list[Handoff] = []
    current: dict[str, Handoff] = {}
    for event in events:
        kind = event.type_name or str(event.data.get("event") or "")
        sender = event.sender_id
        if kind == "pause":
            started = Handoff(sender, event.timestamp)
            current[sender] = started
            if lo <= event.timestamp < hi:
                found.append(started)
            continue
        handoff = current.get(sender)
        if handoff is None:
            continue
        metadata = event.data.get("metadata") or {}
        if kind == "bot" and isinstance(metadata, dict):
            if metadata.get(AGENT_KEY):
                handoff.agents.add(str(metadata[AGENT_KEY]))
                if handoff.first_reply_at is None:
                    handoff.first_reply_at = event.timestamp
                    handoff.first_agent = str(metadata[AGENT_KEY])
            if metadata.get(NOTICE_KEY) and metadata[NOTICE_KEY] != STILL_WAITING:
                handoff.ended_by = str(metadata[NOTICE_KEY])
                handoff.handed_back_by = str(metadata["by"]) if metadata.get("by") else None
        elif kind in ("resume", "restart", "session_started"):
            handoff.ended_by = handoff.ended_by or kind
            del current[sender]
    return found


def handoff_stats(events: Iterable[StoredEvent], lo: float, hi: float, days: list[date], tz: ZoneInfo) -> HandoffStats:
    handoffs = find_handoffs(events, lo, hi)
    by_day: dict[date, list[Handoff]] = defaultdict(list)
    for handoff in handoffs:
        by_day[datetime.fromtimestamp(handoff.paused_at, tz).date()].append(handoff)
    per_day = [
        HandoffDay(
            day,
            len(by_day[day]),
            sum(1 for h in by_day[day] if h.answered),
            sum(1 for h in by_day[day] if not h.answered),
            sum(1 for h in by_day[day] if h.resolved_by_agent),
            _median_minutes(by_day[day]),
        )
        for day in days
    ]
    return HandoffStats(handoffs, per_day)
