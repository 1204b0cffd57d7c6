"""Feedback end to end: the trained model, the real action server and Rasa's SQL tracker store on a temp
SQLite file. After an answer from the table, 没用 / 不对 or the 没帮助 button is stored as a `feedback` slot
event with the topic, the rows and the slots, and the reply offers 转人工; the 有帮助 button stores
helpful True. The same database then feeds `make report`, which proves the report reads real events."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chat import Chat
from servers import MODEL, PROJECT, env, free_port, start_action_server, stop

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

ID_NUMBER = "110101199003071234"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import rasa_ext
    from rasa.core.agent import Agent

    rasa_ext.install()  # as the launcher does for a server
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.utils.endpoints import EndpointConfig

    folder = tmp_path_factory.mktemp("feedback")
    db = folder / "tracker.db"
    port = free_port()
    server = start_action_server(port, folder / "actions.log")
    try:
        store = SQLTrackerStore(dialect="sqlite", db=str(db))
        agent = Agent.load(str(MODEL), action_endpoint=EndpointConfig(f"http://127.0.0.1:{port}/webhook"),
                           tracker_store=store)
        yield agent, db, folder
    finally:
        stop(server)


def stored_feedback(db, sender: str) -> list[dict]:
    """The feedback slot events of one conversation, read back from the tracker store's table."""
    with sqlite3.connect(db) as connection:
        rows = connection.execute("SELECT type_name, action_name, data FROM events WHERE sender_id = ? ORDER BY id",
                                  (sender,)).fetchall()
    events = [json.loads(data) for type_name, action_name, data in rows if type_name == "slot" and action_name == "feedback"]
    assert all(event["event"] == "slot" and event["name"] == "feedback" for event in events)
    return [event["value"] for event in events]


def buttons(replies: list[dict]) -> list[tuple[str, str]]:
    return [(button["title"], button["payload"]) for reply in replies for button in reply.get("buttons") or []]


@pytest.mark.parametrize("complaint", ["没用", "不对"])
def test_unhelpful_text_is_stored_with_topic_rows_and_slots_and_offers_a_person(setup, complaint):
    agent, db, _ = setup
    chat = Chat(agent)
    answer = chat.say("家庭共济多久生效")
    assert ("有帮助", "/feedback_helpful") in buttons(answer) and ("没帮助", "/feedback_unhelpful") in buttons(answer)
    rows = chat.slot("last_rows")
    assert rows

    reply = chat.say(complaint)
    assert "抱歉" in reply[0]["text"]
    assert ("转人工", "/human_handoff") in buttons(reply)
    [record] = stored_feedback(db, chat.sender)
    assert record["helpful"] is False
    assert record["topic"] == "effective_time"
    assert record["rows"] == rows
    assert record["slots"]["account_type"] == "家庭共济" and record["slots"]["topic"] == "effective_time"

    # The offered button leads to a person.
    handoff = chat.say("/human_handoff")
    assert "12393" in handoff[0]["text"]


def test_helpful_button_is_stored_as_helpful(setup):
    agent, db, _ = setup
    chat = Chat(agent)
    chat.say("亲情账户怎么解绑")
    rows = chat.slot("last_rows")
    assert rows
    reply = chat.say("/feedback_helpful")
    assert "谢谢" in reply[0]["text"] and not buttons(reply)
    assert stored_feedback(db, chat.sender) == [
        {"helpful": True, "topic": "unbind", "rows": rows,
         "slots": {"topic": "unbind", "account_type": chat.slot("account_type")} if chat.slot("account_type")
         else {"topic": "unbind"}}]


def test_unhelpful_button_is_stored_too(setup):
    agent, db, _ = setup
    chat = Chat(agent)
    chat.say("医保卡有余额为什么不能用")
    reply = chat.say("/feedback_unhelpful")
    assert ("转人工", "/human_handoff") in buttons(reply)
    [record] = stored_feedback(db, chat.sender)
    assert record["helpful"] is False and record["topic"] == "balance_unusable" and record["rows"]


def test_report_reads_the_real_events(setup):
    """The report over the real events of this module's conversations: its counts match the table."""
    from test_report import metrics

    agent, db, folder = setup
    chat = Chat(agent)
    chat.say("家庭共济多久生效")
    chat.say("没用")
    Chat(agent).say("种牙能报销吗")
    Chat(agent).say(f"我的身份证号{ID_NUMBER}怎么查医保")
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    out, export = folder / "report.html", folder / "unanswered.csv"
    result = subprocess.run([sys.executable, "scripts/report.py", "--db", f"sqlite:///{db}",
                             "--since", str(today - timedelta(days=1)), "--until", str(today + timedelta(days=1)),
                             "--out", str(out), "--unanswered-out", str(export)],
                            cwd=PROJECT, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    html = out.read_text(encoding="utf-8")
    m = metrics(html)

    with sqlite3.connect(db) as connection:
        def count(sql: str) -> int:
            return connection.execute(sql).fetchone()[0]

        conversations = count("SELECT COUNT(DISTINCT sender_id) FROM events WHERE type_name = 'user'")
        messages = count("SELECT COUNT(*) FROM events WHERE type_name = 'user'")
        bot = count("SELECT COUNT(*) FROM events WHERE type_name = 'bot'")
        unhelpful = count("SELECT COUNT(*) FROM events WHERE intent_name = 'feedback_unhelpful'")
        out_of_scope = count("SELECT COUNT(*) FROM events WHERE intent_name = 'out_of_scope'")
    assert conversations >= 3 and unhelpful >= 1
    assert m["total/conversations"] == str(conversations)
    assert m["total/user_messages"] == str(messages) and m["total/bot_messages"] == str(bot)
    assert m["channel/(unknown)/user_messages"] == str(messages)  # Agent.handle_text sets no input channel
    assert m["intent/feedback_unhelpful"] == str(unhelpful) and m["total/unhelpful"] == str(unhelpful)
    assert m["total/out_of_scope"].split()[0] == str(out_of_scope)
    assert m[f"unhelpful_row/{chat.slot('last_rows')[0]}/unhelpful"] != "0"
    assert "种牙能报销吗" in export.read_text(encoding="utf-8")
    assert ID_NUMBER not in html and ID_NUMBER not in export.read_text(encoding="utf-8")
