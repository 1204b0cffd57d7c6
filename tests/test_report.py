"""`make report` on a tracker store filled with a scripted set of conversations (real Rasa events saved by
Rasa's SQLTrackerStore), in SQLite and in PostgreSQL: the counts in the HTML and in the export."""
from __future__ import annotations

import asyncio
import csv
import io
import re
import subprocess
import sys
import uuid
from datetime import datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from conftest import FIXTURES
from servers import PROJECT, env
from yibao.report.source import tracker_db_url

CHINA_OFFSET = "+08:00"
ID_NUMBER = "110101199003071234"
PHONE = "13812345678"
LOOP = asyncio.new_event_loop()


def at(text: str) -> float:
    return datetime.fromisoformat(text + CHINA_OFFSET).timestamp()


class Script:
    """Builds one conversation out of real Rasa events, the way Rasa and the action server record them."""

    def __init__(self, sender: str, channel: str | None):
        from rasa.shared.core.events import ActionExecuted, SessionStarted

        self.sender, self.channel, self.events = sender, channel, []
        self._action, self._session = ActionExecuted, SessionStarted

    def start(self, when: str) -> "Script":
        t = at(when)
        self.events += [self._action("action_session_start", timestamp=t), self._session(timestamp=t),
                        self._action("action_listen", timestamp=t)]
        return self

    def say(self, when: str, text: str, intent: str, action: str, reply: str = "好的", slots: dict | None = None,
            ranking: list[tuple[str, float]] | None = None) -> "Script":
        from rasa.shared.core.events import BotUttered, SlotSet, UserUttered

        t = at(when)
        ranking = ranking or [(intent, 0.95)]
        parse = {"text": text, "intent": {"name": intent, "confidence": ranking[0][1]}, "entities": [],
                 "intent_ranking": [{"name": n, "confidence": c} for n, c in ranking]}
        self.events.append(UserUttered(text, parse["intent"], [], parse, timestamp=t, input_channel=self.channel,
                                       message_id=uuid.uuid4().hex))
        self.events.append(self._action(action, timestamp=t + 0.1))
        self.events.append(BotUttered(reply, {"buttons": []}, timestamp=t + 0.2))
        for name, value in (slots or {}).items():
            self.events.append(SlotSet(name, value, timestamp=t + 0.3))
        self.events.append(self._action("action_listen", timestamp=t + 0.4))
        return self


def feedback(helpful: bool, topic: str, rows: list[str], slots: dict) -> dict:
    return {"feedback": {"helpful": helpful, "topic": topic, "rows": rows, "slots": slots}}


def conversations() -> list[Script]:
    fallback_ranking = [("nlu_fallback", 0.45), ("out_of_scope", 0.30), ("human_handoff", 0.1)]
    return [
        Script("conv-a-13900001111", "rest").start("2026-11-20T10:00:00")
        .say("2026-11-20T10:00:05", "家庭共济多久生效", "effective_time", "action_answer", "绑定成功后立即生效…",
             {"topic": "effective_time", "account_type": "家庭共济", "last_rows": ["t-eff-gj"]})
        .say("2026-11-20T10:01:00", "没用", "feedback_unhelpful", "action_feedback", "抱歉没能帮到您…",
             feedback(False, "effective_time", ["t-eff-gj"], {"topic": "effective_time", "account_type": "家庭共济"})),
        Script("conv-b", "telegram").start("2026-11-20T11:00:00")
        .say("2026-11-20T11:00:05", "种牙能报销吗", "out_of_scope", "utter_out_of_scope", "超出范围…")
        .say("2026-11-20T11:01:00", "种牙能报销吗？", "out_of_scope", "utter_out_of_scope", "超出范围…")
        .say("2026-11-20T11:02:00", "种牙可以报销吗", "nlu_fallback", "action_fallback_choices", "您是想问…",
             ranking=fallback_ranking)
        .say("2026-11-20T11:03:00", f"我的身份证号{ID_NUMBER}怎么查", "nlu_fallback", "action_fallback_choices",
             "您是想问…", ranking=[("nlu_fallback", 0.4), ("human_handoff", 0.35)]),
        Script("conv-c", "wechat").start("2026-11-20T15:00:00")
        .say("2026-11-20T15:00:05", "我在杭州参保 我妈在延边能共济吗", "remote_use", "action_answer", "暂不能跨省共济…",
             {"topic": "remote_use", "account_type": "家庭共济", "insured_region": "杭州", "treatment_region": "延边",
              "last_rows": ["t-remote-no"]})
        .say("2026-11-20T15:01:00", "/feedback_helpful", "feedback_helpful", "action_feedback", "谢谢…",
             feedback(True, "remote_use", ["t-remote-no"], {"insured_region": "杭州"})),
        Script("conv-d", "rest").start("2026-11-21T09:00:00")
        .say("2026-11-21T09:00:05", "种牙能不能报销", "out_of_scope", "utter_out_of_scope", "超出范围…")
        .say("2026-11-21T09:01:00", f"手机{PHONE} 绑定不了", "bind_failed", "action_answer", "请问是哪种？",
             {"topic": "bind_failed", "asked_slot": "account_type"})
        .say("2026-11-21T09:02:00", '/inform{"account_type": "亲情账户"}', "inform", "action_answer", "1. …",
             {"account_type": "亲情账户", "last_rows": ["t-fail-qq-1", "t-fail-qq-2"], "asked_slot": None})
        .say("2026-11-21T09:03:00", "没帮助", "feedback_unhelpful", "action_feedback", "抱歉…",
             feedback(False, "bind_failed", ["t-fail-qq-1", "t-fail-qq-2"],
                      {"topic": "bind_failed", "account_type": "亲情账户", "note": f"call {PHONE}"})),
        # Across midnight: one conversation on both days.
        Script("conv-e", "telegram").start("2026-11-20T23:50:00")
        .say("2026-11-20T23:50:05", "亲情账户怎么解绑", "unbind", "action_answer", "没有查到可靠的资料…",
             {"topic": "unbind", "account_type": "亲情账户"})
        .say("2026-11-21T00:10:00", "谢谢", "thank", "utter_you_are_welcome", "不客气"),
        # Started the evening before the range (not counted, but its slots carry over), went on after midnight.
        Script("conv-g", "rest").start("2026-11-19T23:30:00")
        .say("2026-11-19T23:30:05", "我在上海，家庭共济异地能用吗", "remote_use", "action_answer", "…",
             {"topic": "remote_use", "account_type": "家庭共济", "insured_region": "上海", "last_rows": ["t-remote-sh"],
              "asked_slot": "treatment_region"})
        .say("2026-11-20T00:30:00", "那河南呢", "inform", "action_answer", "…",
             {"treatment_region": "河南", "asked_slot": None}),
        # After the range.
        Script("conv-f", "rest").start("2026-11-25T10:00:00")
        .say("2026-11-25T10:00:05", "种牙能报销吗", "out_of_scope", "utter_out_of_scope", "超出范围…"),
    ]


def fill(store) -> None:
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    slots = Domain.load(str(PROJECT / "domain.yml")).slots
    for script in conversations():
        tracker = DialogueStateTracker.from_events(script.sender, script.events, slots=slots)
        LOOP.run_until_complete(store.save(tracker))


class Metrics(HTMLParser):
    """data-metric="…" -> the element's text."""

    def __init__(self):
        super().__init__()
        self.values: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        self._open.append(dict(attrs).get("data-metric"))
        if self._open[-1] is not None:
            self.values[self._open[-1]] = ""

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for metric in self._open:
            if metric is not None:
                self.values[metric] += data


def metrics(html: str) -> dict[str, str]:
    parser = Metrics()
    parser.feed(html)
    return {key: value.strip() for key, value in parser.values.items()}


def run_report(db_url: str, out: Path, export: Path, *extra: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "scripts/report.py", "--db", db_url, "--since", "2026-11-20",
                             "--until", "2026-11-21", "--out", str(out), "--unanswered-out", str(export),
                             "--table", str(FIXTURES / "policy_small.csv"),
                             "--sources", str(FIXTURES / "sources_small.csv"), *extra],
                            cwd=PROJECT, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def check_report(html: str) -> None:
    m = metrics(html)
    assert m["total/conversations"] == "6"
    assert m["total/user_messages"] == "15"
    assert m["total/bot_messages"] == "15"
    assert m["day/2026-11-20/conversations"] == "5" and m["day/2026-11-21/conversations"] == "2"
    assert m["day/2026-11-20/user_messages"] == "10" and m["day/2026-11-21/user_messages"] == "5"
    assert m["day/2026-11-20/bot_messages"] == "10" and m["day/2026-11-21/bot_messages"] == "5"
    assert (m["channel/rest/user_messages"], m["channel/telegram/user_messages"], m["channel/wechat/user_messages"]) \
        == ("7", "6", "2")
    assert (m["channel/rest/conversations"], m["channel/telegram/conversations"], m["channel/wechat/conversations"]) \
        == ("3", "2", "1")
    assert m["total/fallback"].startswith("2 (13.3%)") and m["rate/fallback"] == "13.3%"
    assert m["total/out_of_scope"].startswith("3 (20.0%)") and m["rate/out_of_scope"] == "20.0%"
    assert m["intent/out_of_scope"] == "3" and m["intent/nlu_fallback"] == "2" and m["intent/inform"] == "2"
    assert m["total/unanswered"] == "6"
    # The four ways of asking about 种牙 are one cluster; the ID question and the no-rows question are apart.
    assert m["cluster/1/count"] == "4" and m["cluster/1/distinct"] == "3" and m["cluster/1/label"] == "种牙能报销吗"
    assert {m["cluster/2/label"], m["cluster/3/label"]} == {"亲情账户怎么解绑", "我的身份证号[身份证号]怎么查"}
    assert "cluster/4/count" not in m
    # 没帮助 with the rows used, and the 有帮助 row is not listed.
    assert m["unhelpful_row/t-eff-gj/unhelpful"] == "1" and m["unhelpful_row/t-fail-qq-1/unhelpful"] == "1"
    assert "unhelpful_row/t-remote-no/unhelpful" not in m
    assert "绑定成功后立即生效，部分地区约30天等待期。" in html  # the row's answer from the table
    assert m["feedback/1/question"] == "家庭共济多久生效"
    assert m["feedback/2/question"] == "手机138****5678 绑定不了"  # the question, not the button pressed after it
    assert m["feedback/2/rows"] == "t-fail-qq-1, t-fail-qq-2"
    assert m["total/unhelpful"] == "2" and m["total/helpful"] == "1"
    # Regions: 杭州 and 延边 have no rows of their own (nor do 浙江, 吉林); 河南 has; 上海 was before the range.
    assert "region_without_rows/杭州" in m and "region_without_rows/延边" in m
    assert "region_with_rows/河南" in m and "region_without_rows/河南" not in m
    assert not any(key.endswith("/上海") for key in m)
    # Personal numbers never in clear.
    assert ID_NUMBER not in html and PHONE not in html and "13900001111" not in html
    assert "我的身份证号[身份证号]怎么查" in html and "138****5678" in html
    assert "<script" not in html.lower() and "http://" not in html and "https://" not in html


def check_export(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    assert data["version"] == "3.1"
    blocks = data["nlu"]
    assert [block["intent"] for block in blocks] == ["TODO_label"] * 3
    first = [line[2:] for line in blocks[0]["examples"].splitlines()]
    assert first == ["种牙能报销吗", "种牙可以报销吗", "种牙能不能报销"]
    assert "# cluster 1: 4 messages, 3 distinct (fallback 1, out_of_scope 3); suggested intent: out_of_scope" in text
    assert ID_NUMBER not in text and "[身份证号]" in text


def test_report_from_sqlite(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    db = tmp_path / "tracker.db"
    store = SQLTrackerStore(dialect="sqlite", db=str(db))
    fill(store)
    store.engine.dispose()
    out, export = tmp_path / "out" / "report.html", tmp_path / "out" / "unanswered_nlu.yml"
    result = run_report(f"sqlite:///{db}", out, export)
    assert "6 conversations, 15 user messages, fallback 2, out of scope 3, 6 unanswered in 3 clusters" in result.stdout
    check_report(out.read_text(encoding="utf-8"))
    check_export(export)

    # The export loads as Rasa training data.
    from rasa.shared.nlu.training_data.formats.rasa_yaml import RasaYAMLReader

    training = RasaYAMLReader().reads(export.read_text(encoding="utf-8"))
    assert len(training.intent_examples) == 5

    # CSV export, and a range with nothing in it.
    csv_out = tmp_path / "unanswered.csv"
    run_report(f"sqlite:///{db}", tmp_path / "r2.html", csv_out)
    rows = list(csv.DictReader(io.StringIO(csv_out.read_text(encoding="utf-8"))))
    assert rows[0] == {"text": "种牙能报销吗", "count": "2", "suggested_intent": "out_of_scope"}
    assert {row["text"] for row in rows} >= {"种牙可以报销吗", "我的身份证号[身份证号]怎么查"}
    assert sum(int(row["count"]) for row in rows) == 6


def test_empty_range_and_missing_store(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    db = tmp_path / "tracker.db"
    store = SQLTrackerStore(dialect="sqlite", db=str(db))
    fill(store)
    store.engine.dispose()
    result = subprocess.run([sys.executable, "scripts/report.py", "--db", f"sqlite:///{db}", "--since", "2026-10-01",
                             "--until", "2026-10-02", "--out", str(tmp_path / "e.html"),
                             "--unanswered-out", str(tmp_path / "e.yml")],
                            cwd=PROJECT, env=env(), capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    m = metrics((tmp_path / "e.html").read_text(encoding="utf-8"))
    assert m["total/conversations"] == "0" and m["day/2026-10-01/conversations"] == "0"
    assert yaml.safe_load((tmp_path / "e.yml").read_text(encoding="utf-8"))["nlu"] == []

    missing = subprocess.run([sys.executable, "scripts/report.py", "--db", f"sqlite:///{tmp_path / 'none.db'}",
                              "--out", str(tmp_path / "x.html")], cwd=PROJECT, env=env(), capture_output=True,
                             text=True, timeout=300)
    assert missing.returncode == 2 and "tracker store not found" in missing.stderr
    assert not (tmp_path / "none.db").exists()


def test_db_url_comes_from_the_environment_or_the_endpoints_file(tmp_path):
    assert tracker_db_url(tmp_path / "x.yml", {"TRACKER_DB_URL": "sqlite:///a.db"}) == "sqlite:///a.db"
    endpoints = tmp_path / "endpoints.yml"
    endpoints.write_text("tracker_store:\n  type: SQL\n  dialect: sqlite\n  db: tracker.db\n", encoding="utf-8")
    assert tracker_db_url(endpoints, {}) == f"sqlite:///{tmp_path / 'tracker.db'}"
    endpoints.write_text("tracker_store:\n  type: stores.tracker_store.MaskingSQLTrackerStore\n  dialect: postgresql\n"
                         "  url: ${DB_HOST}\n  port: ${DB_PORT}\n  db: rasa\n  username: postgres\n"
                         "  password: s3cret\n  login_db: postgres\n", encoding="utf-8")
    url = tracker_db_url(endpoints, {"DB_HOST": "127.0.0.1", "DB_PORT": "5432"})
    assert url == "postgresql://postgres:s3cret@127.0.0.1:5432/rasa"
    endpoints.write_text("tracker_store:\n  type: redis\n", encoding="utf-8")
    from yibao.report import ReportSourceError

    with pytest.raises(ReportSourceError):
        tracker_db_url(endpoints, {})


def _postgres_admin():
    try:
        import psycopg2

        connection = psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                                      connect_timeout=3)
    except Exception as error:  # noqa: BLE001 - any failure means: no PostgreSQL here
        pytest.skip(f"PostgreSQL not reachable on 127.0.0.1:5432 as postgres: {error}")
    connection.autocommit = True
    return connection


def test_report_from_postgresql(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore

    admin = _postgres_admin()
    name = f"yibao_report_test_{uuid.uuid4().hex[:8]}"
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        store = SQLTrackerStore(dialect="postgresql", host="127.0.0.1", port=5432, db=name, username="postgres")
        fill(store)
        store.engine.dispose()
        out, export = tmp_path / "report.html", tmp_path / "unanswered_nlu.yml"
        result = run_report(f"postgresql://postgres@127.0.0.1:5432/{name}", out, export)
        assert "source: postgresql://postgres@127.0.0.1:5432/" + name in out.read_text(encoding="utf-8")
        assert "6 conversations, 15 user messages" in result.stdout
        check_report(out.read_text(encoding="utf-8"))
        check_export(export)
    finally:
        with admin.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_clusters_group_near_duplicates_deterministically():
    from yibao.report.cluster import cluster_texts

    texts = ["报销比例多少", "种牙能报销吗", "住院报销比例多少", "种牙能报销吗？", "种牙能不能报销", "报销比例是多少啊",
             "亲情账户怎么解绑"]
    clusters = cluster_texts(texts)
    assert [(c.count, c.label) for c in clusters] == [(3, "住院报销比例多少"), (3, "种牙能报销吗"), (1, "亲情账户怎么解绑")]
    assert clusters[1].examples == [("种牙能报销吗", 2), ("种牙能不能报销", 1)]
    assert [c.examples for c in cluster_texts(list(reversed(texts)))][0] == clusters[0].examples
    assert cluster_texts([]) == [] and cluster_texts(["  ", "？"]) == []


def test_user_text_is_escaped_and_masked_in_the_html():
    from yibao.policy import load_table
    from yibao.report import build_report, render_html
    from yibao.report.source import StoredEvent

    t = at("2026-11-20T10:00:00")
    hostile = f"<script>alert('x')</script> 卡号6222 0212 3456 7890 电话{PHONE}"
    events = [
        StoredEvent("s1", "user", t, "nlu_fallback", None,
                    {"event": "user", "text": hostile, "input_channel": "<b>web</b>",
                     "parse_data": {"intent": {"name": "nlu_fallback"}, "intent_ranking": []}}),
        StoredEvent("s1", "action", t + 1, None, "action_fallback_choices", {"event": "action"}),
        StoredEvent("s1", "slot", t + 2, None, "insured_region", {"event": "slot", "name": "insured_region",
                                                                  "value": "<i>火星</i>"}),
    ]
    report = build_report(events, datetime(2026, 11, 20).date(), datetime(2026, 11, 20).date(),
                          load_table(FIXTURES / "policy_small.csv", FIXTURES / "sources_small.csv"))
    html = render_html(report)
    assert "<script>" not in html and "<b>web</b>" not in html and "<i>火星</i>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; 卡号[银行卡号] 电话138****5678" in html
    assert PHONE not in html and "6222 0212" not in html
    assert metrics(html)["region_without_rows/<i>火星</i>"] == "<i>火星</i>"  # as text, once unescaped
