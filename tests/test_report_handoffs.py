"""`make report` on handoffs: per day, waiting time, unanswered, resolved by an agent (yibao/report/handoffs.py),
from stored events shaped as Rasa and the inbox store them."""

from __future__ import annotations

import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

from yibao.report import build_report, render_html
from yibao.report.source import StoredEvent

CHINA = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int) -> float:
    return datetime(2026, 11, day, hour, minute, tzinfo=CHINA).timestamp()


def ev(sender, kind, stamp, **data):
    return StoredEvent(sender, kind, stamp, data.get("intent"), data.get("name"), {"event": kind, "timestamp": stamp, **data})


def user(sender, stamp, text="转人工"):
    return ev(sender, "user", stamp, text=text, input_channel="rest", intent="human_handoff",
              parse_data={"intent": {"name": "human_handoff"}})


def agent(sender, stamp, name="王芳"):
    return ev(sender, "bot", stamp, text="您好", metadata={"handoff_agent": name})


def notice(sender, stamp, kind, by=None):
    return ev(sender, "bot", stamp, text="…", metadata={"handoff_notice": kind, **({"by": by} if by else {})})


EVENTS = [
    # 20th: answered after 4 minutes, handed back by the agent.
    user("a", at(20, 10, 0)), ev("a", "pause", at(20, 10, 0)), agent("a", at(20, 10, 4)),
    notice("a", at(20, 10, 20), "resumed", "王芳"), ev("a", "resume", at(20, 10, 20)),
    # 20th: nobody picked up.
    user("b", at(20, 11, 0)), ev("b", "pause", at(20, 11, 0)), notice("b", at(20, 11, 10), "no_pickup"),
    ev("b", "resume", at(20, 11, 10)),
    # 21st: answered after 10 minutes, then the agent went silent (not resolved).
    user("c", at(21, 9, 0)), ev("c", "pause", at(21, 9, 0)), agent("c", at(21, 9, 10), "李强"),
    user("c", at(21, 9, 12), "还在吗"), notice("c", at(21, 9, 27), "agent_idle"), ev("c", "resume", at(21, 9, 27)),
    # 21st: still waiting when the report is made (the user was told the message arrived: no ending).
    user("d", at(21, 16, 0)), ev("d", "pause", at(21, 16, 0)), user("d", at(21, 16, 2), "有人吗"),
    notice("d", at(21, 16, 2), "still_waiting"),
]


def test_handoffs_per_day_wait_unanswered_and_resolved():
    report = build_report(EVENTS, date(2026, 11, 20), date(2026, 11, 21))
    h = report.handoffs
    assert (h.total, h.answered, h.unanswered, h.resolved) == (4, 2, 2, 1)
    assert h.median_wait_minutes == 7.0  # 4 and 10 minutes
    days = [(d.day.day, d.handoffs, d.answered, d.unanswered, d.resolved, d.median_wait_minutes) for d in h.per_day]
    assert days == [(20, 2, 1, 1, 1, 4.0), (21, 2, 1, 1, 0, 10.0)]
    assert [(a.agent, a.answered, a.resolved, a.median_wait_minutes) for a in h.per_agent] == [
        ("李强", 1, 0, 10.0), ("王芳", 1, 1, 4.0)]


def test_the_html_shows_them():
    page = render_html(build_report(EVENTS, date(2026, 11, 20), date(2026, 11, 21)))

    def metric(name: str) -> str:
        found = re.search(rf'data-metric="{re.escape(name)}"[^>]*>([^<]*)<', page)
        assert found, name
        return found.group(1)

    assert [metric(f"handoffs/{key}") for key in ("total", "answered", "unanswered", "resolved", "median_wait")] == [
        "4", "2", "2", "1", "7.0"]
    assert metric("handoffs/2026-11-21/unanswered") == "1"
    assert (metric("handoffs/agent/王芳/answered"), metric("handoffs/agent/王芳/resolved")) == ("1", "1")


def test_a_range_without_handoffs_says_so():
    page = render_html(build_report(EVENTS[:1], date(2026, 11, 1), date(2026, 11, 2)))
    assert 'data-metric="handoffs/total">0<' in page
