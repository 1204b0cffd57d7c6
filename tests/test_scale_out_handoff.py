"""The live handoff on the scale profile: two Rasa replicas (one Sanic worker each) and two action
servers behind nginx, PostgreSQL and Redis, every channel (REST, web chat, WeChat and Telegram against
the fake APIs of tests/fakes.py) and the inbox on both replicas, the handoff open around the clock.

What is checked is what the issue asks of the scale-out: each replica's inbox shows the conversations
of every replica, one agent at a time has a conversation whichever replica the other agent uses, and an
agent's reply reaches the user on the user's own channel whichever replica the user's connection is on:
a web chat page (connected through nginx, whose /socket.io/ is sticky) gets replies written on *both*
replicas — so on the one it is not connected to — through the replicas' Socket.IO Redis manager; a page
closed at the moment of the reply gets it when it opens again; a REST user gets it with the next message
on the other replica; Telegram and WeChat get it through their APIs from the other replica.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
import urllib.error
import urllib.request
import uuid
from typing import Any, Dict, List, Optional, Tuple
from urllib.parse import urlencode

import pytest

from channels.handoff_delivery import OPEN_PAGE_KEY
from channels.inbox import conversation_key
from deploy.cluster import MODEL, Cluster
from test_scale_out import (REDIS, TG_SECRET, passive_text, pg_cursor, post_raw, replica_base, scale_cluster,
                            wechat)
from test_scale_out import fakes  # noqa: F401  (the fixture: the fake WeChat API and Bot API)
from yibao.texts import load_texts

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

TEXTS = load_texts()
REDIS_DB = 4  # the lock store's database here: not a running demo's (1), nor test_scale_out's (3)
WANG = "wangfang-scale-token-0123456789"
LI = "liqiang-scale-token-0123456789"
ALWAYS_OPEN = ('enabled: true\nweekdays: [1, 2, 3, 4, 5, 6, 7]\nhours: [["00:00", "24:00"]]\n'
               "expected_wait_minutes: 4\npickup_timeout_minutes: 60\nagent_idle_timeout_minutes: 60\n")
CHANNELS = """channels.rest.RestInput:
channels.wechat.WeChatInput:
channels.telegram.TelegramInput:
channels.inbox.InboxInput:
channels.socketio.SocketIOInput:
  user_message_evt: user_uttered
  bot_message_evt: bot_uttered
  session_persistence: true
  socketio_path: /socket.io
  chat_path: /chat
"""


@pytest.fixture(scope="module")
def desk(tmp_path_factory, fakes):
    import redis

    workdir = tmp_path_factory.mktemp("scale-handoff")
    settings = workdir / "handoff.yml"
    settings.write_text(ALWAYS_OPEN, encoding="utf-8")
    env = {"HANDOFF_ENABLED": "1", "HANDOFF_FILE": str(settings), "INBOX_AGENTS": f"王芳:{WANG},李强:{LI}",
           # What the scale profile sets by default (deploy/cluster.py), on this test's own pub/sub channel.
           "SOCKETIO_REDIS_URL": f"redis://{REDIS['host']}:{REDIS['port']}/2",
           "SOCKETIO_REDIS_CHANNEL": f"yibao-test:{uuid.uuid4().hex}",
           **fakes.env(), "WECHAT_REPLY_DEADLINE": "30"}  # every WeChat bot answer passive: easy to read
    with scale_cluster(workdir, CHANNELS, env, REDIS_DB) as (cluster, db, prefix):
        yield cluster, db, redis.Redis(db=REDIS_DB, **REDIS), prefix


# ---------------------------------------------------------------------------------------- helpers
def front(cluster: Cluster) -> str:
    return f"http://127.0.0.1:{cluster.rasa_port}"


def inbox(cluster: Cluster, index: int, path: str, fields: Optional[Dict[str, str]] = None,
          token: str = WANG) -> Tuple[int, str]:
    """The inbox of replica `index`, as an agent's script uses it (Bearer token)."""
    data = urlencode(fields).encode() if fields is not None else None
    request = urllib.request.Request(f"{replica_base(cluster, index)}/inbox{path}", data=data,
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode("utf-8")


def reply(cluster: Cluster, index: int, sender: str, text: str, token: str = WANG) -> Tuple[int, str]:
    return inbox(cluster, index, f"/c/{conversation_key(sender)}/reply", {"text": text}, token)


def rest(cluster: Cluster, index: int, sender: str, text: str) -> List[str]:
    body = json.dumps({"sender": sender, "message": text}, ensure_ascii=False).encode("utf-8")
    status, answer = post_raw(f"{replica_base(cluster, index)}/webhooks/rest/webhook", body,
                              {"Content-Type": "application/json"})
    assert status == 200, answer
    return [item.get("text") for item in json.loads(answer)]


def agent_messages(db: str, sender: str) -> List[Tuple[str, str]]:
    with pg_cursor(db) as cursor:
        cursor.execute("SELECT data FROM events WHERE sender_id = %s AND type_name = 'bot' ORDER BY id", (sender,))
        rows = [json.loads(data) for (data,) in cursor.fetchall()]
    return [(row["text"], row["metadata"]["handoff_agent"]) for row in rows
            if (row.get("metadata") or {}).get("handoff_agent")]


class Page:
    """A web chat page: python-socketio's client on long-polling (what the widget uses), through nginx."""

    def __init__(self, base: str, session_id: str) -> None:
        import socketio

        self.base, self.session_id = base, session_id
        self.client = socketio.AsyncClient(reconnection=False)
        self.received: List[str] = []
        self.client.on("bot_uttered", lambda data: self.received.append((data or {}).get("text", "")))
        self._confirmed = asyncio.Event()
        self.client.on("session_confirm", lambda _: self._confirmed.set())

    async def open(self) -> "Page":
        await self.client.connect(self.base, transports=["polling"], socketio_path="/socket.io")
        await self.client.emit("session_request", {"session_id": self.session_id})
        await asyncio.wait_for(self._confirmed.wait(), 30)
        return self

    async def say(self, text: str) -> None:
        await self.client.emit("user_uttered", {"message": text, "session_id": self.session_id})

    async def wait_for(self, fragment: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for text in self.received:
                if fragment in text:
                    return text
            await asyncio.sleep(0.1)
        raise AssertionError(f"{fragment!r} not received: {self.received}")

    async def close(self) -> None:
        await self.client.disconnect()


def until(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.1)


async def in_thread(function: Any, *args: Any) -> Any:
    return await asyncio.to_thread(function, *args)


# ---------------------------------------------------------------------------------------- tests
def test_a_web_chat_user_gets_replies_written_on_either_replica(desk):
    cluster, db, redis_client, prefix = desk
    session = "scalehandoff" + uuid.uuid4().hex[:12]
    open_page_key = f"{prefix}:channel:{OPEN_PAGE_KEY.format(session)}"

    async def scenario() -> None:
        page = await Page(front(cluster), session).open()
        await page.say("转人工")
        assert "约4分钟" in await page.wait_for("约4分钟")
        await page.say("有人吗")  # nobody has picked up yet: told the message arrived
        await page.wait_for(TEXTS["handoff_still_waiting"])

        # Each replica's inbox lists it, whichever replica the page is on.
        for index in (0, 1):
            status, listing = await in_thread(inbox, cluster, index, "/")
            assert status == 200 and conversation_key(session) in listing and "socketio" in listing

        # One of the two replicas is not the one the page polls: both replies arrive.
        for index, text in ((0, "您好，我是王芳（一）"), (1, "您好，我是王芳（二）")):
            status, answer = await in_thread(reply, cluster, index, session, text)
            assert status == 200 and TEXTS["inbox_sent"] in answer, answer
            await page.wait_for(text)
        # Another agent, on either replica, cannot take it meanwhile.
        for index in (0, 1):
            status, answer = await in_thread(reply, cluster, index, session, "我是李强", LI)
            assert status == 409 and TEXTS["inbox_taken"].format(agent="王芳") in answer

        # The page is closed: the next reply is kept, and the reopened page gets it.
        await page.close()
        deadline = time.monotonic() + 10
        while redis_client.exists(open_page_key) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert not redis_client.exists(open_page_key)
        status, answer = await in_thread(reply, cluster, 0, session, "您好，还在吗（三）")
        assert status == 200 and TEXTS["inbox_sent_later"] in answer, answer
        page = await Page(front(cluster), session).open()
        await page.wait_for("还在吗（三）")

        # Handed back on replica 2: the page is told, and the bot answers again.
        status, _ = await in_thread(inbox, cluster, 1, f"/c/{conversation_key(session)}/resume", {})
        assert status == 200
        await page.wait_for(TEXTS["handoff_resumed"])
        await page.say("亲情账户绑定后多久生效")
        await page.wait_for("哪天绑定")
        assert [text for text in page.received if "李强" in text] == []
        await page.close()

    asyncio.run(scenario())
    assert agent_messages(db, session) == [
        ("您好，我是王芳（一）", "王芳"), ("您好，我是王芳（二）", "王芳"), ("您好，还在吗（三）", "王芳")]


def test_rest_telegram_and_wechat_users_get_a_reply_written_on_the_other_replica(desk, fakes):
    cluster, db, _, _ = desk

    # REST: handed over on replica 1, the agent writes on replica 2, the user's next message (replica 1)
    # brings it.
    sender = "scale-handoff-rest-" + uuid.uuid4().hex[:8]
    assert "约4分钟" in rest(cluster, 0, sender, "转人工")[0]
    status, answer = reply(cluster, 1, sender, "您好，REST用户")
    assert status == 200 and TEXTS["inbox_sent_later"] in answer
    assert rest(cluster, 0, sender, "好的") == ["您好，REST用户"]

    # Telegram: handed over on replica 2, the reply written on replica 1 goes out through sendMessage.
    chat_id = 6_000_000 + random.randint(0, 999_999)
    update_id = int(time.time())
    update = {"update_id": update_id, "message": {
        "message_id": 1, "date": int(time.time()), "from": {"id": chat_id, "is_bot": False, "first_name": "测"},
        "chat": {"id": chat_id, "type": "private"}, "text": "转人工"}}
    body = json.dumps(update, ensure_ascii=False).encode("utf-8")
    status, _ = post_raw(f"{replica_base(cluster, 1)}/webhooks/telegram/webhook", body,
                         {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert status == 200
    until(lambda: any("约4分钟" in text for text in fakes.telegram.texts_for(chat_id)))
    # Written while nobody has picked up (on the other replica): told once that it arrived.
    update = {**update, "update_id": update_id + 1, "message": {**update["message"], "message_id": 2, "text": "有人吗"}}
    body = json.dumps(update, ensure_ascii=False).encode("utf-8")
    status, _ = post_raw(f"{replica_base(cluster, 0)}/webhooks/telegram/webhook", body,
                         {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": TG_SECRET})
    assert status == 200
    until(lambda: fakes.telegram.texts_for(chat_id)[-1:] == [TEXTS["handoff_still_waiting"]])
    status, answer = reply(cluster, 0, str(chat_id), "您好，Telegram用户")
    assert status == 200 and TEXTS["inbox_sent"] in answer
    assert fakes.telegram.texts_for(chat_id)[-1] == "您好，Telegram用户"

    # WeChat: handed over on replica 1, the reply written on replica 2 goes out through the
    # customer-service message API.
    openid = "oScaleHandoff" + uuid.uuid4().hex[:16]
    assert "约4分钟" in (passive_text(wechat(cluster, 0, openid, "转人工")) or "")
    assert passive_text(wechat(cluster, 1, openid, "有人吗")) == TEXTS["handoff_still_waiting"]
    status, answer = reply(cluster, 1, openid, "您好，微信用户")
    assert status == 200 and TEXTS["inbox_sent"] in answer
    until(lambda: fakes.wechat.texts_to(openid) == ["您好，微信用户"])

    for who, text in ((sender, "您好，REST用户"), (str(chat_id), "您好，Telegram用户"), (openid, "您好，微信用户")):
        assert agent_messages(db, who) == [(text, "王芳")]
