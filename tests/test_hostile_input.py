"""Hostile and bad input over every channel of one real Rasa server (the trained model, a real action
server, a temporary SQLite tracker store): REST, WeChat, Telegram (against a fake Bot API on
127.0.0.1) and Socket.IO (a python-socketio client over long-polling).

Every case gets a polite answer or a clear 4xx; afterwards the server still answers a normal
question and a conversation stored before the barrage is unchanged.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import threading
import time
import uuid
from datetime import datetime
from zoneinfo import ZoneInfo
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Dict, List, Optional
from urllib.parse import urlencode
from xml.etree import ElementTree

import pytest

from rasa_server import RasaServer, post_json, post_raw, sqlite_rows, texts
from servers import MODEL

pytestmark = pytest.mark.skipif(not MODEL.exists(), reason="needs the trained model: run `make train`")

from channels.common import MAX_TEXT_CHARS  # noqa: E402
from yibao.texts import load_texts  # noqa: E402

# What every channel answers without Rasa (data/texts.yml).
TEXTS = load_texts()
EMPTY_TEXT_REPLY = TEXTS["channel_empty_text"]
TOO_LONG_REPLY = TEXTS["channel_too_long"].format(max_chars=MAX_TEXT_CHARS)

from shared_stack import TG_BOT, TG_SECRET, TG_TOKEN, WECHAT_TOKEN  # noqa: E402,F401
NORMAL_QUESTION = "亲情账户绑定后多久生效"
ONE_MB = 1024 * 1024
_ids = itertools.count(1000)


# ---------------------------------------------------------------------------------------- the stack
@pytest.fixture(scope="module")
def stack(shared_stack):
    """The shared server (tests/shared_stack.py), with a conversation stored before the barrage."""
    server = shared_stack.server
    keeper = "keeper-" + uuid.uuid4().hex
    for text in (NORMAL_QUESTION, "我是10月16号绑的"):
        status, reply = rest(server, keeper, text)
        assert status == 200 and texts(reply)
    assert "11月1日" in texts(reply)
    server.keeper = keeper
    server.keeper_rows = sqlite_rows(server.db, keeper)
    server.telegram = shared_stack.telegram
    server.socketio = shared_stack.socketio
    return server


def rest(server: RasaServer, sender: Any, message: Any, **extra: Any) -> tuple:
    return post_json(f"{server.base}/webhooks/rest/webhook", {"sender": sender, "message": message, **extra})


def polite(reply: Any) -> bool:
    """A list of bot messages, each with text or buttons, none of them an error dump."""
    return (isinstance(reply, list) and len(reply) > 0
            and all(isinstance(m, dict) and (m.get("text") or m.get("buttons")) for m in reply)
            and "Traceback" not in texts(reply))


# ---------------------------------------------------------------------------------------- REST
def _j(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


S = "hostile-rest"
REST_CASES = [
    # id, body, expected status, check of the answer (None: only the status and a JSON error body)
    ("empty-text", _j({"sender": S, "message": ""}), 200, lambda r: texts(r) == EMPTY_TEXT_REPLY),
    ("whitespace-only", _j({"sender": S, "message": " \n\t\u3000 "}), 200, lambda r: texts(r) == EMPTY_TEXT_REPLY),
    ("control-chars-only", _j({"sender": S, "message": "\x00\x01\x1b\x7f"}), 200,
     lambda r: texts(r) == EMPTY_TEXT_REPLY),
    ("10000-chars", _j({"sender": S, "message": "亲情账户" * 2500}), 200, lambda r: texts(r) == TOO_LONG_REPLY),
    ("emoji-only", _j({"sender": S, "message": "😀🙏👍🏻👨‍👩‍👧"}), 200, polite),
    ("control-chars", _j({"sender": S, "message": "亲情账户\x00\x07绑定后\x1b多久\u202e生效"}), 200,
     lambda r: polite(r) and "生效" in texts(r)),
    ("lone-surrogate", b'{"sender": "hostile-rest", "message": "\\ud800\\udfff\\ud83d' + "亲情账户多久生效".encode() + b'"}',
     200, polite),
    ("html-script", _j({"sender": S, "message": "<script>alert(1)</script><img src=x onerror=alert(2)>家庭共济怎么开通"}),
     200, lambda r: polite(r) and "<script" not in json.dumps(r) and "<img" not in json.dumps(r)),
    ("sql-looking", _j({"sender": S, "message": "'; DROP TABLE events; -- ' OR '1'='1"}), 200, polite),
    ("sender-128-chars", _j({"sender": "s" * 128, "message": "你好"}), 200, polite),
    ("invalid-utf8", b'{"sender": "hostile-rest", "message": "\xff\xfe\xfd"}', 400, None),
    ("malformed-json", b'{"sender": "hostile-rest", "message": ', 400, None),
    ("not-json", b"sender=hostile-rest&message=hi", 400, None),
    ("empty-body", b"", 400, None),
    ("json-array", b'["hi"]', 400, None),
    ("json-string", b'"hi"', 400, None),
    ("json-null", b"null", 400, None),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000, 400, None),
    ("message-number", _j({"sender": S, "message": 123}), 400, None),
    ("message-null", _j({"sender": S, "message": None}), 400, None),
    ("message-list", _j({"sender": S, "message": ["hi"]}), 400, None),
    ("message-object", _j({"sender": S, "message": {"text": "hi"}}), 400, None),
    ("missing-message", _j({"sender": S}), 400, None),
    ("missing-sender", _j({"message": "你好"}), 400, None),
    ("sender-number", _j({"sender": 12345, "message": "你好"}), 400, None),
    ("sender-empty", _j({"sender": "", "message": "你好"}), 400, None),
    ("sender-whitespace", _j({"sender": "   ", "message": "你好"}), 400, None),
    ("sender-129-chars", _j({"sender": "s" * 129, "message": "你好"}), 400, None),
    ("sender-10000-chars", _j({"sender": "s" * 10_000, "message": "你好"}), 400, None),
    ("sender-control-chars", _j({"sender": "abc\x00def", "message": "你好"}), 400, None),
    ("metadata-not-object", _j({"sender": S, "message": "你好", "metadata": "x"}), 400, None),
    ("body-over-1MB", _j({"sender": S, "message": "a" * ONE_MB}), 413, None),
]


@pytest.mark.parametrize("body,status,check", [c[1:] for c in REST_CASES], ids=[c[0] for c in REST_CASES])
def test_rest_bad_input_gets_a_polite_answer_or_a_clear_4xx(stack, body, status, check):
    got, reply = post_raw(f"{stack.base}/webhooks/rest/webhook", body)
    assert got == status, reply
    if status >= 400:
        assert isinstance(reply, dict) and reply.get("error") and reply.get("message") and reply.get("message_zh")
    else:
        assert check(reply), reply


def test_rest_same_message_repeated_quickly_is_answered_every_time(stack):
    sender = "repeat-" + uuid.uuid4().hex
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: rest(stack, sender, NORMAL_QUESTION), range(8)))
    assert [status for status, _ in results] == [200] * 8
    assert all(polite(reply) for _, reply in results)
    rows = sqlite_rows(stack.db, sender)
    assert sum(1 for row in rows if row[2] == "user") == 8


# ---------------------------------------------------------------------------------------- WeChat
def _signed_query(token: str = WECHAT_TOKEN) -> str:
    timestamp, nonce = str(int(time.time())), str(next(_ids))
    signature = hashlib.sha1("".join(sorted([token, timestamp, nonce])).encode()).hexdigest()
    return urlencode({"signature": signature, "timestamp": timestamp, "nonce": nonce})


def _wechat_xml(content: str, openid: str = "oHostileUser0000000000000001", msg_id: Optional[str] = None,
                extra: str = "") -> bytes:
    return (
        "<xml><ToUserName><![CDATA[gh_hostile]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName><CreateTime>{int(time.time())}</CreateTime>"
        f"<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id or next(_ids)}</MsgId>{extra}</xml>"
    ).encode("utf-8")


def wechat(server: RasaServer, body: bytes, query: Optional[str] = None) -> tuple:
    url = f"{server.base}/webhooks/wechat/webhook?{query if query is not None else _signed_query()}"
    return post_raw(url, body, headers={"Content-Type": "text/xml"})


def wechat_content(reply: Any) -> str:
    return ElementTree.fromstring(reply).findtext("Content") or ""


WECHAT_CASES = [
    ("empty-text", _wechat_xml(""), 200, lambda r: wechat_content(r) == EMPTY_TEXT_REPLY),
    ("whitespace-only", _wechat_xml(" \n\t\u3000 "), 200, lambda r: wechat_content(r) == EMPTY_TEXT_REPLY),
    ("10000-chars", _wechat_xml("家庭共济" * 2500), 200, lambda r: wechat_content(r) == TOO_LONG_REPLY),
    ("emoji-only", _wechat_xml("😀🙏👍🏻"), 200, lambda r: bool(wechat_content(r).strip())),
    ("control-chars-xml-allows", _wechat_xml("亲情账户\x7f绑定后\u202e多久\u200b生效"), 200,
     lambda r: "生效" in wechat_content(r)),
    ("control-chars-xml-forbids", _wechat_xml("亲情账户\x00\x07多久生效"), 400, None),
    ("html-script", _wechat_xml("<script>alert(1)</script>家庭共济怎么开通"), 200,
     lambda r: bool(wechat_content(r)) and "<script" not in wechat_content(r)),
    ("sql-looking", _wechat_xml("'; DROP TABLE events; --"), 200, lambda r: bool(wechat_content(r).strip())),
    ("invalid-utf8", b"<xml><Content>\xff\xfe</Content></xml>", 400, None),
    ("malformed-xml", b"<xml><ToUserName>gh", 400, None),
    ("json-instead-of-xml", b'{"message": "hi"}', 400, None),
    ("empty-body", b"", 400, None),
    ("entity-expansion", b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml>&a;</xml>', 400, None),
    ("missing-sender", _wechat_xml("你好").replace(b"<FromUserName><![CDATA[oHostileUser0000000000000001]]></FromUserName>", b""),
     400, None),
    ("sender-10000-chars", _wechat_xml("你好", openid="o" * 10_000), 400, None),
    ("wrong-field-type", _wechat_xml("x").replace(b"<MsgType><![CDATA[text]]></MsgType>", b"<MsgType><a/></MsgType>"),
     400, None),
    ("body-over-1MB", _wechat_xml("a" * ONE_MB), 413, None),
]


@pytest.mark.parametrize("body,status,check", [c[1:] for c in WECHAT_CASES], ids=[c[0] for c in WECHAT_CASES])
def test_wechat_bad_input_gets_a_polite_answer_or_a_clear_4xx(stack, body, status, check):
    got, reply = wechat(stack, body)
    assert got == status, reply
    if check is not None:
        assert check(reply), reply


def test_wechat_unsigned_request_is_403(stack):
    assert wechat(stack, _wechat_xml("你好"), query="")[0] == 403
    assert wechat(stack, _wechat_xml("你好"), query=_signed_query("wrong-token"))[0] == 403


def test_wechat_same_message_repeated_quickly(stack):
    openid = "oRepeat" + uuid.uuid4().hex[:21]
    retried = _wechat_xml(NORMAL_QUESTION, openid=openid, msg_id="7700000000000001")
    fresh = [_wechat_xml(NORMAL_QUESTION, openid=openid) for _ in range(4)]
    with ThreadPoolExecutor(max_workers=7) as pool:
        retries = list(pool.map(lambda body: wechat(stack, body), [retried] * 3))
        news = list(pool.map(lambda body: wechat(stack, body), fresh))
    assert all(status == 200 for status, _ in retries + news)
    contents = {wechat_content(reply) for _, reply in retries if reply != "success"}
    assert len(contents) == 1 and "15号前" in contents.pop()  # WeChat's retries share one answer
    assert all("15号前" in wechat_content(reply) for _, reply in news if reply != "success")
    user_rows = [row for row in sqlite_rows(stack.db, openid) if row[2] == "user"]
    assert len(user_rows) == 5  # the retried MsgId reached Rasa once


def test_wechat_a_bare_number_answering_the_bots_question_is_that_answer_not_feedback(stack):
    """The question of a turn and its answer are one message: no numbered 有帮助/没帮助 is offered while
    the bot waits for the day, so "1" is the 1st of the month. The final answer then numbers its own
    buttons, and "2" picks 有帮助."""
    openid = "oNumber" + uuid.uuid4().hex[:21]
    asked = wechat_content(wechat(stack, _wechat_xml(NORMAL_QUESTION, openid=openid))[1])
    assert asked.splitlines()[-1].startswith("请问是哪天绑定的") and "有帮助" not in asked
    answer = wechat_content(wechat(stack, _wechat_xml("1", openid=openid))[1])
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    assert answer.splitlines()[0].startswith(f"按资料的15号规则（指绑定医保电子凭证），您{today.month}月1日绑定"), answer
    assert "谢谢您的反馈" not in answer
    options = [line for line in answer.splitlines() if line[:2] in ("1.", "2.", "3.")]
    assert options[-2:] == ["2. 有帮助", "3. 没帮助"] or options[-2:] == ["1. 有帮助", "2. 没帮助"], answer
    number = options[-2].split(".")[0]
    assert "谢谢您的反馈" in wechat_content(wechat(stack, _wechat_xml(number, openid=openid))[1])


# ---------------------------------------------------------------------------------------- Telegram
def _update(text: Any, chat_id: int, **message: Any) -> Dict[str, Any]:
    update_id = next(_ids)
    body = {"message_id": update_id, "date": 1763880000, "chat": {"id": chat_id, "type": "private"},
            "from": {"id": chat_id, "is_bot": False, "first_name": "测"}, "text": text, **message}
    return {"update_id": update_id, "message": body}


def telegram(server: RasaServer, body: bytes, secret: Optional[str] = TG_SECRET) -> tuple:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return post_raw(f"{server.base}/webhooks/telegram/webhook", body, headers=headers)


SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
TG_CASES = [
    # id, text or raw body builder, expected status, check of what the fake Bot API was sent
    ("empty-text", "", 200, lambda sent: sent == [EMPTY_TEXT_REPLY]),
    ("whitespace-only", " \n\t\u3000 ", 200, lambda sent: sent == [EMPTY_TEXT_REPLY]),
    ("10000-chars", "亲情账户" * 2500, 200, lambda sent: sent == [TOO_LONG_REPLY]),
    ("emoji-only", "😀🙏👍🏻", 200, lambda sent: len(sent) >= 1 and all(sent)),
    ("control-chars", "亲情账户\x00\x07绑定后\x1b多久\u202e生效", 200, lambda sent: any("生效" in t for t in sent)),
    ("html-script", "<script>alert(1)</script>家庭共济怎么开通", 200,
     lambda sent: len(sent) >= 1 and not any("<script" in t for t in sent)),
    ("sql-looking", "'; DROP TABLE events; --", 200, lambda sent: len(sent) >= 1),
    ("very-long-chat-id", "你好", 200, lambda sent: len(sent) >= 1),
    ("invalid-utf8", b'{"update_id": 1, "message": {"text": "\xff\xfe"}}', 400, None),
    ("malformed-json", b'{"update_id": 1, "message": {', 400, None),
    ("deeply-nested", b"[" * 100_000 + b"]" * 100_000, 400, None),
    ("text-not-string", "TEXT_NUMBER", 400, None),
    ("missing-sender", "NO_CHAT", 400, None),
    ("body-over-1MB", "a" * ONE_MB, 413, None),
    ("body-over-2MB-refused-by-sanic", "a" * 3 * ONE_MB, 413, None),
]


@pytest.mark.parametrize("case,status,check", [c[1:] for c in TG_CASES], ids=[c[0] for c in TG_CASES])
def test_telegram_bad_input_gets_a_polite_answer_or_a_clear_4xx(stack, request, case, status, check):
    chat_id = 10 ** 18 + next(_ids) if request.node.callspec.id == "very-long-chat-id" else 700_000 + next(_ids)
    if isinstance(case, bytes):
        body = case
    elif case == "TEXT_NUMBER":
        body = _j(_update(5, chat_id))
    elif case == "NO_CHAT":
        update = _update("你好", chat_id)
        del update["message"]["chat"]
        body = _j(update)
    else:
        body = _j(_update(case, chat_id))
    got, reply = telegram(stack, body)
    assert got == status, reply
    sent = stack.telegram.texts_for(chat_id)
    if check is None:
        assert sent == []
    else:
        assert check(sent), sent


def test_telegram_update_without_the_secret_is_403(stack):
    chat_id = 800_000 + next(_ids)
    assert telegram(stack, _j(_update("你好", chat_id)), secret=None)[0] == 403
    assert telegram(stack, _j(_update("你好", chat_id)), secret="wrong")[0] == 403
    assert stack.telegram.texts_for(chat_id) == []


def test_telegram_same_update_repeated_quickly_is_answered_once(stack):
    chat_id = 900_000 + next(_ids)
    same = _j(_update(NORMAL_QUESTION, chat_id))
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda body: telegram(stack, body), [same] * 4))
    assert [status for status, _ in results] == [200] * 4
    assert sum("15号前" in text for text in stack.telegram.texts_for(chat_id)) == 1


# ---------------------------------------------------------------------------------------- Socket.IO
class SocketIOUser:
    """A python-socketio client speaking the rasa-webchat protocol over long-polling."""

    def __init__(self, server: RasaServer, settings: Dict[str, Any]) -> None:
        import socketio

        self.settings = settings
        self.replies: List[Any] = []
        self.client = socketio.Client(reconnection=False)
        self.client.on(settings.get("bot_message_evt") or "bot_uttered", self.replies.append)
        confirmed = threading.Event()
        self.client.on("session_confirm", lambda *_: confirmed.set())
        self.client.connect(server.base, transports=["polling"],
                            socketio_path=(settings.get("socketio_path") or "/socket.io").strip("/"))
        self.session_id = uuid.uuid4().hex
        self.client.emit("session_request", {"session_id": self.session_id})
        assert confirmed.wait(20), "no session_confirm"

    def emit(self, data: Any) -> None:
        self.client.emit(self.settings.get("user_message_evt") or "user_uttered", data)

    def say(self, text: Any, **extra: Any) -> None:
        self.emit({"message": text, "session_id": self.session_id, **extra})

    def wait_replies(self, seconds: float) -> List[Any]:
        deadline = time.time() + seconds
        while time.time() < deadline and not self.replies:
            time.sleep(0.1)
        time.sleep(0.5 if self.replies else 0)
        got, self.replies[:] = list(self.replies), []
        return got

    def close(self) -> None:
        self.client.disconnect()


SOCKETIO_TEXT_CASES = [
    ("empty-text", ""),
    ("whitespace-only", " \n\t "),
    ("10000-chars", "亲情账户" * 2500),
    ("emoji-only", "😀🙏👍🏻"),
    ("control-chars", "亲情账户\x00\x07绑定后\x1b多久\u202e生效"),
    ("html-script", "<script>alert(1)</script>家庭共济怎么开通"),
    ("sql-looking", "'; DROP TABLE events; --"),
]
SOCKETIO_MALFORMED = [
    ("not-an-object", "just a string"),
    ("a-list", [1, 2, 3]),
    ("a-number", 42),
    ("message-number", "MESSAGE_NUMBER"),
    ("missing-session", {"message": "你好"}),
    ("long-session-id", {"message": "你好", "session_id": "s" * 10_000}),
]


def test_socketio_bad_input_gets_a_polite_answer_or_is_ignored(stack):
    if stack.socketio is None:
        pytest.skip("the project has no Socket.IO channel")
    user = SocketIOUser(stack, stack.socketio)
    try:
        for case_id, text in SOCKETIO_TEXT_CASES:
            user.say(text)
            replies = user.wait_replies(60)
            assert replies, f"{case_id}: no answer"
            shown = json.dumps(replies, ensure_ascii=False)
            assert "Traceback" not in shown and "<script" not in shown, f"{case_id}: {shown}"
        for case_id, data in SOCKETIO_MALFORMED:
            user.emit({"message": 5, "session_id": user.session_id} if data == "MESSAGE_NUMBER" else data)
            assert user.wait_replies(2) == [], case_id
        # The same socket still works.
        user.say(NORMAL_QUESTION)
        assert "15号前" in json.dumps(user.wait_replies(60), ensure_ascii=False)
    finally:
        user.close()


# ---------------------------------------------------------------------------------------- afterwards
def test_zz_after_the_barrage_the_server_answers_and_nothing_stored_was_lost(stack):
    assert stack.alive()
    status, reply = rest(stack, "after-" + uuid.uuid4().hex, NORMAL_QUESTION)
    assert status == 200 and "15号前" in texts(reply)
    assert sqlite_rows(stack.db, stack.keeper) == stack.keeper_rows
    # The keeper's conversation goes on with its context.
    status, reply = rest(stack, stack.keeper, "那家庭共济呢")
    assert status == 200 and polite(reply)
    log = stack.log_text()
    assert "Exception occurred while handling uri" not in log  # Sanic's line for a 500
    assert "Traceback" not in log
