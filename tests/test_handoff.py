"""yibao.handoff: opening hours, what 转人工 does, timeouts, and the state read from stored events."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from yibao import handoff
from yibao.texts import load_texts

CHINA = ZoneInfo("Asia/Shanghai")
TEXTS = load_texts()


@pytest.fixture
def config():
    # The shipped file with the handoff switched on, whatever the environment says.
    return handoff.load_config(environ={"HANDOFF_ENABLED": "1"})


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=CHINA)


@pytest.mark.parametrize(
    "moment, is_open",
    [
        (at(2026, 12, 2, 10, 0), True),  # Wednesday morning
        (at(2026, 12, 2, 12, 30), False),  # lunch break
        (at(2026, 12, 2, 17, 29), True),  # just before closing
        (at(2026, 12, 2, 17, 30), False),  # closing time itself is closed
        (at(2026, 12, 2, 8, 59), False),  # just before opening
        (at(2026, 12, 2, 9, 0), True),  # opening
        (at(2026, 12, 5, 10, 0), False),  # Saturday
        (at(2026, 10, 1, 10, 0), False),  # 国庆, a Thursday
        (at(2026, 10, 10, 10, 0), True),  # 调休 Saturday
    ],
)
def test_opening_hours(config, moment, is_open):
    assert handoff.is_open(moment, config) is is_open


def test_opening_hours_are_china_time_whatever_the_clock_zone(config):
    # 01:30 UTC is 09:30 in Shanghai; 10:00 UTC is 18:00 there.
    assert handoff.is_open(datetime(2026, 12, 2, 1, 30, tzinfo=timezone.utc), config)
    assert not handoff.is_open(datetime(2026, 12, 2, 10, 0, tzinfo=timezone.utc), config)


def test_off_by_default_and_switched_by_the_environment():
    assert not handoff.load_config(environ={}).enabled
    assert handoff.decide(at(2026, 12, 2, 10, 0), handoff.load_config(environ={})) == handoff.OFF
    on = handoff.config_from_mapping({"enabled": True, "weekdays": [1], "hours": [["09:00", "10:00"]]}, {})
    assert handoff.config_from_mapping({"enabled": True}, {"HANDOFF_ENABLED": "0"}).enabled is False
    assert handoff.decide(at(2026, 11, 30, 9, 30), on) == handoff.OPEN  # a Monday
    assert handoff.decide(at(2026, 12, 1, 9, 30), on) == handoff.CLOSED


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"hours": [["9", "12:00"]]}, "hours"),
        ({"hours": [["12:00", "09:00"]]}, "hours"),
        ({"holidays": ["2026-13-01"]}, "holidays"),
        ({"weekdays": [0]}, "weekdays"),
        ({"pickup_timeout_minutes": "ten"}, "pickup_timeout_minutes"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
    ],
)
def test_a_wrong_setting_names_its_key(raw, key):
    with pytest.raises(handoff.HandoffConfigError, match=key):
        handoff.config_from_mapping(raw, {})


def test_hours_text_is_derived_from_the_settings(config):
    assert handoff.hours_text(config) == "周一至周五 9:00-12:00、14:00-17:30，法定节假日除外"


def test_the_wording_names_the_wait_and_the_numbers():
    config = handoff.config_from_mapping(
        {"enabled": True, "expected_wait_minutes": 3, "local_contact": {"name": "遂平县医保中心", "phone": "0396-2763198"}},
        {},
    )
    assert "3分钟" in handoff.waiting_text(config, TEXTS)
    idle = handoff.timeout_text(handoff.AGENT_IDLE, config, TEXTS)
    assert "12393" in idle and "0396-2763198" in idle and "继续为您解答" in idle
    closed = handoff.closed_text(TEXTS["handoff_intro"], config, TEXTS)
    assert closed.count("12393") == 1 and "0396-2763198" in closed and "9:00-12:00" in closed
    without_phone = handoff.config_from_mapping({"enabled": True}, {})
    assert handoff.timeout_text(handoff.NO_PICKUP, without_phone, TEXTS).count("12393") == 1


def user(text, stamp, channel="rest"):
    return {"event": "user", "text": text, "timestamp": stamp, "input_channel": channel}


def bot(text, stamp, agent=None):
    return {"event": "bot", "text": text, "timestamp": stamp, "metadata": {"handoff_agent": agent} if agent else {}}


HANDED_OVER = [
    user("/greet", 90.0, "socketio"),  # the web chat widget's opening payload: not shown to the agent
    user("亲情账户绑不上 我手机号13812345678", 100.0, "socketio"),
    bot("可能的原因……", 101.0),
    user("转人工", 200.0, "socketio"),
    bot("好的，正在为您转接人工客服", 201.0),
    {"event": "pause", "timestamp": 201.0},
]


def test_a_paused_conversation_is_waiting_with_its_question_and_channel():
    waiting = handoff.waiting_from_events(HANDED_OVER)
    assert waiting is not None
    assert (waiting.paused_at, waiting.channel, waiting.agent) == (201.0, "socketio", None)
    assert waiting.last_question == "转人工"
    assert [entry["who"] for entry in waiting.history] == ["user", "bot", "user", "bot"]
    assert "/greet" not in [entry["text"] for entry in waiting.history]


def test_a_resumed_or_never_paused_conversation_is_not_waiting():
    assert handoff.waiting_from_events(HANDED_OVER[:2]) is None
    assert handoff.waiting_from_events([*HANDED_OVER, {"event": "resume", "timestamp": 300.0}]) is None


def test_nobody_picks_up_within_the_pickup_time(config):
    waiting = handoff.waiting_from_events(HANDED_OVER)
    limit = config.pickup_timeout_minutes * 60
    assert handoff.due_timeout(waiting, 201.0 + limit - 1, config) is None
    assert handoff.due_timeout(waiting, 201.0 + limit, config) == handoff.NO_PICKUP


def test_an_agent_who_stops_answering_times_out_but_a_silent_user_does_not(config):
    events = [*HANDED_OVER, bot("您好，我是王芳", 260.0, agent="王芳")]
    waiting = handoff.waiting_from_events(events)
    assert waiting.agent == "王芳" and waiting.history[-1]["who"] == "agent"
    far = 260.0 + 10 * 3600
    assert handoff.due_timeout(waiting, far, config) is None  # the user has not written since
    waiting = handoff.waiting_from_events([*events, user("我绑了三次都不行", 300.0)])
    limit = config.agent_idle_timeout_minutes * 60
    assert handoff.due_timeout(waiting, 300.0 + limit - 1, config) is None
    assert handoff.due_timeout(waiting, 300.0 + limit, config) == handoff.AGENT_IDLE


def test_open_until_midnight_and_another_settings_file(tmp_path):
    path = tmp_path / "handoff.yml"
    path.write_text('enabled: true\nweekdays: [1, 2, 3, 4, 5, 6, 7]\nhours: [["00:00", "24:00"]]\n', encoding="utf-8")
    config = handoff.load_config(environ={"HANDOFF_FILE": str(path)})
    assert handoff.is_open(at(2026, 12, 5, 23, 59, 59), config) and handoff.is_open(at(2026, 12, 6, 0, 0), config)
    assert handoff.hours_text(config) == "周一至周日 0:00-23:59"


@pytest.mark.parametrize(
    "text, person",
    [("转人工", True), ("我要找真人", True), ("人工客服在吗", True), ("/human_handoff", True),
     ("遂平县医保中心电话多少", False), ("12393热线几点上班", False)],
)
def test_only_a_person_asked_for_is_handed_over(config, text, person):
    assert handoff.asks_for_person(text, config) is person


def test_a_wrong_person_cue_names_its_key():
    with pytest.raises(handoff.HandoffConfigError, match="person_cue"):
        handoff.config_from_mapping({"person_cue": "人工("}, {})
