"""Offline tests of the agent inbox (channels/inbox.py) with the REST channel on one in-process Sanic
app, a Rasa in-memory tracker store and lock store, and a fake Rasa that pauses on 转人工 as the
action does. What is checked is what a user or an agent notices: the pages' status codes and text,
the events stored, and the messages that reach the user's channel."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import BotUttered, ConversationPaused, UserUttered
from sanic import Sanic

from channels import handoff_delivery
from channels import inbox as inbox_module
from channels.inbox import InboxInput, agents_from_env, conversation_key
from channels.rest import RestInput
from channels.state import MemoryState
from channels.telegram import TelegramOutput
from channels.wechat import WeChatInput
from aiohttp import web

from fakes import FakeBotAPI, FakeWeChatAPI, _ThreadedServer
from yibao import handoff
from yibao.texts import load_texts

Sanic.test_mode = True

TEXTS = load_texts()
WANG = "wangfang-token-0123456789"
LI = "liqiang-token-0123456789ab"
AGENTS = {WANG: "王芳", LI: "李强"}
BOT_ANSWER = "机器人的回答"
START = 1_790_000_000.0
CONFIG = handoff.config_from_mapping({"enabled": True, "local_contact": {"phone": "0396-2763198"}}, {})


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class FakeSocketIO:
    """Records emits; ``manager.rooms`` as python-socketio keeps it (the sessions connected here)."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any, Any]] = []
        self.manager = SimpleNamespace(rooms={"/": {}})

    def connect(self, room: str) -> None:
        self.manager.rooms["/"][room] = {"sid-1": "eio-1"}

    async def emit(self, event: str, data: Any = None, room: Any = None, **_: Any) -> None:
        self.emitted.append((event, data, room))


class Harness:
    """One app: the inbox, the REST channel, and a Rasa stand-in that pauses on 转人工."""

    def __init__(self, agents: dict[str, str] = AGENTS) -> None:
        self.clock = Clock()
        self.store = InMemoryTrackerStore(Domain.empty())
        self.inbox = InboxInput(agents, state=MemoryState(), config=CONFIG, clock=self.clock, sweep_seconds=0)
        self.app = Sanic(f"inbox_test_{uuid.uuid4().hex[:8]}")
        self.app.ctx.agent = SimpleNamespace(tracker_store=self.store, lock_store=InMemoryLockStore())
        self.sio = FakeSocketIO()
        socketio = SimpleNamespace(name=lambda: "socketio", sio=self.sio, bot_message_evt="bot_uttered")
        self.app.ctx.input_channels = [self.inbox, socketio]
        self.rest = RestInput()
        self.app.blueprint(self.inbox.blueprint(self.rasa), url_prefix="/inbox")
        self.app.blueprint(self.rest.blueprint(self.rasa), url_prefix="/webhooks/rest")

    async def rasa(self, message: UserMessage) -> None:
        tracker = await self.store.get_or_create_tracker(message.sender_id)
        tracker.update(UserUttered(message.text, input_channel=message.input_channel, timestamp=self.clock()))
        if not tracker.is_paused():  # as Rasa's processor: a paused conversation gets no prediction
            reply = handoff.waiting_text(CONFIG, TEXTS) if message.text.startswith("转人工") else BOT_ANSWER
            tracker.update(BotUttered(reply, timestamp=self.clock()))
            if message.text.startswith("转人工"):
                tracker.update(ConversationPaused(timestamp=self.clock()))
            await message.output_channel.send_text_message(message.sender_id, reply)
        await self.store.save(tracker)

    def say(self, sender: str, text: str) -> list[str]:
        body = json.dumps({"sender": sender, "message": text}, ensure_ascii=False).encode()
        _, resp = self.app.test_client.post("/webhooks/rest/webhook", content=body)
        assert resp.status == 200
        return [m["text"] for m in resp.json]

    async def _hand_over(self, sender: str, channel: str, text: str) -> None:
        tracker = await self.store.get_or_create_tracker(sender)
        tracker.update(UserUttered(text, input_channel=channel, timestamp=self.clock()))
        tracker.update(BotUttered(handoff.waiting_text(CONFIG, TEXTS), timestamp=self.clock()))
        tracker.update(ConversationPaused(timestamp=self.clock()))
        await self.store.save(tracker)

    def hands_over(self, sender: str, channel: str = "socketio", text: str = "转人工") -> None:
        """A user of ``channel`` (not the REST channel the harness serves) is handed to the agents."""
        asyncio.run(self._hand_over(sender, channel, text))

    def get(self, path: str, token: str | None = WANG):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        _, resp = self.app.test_client.get(path, headers=headers)
        return resp

    def post(self, path: str, fields: dict[str, str], token: str | None = WANG):
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        _, resp = self.app.test_client.post(path, content=urlencode(fields).encode(), headers=headers,
                                            allow_redirects=False)
        return resp

    def events(self, sender: str) -> list[dict[str, Any]]:
        tracker = asyncio.run(self.store.retrieve(sender))
        return [event.as_dict() for event in tracker.events]


@pytest.fixture
def h():
    return Harness()


def conv(sender: str) -> str:
    return f"/inbox/c/{conversation_key(sender)}"


# ---------------------------------------------------------------------------------- access
def test_no_agents_configured_means_no_inbox():
    h = Harness(agents={})
    assert h.get("/inbox/").status == 404
    assert h.post("/inbox/login", {"token": WANG}, token=None).status == 404


def test_the_inbox_needs_an_agent_token(h):
    anonymous = h.get("/inbox/", token=None)
    assert anonymous.status == 401 and 'name="token"' in anonymous.text
    assert h.get("/inbox/", token="wrong-token-0123456789").status == 403
    assert h.post(conv("u1") + "/reply", {"text": "你好"}, token=None).status == 401


def test_signing_in_sets_a_cookie_only_the_inbox_reads(h):
    refused = h.post("/inbox/login", {"token": "nope"}, token=None)
    assert refused.status == 403 and TEXTS["inbox_bad_token"] in refused.text
    signed_in = h.post("/inbox/login", {"token": WANG}, token=None)
    assert signed_in.status == 303
    cookie = signed_in.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/inbox" in cookie
    session = signed_in.cookies[inbox_module.COOKIE]
    assert WANG not in cookie and len(session) >= 40  # a random session id, never the token itself
    _, page = h.app.test_client.get("/inbox/", cookies={inbox_module.COOKIE: session})
    assert page.status == 200 and "王芳" in page.text
    # The token itself, or a made-up session, is no session.
    for wrong in (WANG, "x" * 43):
        _, page = h.app.test_client.get("/inbox/", cookies={inbox_module.COOKIE: wrong})
        assert page.status == 401 and TEXTS["inbox_session_ended"] in page.text

    # A form posted from another site's page is refused, even with the cookie.
    h.say("u9", "转人工")
    _, forged = h.app.test_client.post(
        conv("u9") + "/reply", content=urlencode({"text": "点这个链接"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.example"},
        cookies={inbox_module.COOKIE: session})
    assert forged.status == 403 and TEXTS["inbox_other_origin"] in forged.text
    assert "点这个链接" not in [e.get("text") for e in h.events("u9")]
    # From the inbox's own page it goes through.
    _, own = h.app.test_client.post(
        conv("u9") + "/reply", content=urlencode({"text": "您好"}).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", "Host": "inbox.example:8443",
                 "Origin": "https://inbox.example:8443"},
        cookies={inbox_module.COOKIE: session})
    assert own.status == 200 and h.events("u9")[-1]["text"] == "您好"

    # Signing out ends the session on the server: the old cookie no longer works.
    _, out = h.app.test_client.post("/inbox/logout", cookies={inbox_module.COOKIE: session}, allow_redirects=False)
    assert out.status == 303
    _, page = h.app.test_client.get("/inbox/", cookies={inbox_module.COOKIE: session})
    assert page.status == 401


def test_changing_an_agents_token_ends_that_agents_sessions(h):
    session = h.post("/inbox/login", {"token": WANG}, token=None).cookies[inbox_module.COOKIE]
    h.inbox.agents = {"wangfang-new-token-0123456789": "王芳", LI: "李强"}
    _, page = h.app.test_client.get("/inbox/", cookies={inbox_module.COOKIE: session})
    assert page.status == 401


def test_agents_are_read_from_the_environment_and_weak_tokens_refused():
    assert agents_from_env({"INBOX_AGENTS": f"王芳:{WANG}, 李强:{LI}"}) == AGENTS
    assert agents_from_env({}) == {}
    for bad in ("王芳:short", f":{WANG}", WANG, f"王芳:{WANG},李强:{WANG}"):
        with pytest.raises(inbox_module.InboxConfigError):
            agents_from_env({"INBOX_AGENTS": bad})


# ---------------------------------------------------------------------------------- REST, end to end
def test_a_rest_user_is_handed_to_an_agent_and_back(h):
    assert h.say("u1", "亲情账户多久生效") == [BOT_ANSWER]
    assert "约5分钟" in h.say("u1", "转人工 我电话13812345678")[0]
    # While with the agents the bot does not answer. Before an agent picks up, the user is told once that
    # the message arrived (no apology, no bot answer); the notice is stored, so the agent sees it too.
    assert h.say("u1", "还在吗") == [TEXTS["handoff_still_waiting"]]
    assert h.say("u1", "有人吗") == []  # once per still_waiting_notice_minutes
    assert [e["metadata"] for e in h.events("u1") if e["event"] == "bot"][-1] == {"handoff_notice": "still_waiting"}

    listing = h.get("/inbox/")
    assert listing.status == 200 and conversation_key("u1") in listing.text
    assert "有人吗" in listing.text and ">rest<" in listing.text  # the last question

    page = h.get(conv("u1"))
    assert page.status == 200 and "138****5678" in page.text and "13812345678" not in page.text

    sent = h.post(conv("u1") + "/reply", {"text": "您好，我是王芳，请问绑定时提示什么？"})
    # Without a callback URL a REST reply waits for the user's next message, and the agent is told so.
    assert sent.status == 200 and TEXTS["inbox_sent_later"] in sent.text
    agent_events = [e for e in h.events("u1") if e["event"] == "bot" and e.get("metadata", {}).get("handoff_agent")]
    assert [(e["text"], e["metadata"]["handoff_agent"]) for e in agent_events] == [
        ("您好，我是王芳，请问绑定时提示什么？", "王芳")
    ]
    # The REST user gets the agent's reply with the next message, and only once.
    assert h.say("u1", "提示未参保") == ["您好，我是王芳，请问绑定时提示什么？"]
    assert h.say("u1", "喂") == []  # an agent is talking with the user now: no notice

    back = h.post(conv("u1") + "/resume", {})
    assert back.status == 200 and TEXTS["inbox_handed_back"] in back.text
    assert h.events("u1")[-1]["event"] == "resume"
    assert h.say("u1", "亲情账户多久生效") == [TEXTS["handoff_resumed"], BOT_ANSWER]
    assert conversation_key("u1") not in h.get("/inbox/").text


def test_one_agent_at_a_time(h):
    h.say("u2", "转人工")
    assert h.post(conv("u2") + "/reply", {"text": "我来接待"}).status == 200
    taken = h.post(conv("u2") + "/reply", {"text": "我也来"}, token=LI)
    assert taken.status == 409 and "王芳" in taken.text
    assert h.post(conv("u2") + "/resume", {}, token=LI).status == 409
    assert "李强" not in json.dumps(h.events("u2"), ensure_ascii=False)
    assert "王芳" in h.get("/inbox/", token=LI).text  # the list says who has it


@pytest.mark.parametrize(
    "text, status, message",
    [
        ("", 400, TEXTS["inbox_empty_reply"]),
        ("   \n ", 400, TEXTS["inbox_empty_reply"]),
        ("长" * 10_000, 413, TEXTS["inbox_reply_too_long"].format(max_chars=2000)),
    ],
)
def test_bad_replies_get_a_clear_error_and_are_not_stored(h, text, status, message):
    h.say("u3", "转人工")
    before = h.events("u3")
    refused = h.post(conv("u3") + "/reply", {"text": text})
    assert refused.status == status and message in refused.text
    assert h.events("u3") == before


def test_html_is_shown_as_text_everywhere(h):
    h.say("u4", "转人工 <img src=x onerror=alert(1)>")
    h.post(conv("u4") + "/reply", {"text": "<script>alert('agent')</script>"})
    for page in (h.get("/inbox/"), h.get(conv("u4"))):
        assert "<img src=x" not in page.text and "<script>alert" not in page.text
    assert "&lt;script&gt;" in h.get(conv("u4")).text
    # Only the inbox's own script file may run: no inline script, nothing from elsewhere.
    policy = h.get(conv("u4")).headers["content-security-policy"]
    assert "script-src 'self';" in policy and "unsafe-inline" not in policy.split("script-src")[1].split(";")[0]
    # The history the page's script swaps in is escaped by the server too.
    fragment = h.get(conv("u4") + "/history")
    assert fragment.status == 200 and "&lt;script&gt;" in fragment.text and "<script>alert" not in fragment.text
    assert "<img src=x" not in fragment.text


def test_the_history_refresh_serves_new_messages_and_stops_when_handed_back(h):
    h.say("u10", "转人工")
    assert "我补充一句" not in h.get(conv("u10") + "/history").text
    h.say("u10", "我补充一句，手机号13812345678")
    fresh = h.get(conv("u10") + "/history")
    assert fresh.status == 200 and "我补充一句" in fresh.text and "138****5678" in fresh.text
    assert h.get(conv("u10") + "/history", token=None).status == 401
    script = h.app.test_client.get("/inbox/static/inbox.js")[1]
    assert script.status == 200 and "javascript" in script.headers["content-type"] and "data-src" in script.text
    h.post(conv("u10") + "/resume", {})
    ended = h.get(conv("u10") + "/history")
    assert ended.status == 409 and TEXTS["inbox_not_waiting"] in ended.text


def test_a_conversation_not_waiting_cannot_be_answered(h):
    h.say("u5", "亲情账户多久生效")
    assert h.get(conv("u5")).status == 409
    assert h.post(conv("u5") + "/reply", {"text": "你好"}).status == 409
    assert h.get(conv("nobody")).status == 404
    assert h.get("/inbox/c/%%%").status in (400, 404)


# ---------------------------------------------------------------------------------- other channels
def test_a_web_chat_user_gets_the_reply_in_their_session_room(h):
    h.hands_over("sess-abc")
    h.sio.connect("sess-abc")
    assert ">socketio<" in h.get("/inbox/").text
    assert h.post(conv("sess-abc") + "/reply", {"text": "您好，我是王芳"}).status == 200
    assert h.sio.emitted == [("bot_uttered", {"text": "您好，我是王芳"}, "sess-abc")]


def test_a_telegram_user_gets_the_reply_by_send_message(h):
    api = FakeBotAPI("123456789:AAH-fake_token_for_tests_only", "yibao_family_bot")
    api.start()
    try:
        output = TelegramOutput("123456789:AAH-fake_token_for_tests_only", api_base=api.base)
        telegram = SimpleNamespace(name=lambda: "telegram", get_output_channel=lambda: output)
        h.app.ctx.input_channels.append(telegram)

        h.hands_over("987654321", "telegram")
        assert h.post(conv("987654321") + "/reply", {"text": "您好，我是王芳"}).status == 200
        sent = [fields for method, fields in api.calls if method == "sendMessage"]
        assert [(f["chat_id"], f["text"]) for f in sent] == [("987654321", "您好，我是王芳")]
    finally:
        api.stop()


def test_a_wechat_user_gets_the_reply_through_the_customer_service_api(h):
    api = FakeWeChatAPI().start()
    try:
        wechat = WeChatInput(token="wechatToken123", appid="wx1234567890abcdef", appsecret="s3cret-app",
                             api_base=api.base)
        h.app.ctx.input_channels.append(wechat)

        h.hands_over("oOPENID_user_1", "wechat")
        sent = h.post(conv("oOPENID_user_1") + "/reply", {"text": "您好，我是王芳"})
        assert sent.status == 200 and TEXTS["inbox_sent"] in sent.text
        assert api.texts_to("oOPENID_user_1") == ["您好，我是王芳"]

        # 48 hours and a minute after the user's last message WeChat would refuse: nothing is sent,
        # the reply is stored and the agent is told why.
        h.clock.now = START + 48 * 3600 + 60
        late = h.post(conv("oOPENID_user_1") + "/reply", {"text": "还在吗？"})
        assert late.status == 200 and TEXTS["inbox_wechat_window_closed"] in late.text
        assert api.texts_to("oOPENID_user_1") == ["您好，我是王芳"]
        assert h.events("oOPENID_user_1")[-1]["text"] == "还在吗？"
    finally:
        api.stop()


class FakeCallback(_ThreadedServer):
    """The operator's app behind REST: records what is POSTed to it, answers ``status``."""

    def __init__(self, status: int = 200) -> None:
        super().__init__()
        self.status = status
        self.received: list[Any] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/yibao/replies", self._receive)

    async def _receive(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        return web.json_response({}, status=self.status)


@pytest.mark.parametrize("status", [200, 500])
def test_a_rest_reply_is_posted_to_the_callback_url_or_waits_when_it_fails(h, status):
    callback = FakeCallback(status).start()
    try:
        h.app.ctx.input_channels.append(RestInput(callback_url=callback.base + "/yibao/replies"))
        h.say("u8", "转人工")
        assert h.post(conv("u8") + "/reply", {"text": "您好，我是王芳"}).status == 200
        assert callback.received == [[{"recipient_id": "u8", "text": "您好，我是王芳"}]]
        # Delivered: not again with the next message; refused: it waits for the next message.
        assert h.say("u8", "好的") == ([] if status == 200 else ["您好，我是王芳"])
    finally:
        callback.stop()


def test_a_web_chat_user_whose_page_is_closed_gets_the_reply_when_the_page_comes_back(h):
    from channels.socketio import SocketIOInput

    h.hands_over("sess-gone")
    sent = h.post(conv("sess-gone") + "/reply", {"text": "您好，我是王芳"})
    assert sent.status == 200 and TEXTS["inbox_sent_later"] in sent.text
    assert h.sio.emitted == [] and h.events("sess-gone")[-1]["text"] == "您好，我是王芳"

    # The page is opened again: the real channel's session_request sends what the agent wrote.
    channel = SocketIOInput(session_persistence=True)
    channel.blueprint(h.rasa)
    packets: list[str] = []

    async def come_back() -> None:
        async def send_eio_packet(eio_sid: str, packet: Any) -> None:
            packets.append(packet.data)

        channel.sio._send_eio_packet = send_eio_packet  # the socket's transport
        sid = await channel.sio.manager.connect("eio-back", "/")
        await channel.sio.handlers["/"]["session_request"](sid, {"session_id": "sess-gone"})

    asyncio.run(come_back())
    events = [json.loads(packet[1:]) for packet in packets if packet.startswith("2")]
    assert events == [["session_confirm", "sess-gone"], ["bot_uttered", {"text": "您好，我是王芳"}]]
    assert asyncio.run(handoff_delivery.take_pending_here("sess-gone")) == []  # once


def test_a_reply_that_cannot_be_delivered_is_stored_and_the_agent_told(h):
    h.hands_over("wx-openid", "wechat")  # no WeChat channel on this server
    sent = h.post(conv("wx-openid") + "/reply", {"text": "您好"})
    assert sent.status == 200 and TEXTS["inbox_sent_stored_only"].format(channel="wechat") in sent.text
    assert h.events("wx-openid")[-1]["text"] == "您好"


# ---------------------------------------------------------------------------------- timeouts
def test_nobody_picks_up_then_the_bot_apologises_with_the_numbers_and_answers_again(h):
    h.say("u6", "转人工")
    h.clock.now += CONFIG.pickup_timeout_minutes * 60 - 1
    assert asyncio.run(h.inbox.sweep_once(h.app)) == []
    h.clock.now += 1
    assert asyncio.run(h.inbox.sweep_once(h.app)) == [("u6", handoff.NO_PICKUP)]
    assert asyncio.run(h.inbox.sweep_once(h.app)) == []  # once
    apology = handoff.timeout_text(handoff.NO_PICKUP, CONFIG, TEXTS)
    assert "12393" in apology and "0396-2763198" in apology
    last = h.events("u6")[-3:]
    assert [e["event"] for e in last] == ["bot", "action", "resume"] and last[0]["text"] == apology
    assert h.say("u6", "亲情账户多久生效") == [apology, BOT_ANSWER]


def test_an_agent_who_stops_answering_hands_back_to_the_bot(h):
    h.say("u7", "转人工")
    h.post(conv("u7") + "/reply", {"text": "您好"})
    h.say("u7", "我绑不上")
    h.clock.now += CONFIG.agent_idle_timeout_minutes * 60
    assert asyncio.run(h.inbox.sweep_once(h.app)) == [("u7", handoff.AGENT_IDLE)]
    assert h.say("u7", "在吗") == [handoff.timeout_text(handoff.AGENT_IDLE, CONFIG, TEXTS), BOT_ANSWER]


def test_on_an_sql_store_only_conversations_with_the_agents_now_are_loaded(tmp_path):
    from rasa.core.tracker_store import SQLTrackerStore
    from rasa.shared.core.events import ConversationResumed

    store = SQLTrackerStore(Domain.empty(), dialect="sqlite", db=str(tmp_path / "tracker.db"))

    async def fill() -> list[str]:
        for sender, events in {
            "waiting": [ConversationPaused(timestamp=START)],
            "handed-back": [ConversationPaused(timestamp=START), ConversationResumed(timestamp=START + 1)],
            "never": [],
            "paused-again": [ConversationPaused(timestamp=START), ConversationResumed(timestamp=START + 1),
                             ConversationPaused(timestamp=START + 2)],
        }.items():
            tracker = await store.get_or_create_tracker(sender)
            tracker.update(UserUttered("转人工", input_channel="rest", timestamp=START))
            for event in events:
                tracker.update(event)
            await store.save(tracker)
        return await inbox_module.candidate_senders(store)

    assert asyncio.run(fill()) == ["waiting", "paused-again"]
