"""Change without downtime: a real action server (python -m actions.server) answers from a temp copy of
the table; an edited table is served without a restart, a broken one is refused and the previous table
keeps serving, and the token-protected reload endpoint reports the check's errors."""
from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from datetime import datetime

import pytest

from conftest import FIXTURES
from servers import cluster, env, free_port, stop, wait_http
from yibao.table_store import TableStore

TOKEN = "test-reload-token-123"
NOV_23 = datetime.fromisoformat("2026-11-23T10:00:00+08:00").timestamp()
OLD = "绑定成功后立即生效，部分地区约30天等待期。"
NEW = "绑定成功后马上就能用，部分地区有等待期（第二版）。"
NEWER = "绑定成功后马上就能用，部分地区有等待期（第三版）。"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("policy")
    table = folder / "policy_table.csv"
    shutil.copy(FIXTURES / "policy_small.csv", table)
    shutil.copy(FIXTURES / "sources_small.csv", folder / "sources.csv")
    port = free_port()
    variables = {**env(), "POLICY_TABLE": str(table), "POLICY_SOURCES": str(folder / "sources.csv"),
                 "POLICY_RELOAD_TOKEN": TOKEN, "ACTION_SERVER_SANIC_WORKERS": "1"}
    process = cluster.start_action_server(port, folder / "actions.log", env=variables)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", process)
        yield {"url": f"http://127.0.0.1:{port}", "table": table, "process": process, "log": folder / "actions.log"}
    finally:
        stop(process)


def call(url: str, body: dict | None = None, token: str | None = None, method: str | None = None):
    data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method or ("POST" if data is not None else "GET"))
    request.add_header("Content-Type", "application/json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def action_request(text: str, intent: str, entities: list[dict]) -> dict:
    """What Rasa posts to the action server to run action_answer after a user message."""
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.98}, "entities": entities,
              "intent_ranking": [{"name": intent, "confidence": 0.98}], "message_id": "m1"}
    return {
        "next_action": "action_answer",
        "sender_id": "reload-test",
        "version": "3.6.21",
        "domain": {},
        "tracker": {
            "sender_id": "reload-test",
            "slots": {"topic": None, "account_type": None, "insured_region": None, "treatment_region": None,
                      "bind_date": None, "insurance_type": None, "relation": None, "last_rows": None,
                      "feedback": None, "asked_slot": None},
            "latest_message": latest,
            "latest_event_time": NOV_23,
            "followup_action": None,
            "paused": False,
            "events": [
                {"event": "action", "timestamp": NOV_23 - 1, "name": "action_session_start"},
                {"event": "session_started", "timestamp": NOV_23 - 1},
                {"event": "action", "timestamp": NOV_23 - 1, "name": "action_listen"},
                {"event": "user", "timestamp": NOV_23, "text": text, "parse_data": latest, "input_channel": "rest"},
            ],
            "latest_input_channel": "rest",
            "active_loop": {},
            "latest_action": {"action_name": "action_listen"},
            "latest_action_name": "action_listen",
        },
    }


def answer(server) -> str:
    status, body = call(server["url"] + "/webhook", action_request(
        "家庭共济多久生效", "effective_time", [{"entity": "account_type", "value": "家庭共济", "start": 0, "end": 4}]))
    assert status == 200, body
    slots = {event["name"]: event["value"] for event in body["events"] if event["event"] == "slot"}
    assert slots["last_rows"] == ["t-eff-gj"]
    return body["responses"][0]["text"]


def edit(path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


def line_of(path, row_id: str) -> int:
    return next(number for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                if line.startswith(row_id + ","))


def test_edited_table_is_served_without_restart_and_a_broken_one_is_refused(server):
    pid = server["process"].pid
    assert answer(server).startswith(OLD)

    # An operator edits an answer: the next message gets it (the file watch), no restart.
    edit(server["table"], OLD, NEW)
    assert answer(server).startswith(NEW)

    # A broken edit (a region that does not exist), together with another answer change: refused as a
    # whole, the previous table keeps serving.
    edit(server["table"], NEW, NEWER)
    edit(server["table"], "t-remote-sh,remote_use,pair,1,家庭共济,上海,", "t-remote-sh,remote_use,pair,1,家庭共济,火星,")
    bad_line = line_of(server["table"], "t-remote-sh")
    assert answer(server).startswith(NEW)

    status, body = call(server["url"] + "/policy/reload", {}, token=TOKEN)
    assert status == 422 and body["status"] == "refused"
    assert [(e["file"], e["line"], e["column"]) for e in body["errors"]] == [("policy_table.csv", bad_line, "region")]
    assert "火星" in body["errors"][0]["message_zh"] and "region" in body["errors"][0]["message_en"]
    assert body["errors"][0]["text"].startswith(f"policy_table.csv:{bad_line} [region]")
    assert body["serving"]["rows"] == 23
    assert answer(server).startswith(NEW)

    status, state = call(server["url"] + "/policy/status", token=TOKEN)
    assert status == 200 and state["rows"] == 23 and state["loaded_at"]
    assert state["last_error"][0]["line"] == bad_line

    # Fixed: the reload endpoint loads it at once and reports the row count.
    edit(server["table"], ",家庭共济,火星,", ",家庭共济,上海,")
    status, body = call(server["url"] + "/policy/reload", {}, token=TOKEN)
    assert status == 200 and body["status"] == "loaded" and body["rows"] == 23 and body["last_error"] is None
    assert answer(server).startswith(NEWER)
    assert server["process"].pid == pid and server["process"].poll() is None
    assert "policy table refused" in server["log"].read_text(encoding="utf-8", errors="replace")


def test_reload_needs_the_token(server):
    assert call(server["url"] + "/policy/reload", {})[0] == 401
    assert call(server["url"] + "/policy/reload", {}, token="wrong")[0] == 403
    assert call(server["url"] + "/policy/status")[0] == 401
    assert call(server["url"] + "/policy/status", token="wrong")[0] == 403
    assert call(server["url"] + "/actions")[0] == 200


def test_endpoints_do_not_exist_without_a_token(tmp_path):
    from sanic import Sanic

    from actions.server import create_app

    Sanic.test_mode = True  # rasa_sdk names every app "rasa_sdk"
    store = TableStore(FIXTURES / "policy_small.csv", FIXTURES / "sources_small.csv")
    app = create_app("actions", store=store, token="")
    _, reply = app.test_client.post("/policy/reload", headers={"Authorization": "Bearer anything"})
    assert reply.status == 404
    _, reply = app.test_client.get("/policy/status")
    assert reply.status == 404
    _, reply = app.test_client.get("/health")
    assert reply.status == 200


def test_in_process_app_serves_the_given_store(tmp_path):
    from sanic import Sanic

    from actions.server import create_app

    Sanic.test_mode = True
    shutil.copy(FIXTURES / "sources_small.csv", tmp_path / "sources.csv")
    table = tmp_path / "policy_table.csv"
    table.write_text((FIXTURES / "policy_small.csv").read_text(encoding="utf-8").replace(
        "t-contact-zmd,contact,local,2,", "t-contact-zmd,contact,local,two,"), encoding="utf-8")
    store = TableStore(table, tmp_path / "sources.csv")
    app = create_app("actions", store=store, token="t")
    _, reply = app.test_client.post("/policy/reload", headers={"Authorization": "Bearer t"})
    assert reply.status == 422
    assert reply.json["errors"][0]["column"] == "rank" and reply.json["serving"]["rows"] == 0
