"""The live handoff end to end: a real Rasa server with the trained model, the REST channel and the
inbox, a real action server with the handoff switched on (open around the clock, so the test does not
depend on when it runs). What a REST user and an agent see, and what the tracker store keeps."""

from __future__ import annotations

import json
import os
import sqlite3
import urllib.request
from urllib.parse import urlencode

import pytest

from channels.inbox import conversation_key
from rasa_server import RasaServer, post_json
from servers import MODEL, PROJECT, cluster, free_port, stop
from shared_stack import socketio_credentials
from test_webchat_browser import CHROMIUM, LAUNCH_ARGS, Phone, needs_browser
from yibao.texts import load_texts

pytestmark = pytest.mark.e2e

TEXTS = load_texts()
SCREENSHOT = PROJECT / "docs" / "img" / "inbox.png"
TOKEN = "wangfang-e2e-token-0123456789"
ALWAYS_OPEN = 'enabled: true\nweekdays: [1, 2, 3, 4, 5, 6, 7]\nhours: [["00:00", "24:00"]]\n' \
              "expected_wait_minutes: 4\npickup_timeout_minutes: 60\nagent_idle_timeout_minutes: 60\n"


def start_stack(work, settings_text, extra_env=None):
    settings = work / "handoff.yml"
    settings.write_text(settings_text, encoding="utf-8")
    env = {"HANDOFF_ENABLED": "1", "HANDOFF_FILE": str(settings), "INBOX_AGENTS": f"王芳:{TOKEN}", **(extra_env or {})}
    action_port = free_port()
    actions = cluster.start_action_server(action_port, work / "actions.log", cluster.base_env(env))
    cluster.wait_http(f"http://127.0.0.1:{action_port}/health", actions, 180)
    credentials = {"channels.rest.RestInput": None, "channels.inbox.InboxInput": None,
                   "channels.socketio.SocketIOInput": socketio_credentials()}
    server = RasaServer(work, action_port, env=env, credentials=credentials)
    try:
        server.start()
    except BaseException:
        stop(actions)
        raise
    return server, actions


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    if not MODEL.exists():
        pytest.skip("needs the trained model: run `make train`")
    server, actions = start_stack(tmp_path_factory.mktemp("handoff"), ALWAYS_OPEN)
    try:
        yield server
    finally:
        server.stop()
        stop(actions)


@pytest.fixture(scope="module")
def impatient_stack(tmp_path_factory):
    """Nobody ever picks up: the pickup timeout is 0 minutes and the sweep runs every second."""
    if not MODEL.exists():
        pytest.skip("needs the trained model: run `make train`")
    settings = ALWAYS_OPEN.replace("pickup_timeout_minutes: 60", "pickup_timeout_minutes: 0")
    server, actions = start_stack(tmp_path_factory.mktemp("handoff-timeout"), settings, {"INBOX_SWEEP_SECONDS": "1"})
    try:
        yield server
    finally:
        server.stop()
        stop(actions)


def say(server, sender, text):
    status, reply = post_json(f"{server.base}/webhooks/rest/webhook", {"sender": sender, "message": text})
    assert status == 200, reply
    return [m.get("text") for m in reply]


def inbox(server, path, fields=None, token=TOKEN):
    data = urlencode(fields).encode() if fields is not None else None
    request = urllib.request.Request(f"{server.base}/inbox{path}", data=data,
                                     headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def test_a_rest_user_reaches_an_agent_and_comes_back_to_the_bot(stack):
    sender = "handoff-e2e-1"
    assert "约4分钟" in say(stack, sender, "转人工")[0]
    # Paused: no bot answer and no apology, only the notice that the message reached the agents (once).
    assert say(stack, sender, "我手机号13812345678，亲情账户绑不上") == [TEXTS["handoff_still_waiting"]]
    assert say(stack, sender, "有人吗") == []

    status, page = inbox(stack, "/")
    assert status == 200 and conversation_key(sender) in page and "有人吗" in page  # the last question
    status, page = inbox(stack, f"/c/{conversation_key(sender)}")
    assert status == 200 and "138****5678" in page and "13812345678" not in page
    assert TEXTS["handoff_still_waiting"] in page  # the agent sees what the user was told
    assert inbox(stack, "/", token=None)[0] == 401

    status, page = inbox(stack, f"/c/{conversation_key(sender)}/reply", {"text": "您好，我是王芳，请问提示什么？"})
    assert status == 200 and TEXTS["inbox_sent_later"] in page
    assert say(stack, sender, "提示未参保") == ["您好，我是王芳，请问提示什么？"]

    status, _ = inbox(stack, f"/c/{conversation_key(sender)}/resume", {})
    assert status == 200
    answer = say(stack, sender, "亲情账户绑定后多久生效")
    assert answer[0] == TEXTS["handoff_resumed"]
    assert len(answer) >= 2 and "生效" in answer[1], answer

    with sqlite3.connect(stack.db) as db:
        rows = [json.loads(data) for (data,) in db.execute(
            "SELECT data FROM events WHERE sender_id = ? AND type_name = 'bot'", (sender,))]
    agent = [row for row in rows if (row.get("metadata") or {}).get("handoff_agent")]
    assert [(row["text"], row["metadata"]["handoff_agent"]) for row in agent] == [("您好，我是王芳，请问提示什么？", "王芳")]


@needs_browser
def test_an_agent_answers_a_web_chat_user_from_the_inbox_in_chromium(stack):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        try:
            phone = Phone(browser)
            phone.open(stack.base)
            phone.say("我的亲情账户绑不上，我手机号13912345678", "")
            phone.say("转人工", "约4分钟")

            desk = browser.new_context(viewport={"width": 1100, "height": 760}, locale="zh-CN")
            agent = desk.new_page()
            agent.set_default_timeout(60_000)
            dialogs: list[str] = []
            agent.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
            agent.goto(stack.base + "/inbox/")
            agent.fill("input[name=token]", TOKEN)
            agent.click("button[type=submit]")
            row = agent.locator("tr", has_text="socketio").filter(has_text="转人工").first
            row.wait_for()
            row.locator("a").click()
            # Personal numbers are masked for the agent too.
            agent.locator("#history", has_text="139****5678").wait_for()
            assert "13912345678" not in agent.content()

            agent.fill("textarea[name=text]", "您好，我是王芳。<b>请问</b>绑定时提示什么？")
            # The user writes while the agent types: the history shows it without a reload, and the
            # reply being typed is kept.
            phone.say("我再补充一句：提示未参保", "已转给人工客服")
            agent.locator("#history", has_text="我再补充一句").wait_for(timeout=30_000)
            assert agent.input_value("textarea[name=text]") == "您好，我是王芳。<b>请问</b>绑定时提示什么？"
            agent.click("text=" + TEXTS["inbox_reply"])
            agent.locator(".note", has_text=TEXTS["inbox_sent"]).wait_for()
            phone.wait_for_response("我是王芳")
            assert "<b>请问</b>" in agent.locator("#history").inner_text()  # shown as text, not markup

            shot = agent.screenshot(full_page=True)
            assert len(shot) > 20_000
            # Rewritten only on request (UPDATE_SCREENSHOT=1), so a test run leaves the work tree clean.
            if os.environ.get("UPDATE_SCREENSHOT") or not SCREENSHOT.exists():
                SCREENSHOT.write_bytes(shot)

            agent.click("text=" + TEXTS["inbox_hand_back"])
            agent.locator(".note", has_text=TEXTS["inbox_handed_back"]).wait_for()
            phone.wait_for_response(TEXTS["handoff_resumed"])
            assert phone.say("亲情账户绑定后多久生效", "生效")
            assert dialogs == [] and phone.dialogs == [] and phone.outside == []
        finally:
            browser.close()


def test_when_nobody_picks_up_the_bot_apologises_with_12393_and_answers_again(impatient_stack):
    import time

    sender = "handoff-e2e-timeout"
    assert "约4分钟" in say(impatient_stack, sender, "转人工")[0]
    deadline = time.time() + 30
    while time.time() < deadline:  # the sweep (every second) hands back through Rasa's tracker store
        with sqlite3.connect(impatient_stack.db) as db:
            if db.execute("SELECT 1 FROM events WHERE sender_id = ? AND type_name = 'resume'", (sender,)).fetchone():
                break
        time.sleep(0.5)
    answer = say(impatient_stack, sender, "亲情账户绑定后多久生效")
    assert answer[0].startswith(TEXTS["handoff_no_pickup"]) and "12393" in answer[0], answer
    assert len(answer) >= 2 and "生效" in answer[1], answer
