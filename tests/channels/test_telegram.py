"""Offline tests of channels.telegram: a fake Bot API on 127.0.0.1 and the Sanic app in-process.

The fake Bot API answers ``POST /bot<token>/<method>`` like Telegram and records every call. The
Sanic test client (sanic-testing 22.3.1) starts the server once per request, each time on a new event
loop, which is exactly the situation that made Rasa's own connector answer 500 (trap 4).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from typing import Any, Dict, List, Optional
from urllib.parse import urljoin

import pytest
from sanic import Sanic

from channels.state import MemoryState, SharedState
from channels.telegram import (
    SECRET_HEADER,
    CallbackDataStore,
    TelegramConfigError,
    TelegramInput,
    TelegramOutput,
)
from fakes import FakeBotAPI
from rasa.core.channels.channel import UserMessage
from yibao.texts import load_texts

Sanic.test_mode = True

TOKEN = "123456789:AAH-fake_token_for_tests_only"
BOT_NAME = "yibao_family_bot"
SECRET = "s3cret-Token_for-tests"
WEBHOOK_URL = "https://bot.example.org/webhooks/telegram/webhook"
URL = "/webhooks/telegram/webhook"
CHAT_ID = 987654321
USER = {"id": CHAT_ID, "is_bot": False, "first_name": "小王", "language_code": "zh-hans"}
CHAT = {"id": CHAT_ID, "first_name": "小王", "type": "private"}
BOT_USER = {"id": 123456789, "is_bot": True, "first_name": "医保家庭助手", "username": "yibao_family_bot"}
ALL_ENV = (
    "TELEGRAM_TOKEN",
    "TELEGRAM_BOT_NAME",
    "TELEGRAM_WEBHOOK_URL",
    "TELEGRAM_SECRET_TOKEN",
    "TELEGRAM_API_BASE",
)

BUTTONS = [
    {"title": "绑定后多久生效", "payload": "/effective_time"},
    {"title": "绑定不了 / 用不了", "payload": "/bind_failed"},
]
TEXTS = load_texts()
APOLOGY_REPLY = TEXTS["channel_apology"]
EXPIRED_BUTTON_REPLY = TEXTS["channel_expired_button"]
ONLY_TEXT_REPLY = TEXTS["channel_only_text"]
LONG_PAYLOAD = '/inform{"insured_region": "黑龙江省哈尔滨市", "treatment_region": "广西壮族自治区南宁市"}'


# --- fake Telegram Bot API (tests/fakes.py) ---------------------------------------------------------
@pytest.fixture
def api():
    server = FakeBotAPI(TOKEN, BOT_NAME)
    server.start()
    yield server
    server.stop()


# --- the bot behind the channel -----------------------------------------------------------------
class FakeBot:
    """Plays Rasa: records the UserMessages and answers through the message's output channel."""

    def __init__(self) -> None:
        self.received: List[UserMessage] = []
        self.fail = False
        self.extra_buttons: List[Dict[str, str]] = []

    async def on_new_message(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.fail:
            raise RuntimeError("tracker store is down")
        out = message.output_channel
        if message.text == "/greet":
            await out.send_response(message.sender_id, {"text": "您好！我是医保家庭助手。"})
        else:
            await out.send_response(message.sender_id, {"text": f"收到：{message.text}"})
        await out.send_response(
            message.sender_id,
            {"text": "您还想了解：", "buttons": BUTTONS + self.extra_buttons},
        )

    def texts(self) -> List[str]:
        return [m.text for m in self.received]


def make_channel(api: FakeBotAPI, **overrides: Any) -> TelegramInput:
    credentials = {
        "access_token": TOKEN,
        "verify": BOT_NAME,
        "webhook_url": WEBHOOK_URL,
        "secret_token": SECRET,
        "api_base": api.base,
    }
    credentials.update(overrides)
    return TelegramInput.from_credentials(credentials)


class Harness:
    def __init__(self, api: FakeBotAPI) -> None:
        self.api = api
        self.bot = FakeBot()
        self.channel = make_channel(api)
        self.app = Sanic(f"telegram_test_{uuid.uuid4().hex[:8]}")
        self.app.blueprint(
            self.channel.blueprint(self.bot.on_new_message),
            url_prefix=urljoin("/webhooks/", self.channel.url_prefix()),  # as rasa's register() does
        )

    def post(self, body: Any, secret: Optional[str] = SECRET, raw: Optional[bytes] = None):
        headers = {"Content-Type": "application/json"}
        if secret is not None:
            headers[SECRET_HEADER] = secret
        content = raw if raw is not None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        _, resp = self.app.test_client.post(URL, content=content, headers=headers)
        return resp

    def warm_up(self) -> None:
        """Runs the server once (getMe + setWebhook at start) and forgets those calls."""
        _, resp = self.app.test_client.get("/webhooks/telegram/")
        assert resp.status == 200 and resp.json == {"status": "ok"}
        assert self.api.methods() == ["getMe", "setWebhook"]
        self.api.calls.clear()


@pytest.fixture
def tg(api):
    harness = Harness(api)
    harness.warm_up()
    return harness


# --- real Update shapes ---------------------------------------------------------------------------
def text_update(update_id: int, text: str, entities: bool = False) -> Dict[str, Any]:
    message: Dict[str, Any] = {
        "message_id": 10 + update_id,
        "from": USER,
        "chat": CHAT,
        "date": 1763880000,
        "text": text,
    }
    if entities:
        message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    return {"update_id": update_id, "message": message}


def callback_update(update_id: int, data: str, query_id: str = "4382bfdwdsb323b2d9") -> Dict[str, Any]:
    return {
        "update_id": update_id,
        "callback_query": {
            "id": query_id,
            "from": USER,
            "message": {
                "message_id": 101,
                "from": BOT_USER,
                "chat": CHAT,
                "date": 1763880000,
                "text": "您还想了解：",
                "reply_markup": {"inline_keyboard": [[{"text": "绑定后多久生效", "callback_data": data}]]},
            },
            "chat_instance": "-2286376316468498305",
            "data": data,
        },
    }


STICKER_UPDATE = {
    "update_id": 700,
    "message": {
        "message_id": 77,
        "from": USER,
        "chat": CHAT,
        "date": 1763880000,
        "sticker": {
            "width": 512,
            "height": 512,
            "emoji": "👍",
            "set_name": "HotCherry",
            "is_animated": True,
            "is_video": False,
            "type": "regular",
            "file_id": "CAACAgIAAxkBAAIBZ2VhbGxvAAE",
            "file_unique_id": "AgADbgADwDZPEw",
            "file_size": 22000,
        },
    },
}

PHOTO_UPDATE = {
    "update_id": 701,
    "message": {
        "message_id": 78,
        "from": USER,
        "chat": CHAT,
        "date": 1763880000,
        "photo": [
            {"file_id": "AgACAgUAAxkBAAIB", "file_unique_id": "AQADrqoxG", "file_size": 1200,
             "width": 90, "height": 67},
            {"file_id": "AgACAgUAAxkBAAIC", "file_unique_id": "AQADrqoxH", "file_size": 52000,
             "width": 800, "height": 600},
        ],
        "caption": "这是我的医保卡",
    },
}

EDITED_UPDATE = {
    "update_id": 702,
    "edited_message": {
        "message_id": 79,
        "from": USER,
        "chat": CHAT,
        "date": 1763880000,
        "edit_date": 1763880030,
        "text": "亲情账户绑定后多久生效",
    },
}

MY_CHAT_MEMBER_UPDATE = {
    "update_id": 703,
    "my_chat_member": {
        "chat": CHAT,
        "from": USER,
        "date": 1763880000,
        "old_chat_member": {"user": BOT_USER, "status": "member"},
        "new_chat_member": {"user": BOT_USER, "status": "kicked", "until_date": 0},
    },
}

EXPECTED_KEYBOARD = {
    "inline_keyboard": [
        [{"text": "绑定后多久生效", "callback_data": "/effective_time"}],
        [{"text": "绑定不了 / 用不了", "callback_data": "/bind_failed"}],
    ]
}


def chat(text: str, keyboard: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    item: Dict[str, Any] = {"chat_id": str(CHAT_ID), "text": text}
    if keyboard is not None:
        item["keyboard"] = keyboard
    return item


# --- start-up -------------------------------------------------------------------------------------
def test_set_webhook_at_server_start_with_secret_token_once(api):
    harness = Harness(api)
    # building the channel and the blueprint made no call: nothing runs outside the server's loop
    assert api.calls == []
    assert harness.channel.get_output_channel() is harness.channel.get_output_channel()
    assert api.calls == []

    _, resp = harness.app.test_client.get("/webhooks/telegram/")
    assert resp.status == 200
    assert api.calls == [
        ("getMe", {}),
        (
            "setWebhook",
            {
                "url": WEBHOOK_URL,
                "secret_token": SECRET,
                "allowed_updates": '["message", "edited_message", "callback_query"]',
            },
        ),
    ]
    assert harness.channel.bot_username == BOT_NAME

    # the test client starts the server again (new loop) for every request: no second setWebhook
    _, resp = harness.app.test_client.get("/webhooks/telegram/")
    assert resp.status == 200
    assert api.methods() == ["getMe", "setWebhook"]


def test_wrong_bot_name_refuses_to_start(api):
    channel = make_channel(api, verify="someone_else_bot")

    async def start() -> None:
        try:
            await channel.register_webhook()
        finally:
            await channel.get_output_channel().close_session()

    with pytest.raises(TelegramConfigError, match="@yibao_family_bot.*someone_else_bot"):
        asyncio.run(start())
    assert api.methods() == ["getMe"]


# --- text, /start, buttons --------------------------------------------------------------------------
def test_text_message_reaches_rasa_and_replies_with_inline_keyboard(tg):
    resp = tg.post(text_update(1, "亲情账户多久生效"))
    assert resp.status == 200 and resp.text == "success"

    assert len(tg.bot.received) == 1
    message = tg.bot.received[0]
    assert message.text == "亲情账户多久生效"
    assert message.sender_id == str(CHAT_ID)
    assert message.input_channel == "telegram"
    assert isinstance(message.output_channel, TelegramOutput)

    assert tg.api.methods() == ["sendMessage", "sendMessage"]
    assert tg.api.sent() == [
        chat("收到：亲情账户多久生效"),
        chat("您还想了解：", EXPECTED_KEYBOARD),
    ]


def test_consecutive_updates_each_answered_on_a_fresh_loop(tg):
    # trap 4: Rasa's connector answered 500 from the second update on ("Event loop is closed")
    for update_id, text in ((2, "第一句"), (3, "第二句"), (4, "第三句")):
        resp = tg.post(text_update(update_id, text))
        assert resp.status == 200 and resp.text == "success"
    assert tg.bot.texts() == ["第一句", "第二句", "第三句"]
    assert [item["text"] for item in tg.api.sent()] == [
        "收到：第一句",
        "您还想了解：",
        "收到：第二句",
        "您还想了解：",
        "收到：第三句",
        "您还想了解：",
    ]


@pytest.mark.parametrize("text", ["/start", "/start family", f"/start@{BOT_NAME}"])
def test_start_command_becomes_greet(tg, text):
    resp = tg.post(text_update(5, text, entities=True))
    assert resp.status == 200
    assert tg.bot.texts() == ["/greet"]
    assert tg.api.sent() == [
        chat("您好！我是医保家庭助手。"),
        chat("您还想了解：", EXPECTED_KEYBOARD),
    ]


def test_button_press_sends_payload_and_answers_callback_query(tg):
    resp = tg.post(callback_update(6, "/bind_failed", query_id="4382bfdwdsb323b2d9"))
    assert resp.status == 200 and resp.text == "success"

    assert tg.bot.texts() == ["/bind_failed"]
    assert tg.bot.received[0].sender_id == str(CHAT_ID)
    assert tg.bot.received[0].input_channel == "telegram"
    assert tg.api.calls[0] == ("answerCallbackQuery", {"callback_query_id": "4382bfdwdsb323b2d9"})
    assert tg.api.methods() == ["answerCallbackQuery", "sendMessage", "sendMessage"]
    assert tg.api.sent() == [
        chat("收到：/bind_failed"),
        chat("您还想了解：", EXPECTED_KEYBOARD),
    ]


def test_long_payload_travels_as_short_id_and_comes_back(tg):
    assert len(LONG_PAYLOAD.encode("utf-8")) > 64
    tg.bot.extra_buttons = [{"title": "哈尔滨参保，南宁看病", "payload": LONG_PAYLOAD}]
    tg.post(text_update(7, "异地能用吗"))

    keyboard = tg.api.sent()[1]["keyboard"]["inline_keyboard"]
    assert keyboard[:2] == EXPECTED_KEYBOARD["inline_keyboard"]
    assert len(keyboard) == 3 and len(keyboard[2]) == 1
    assert keyboard[2][0]["text"] == "哈尔滨参保，南宁看病"
    short_id = keyboard[2][0]["callback_data"]
    assert short_id == "tgcb#" + hashlib.sha256(LONG_PAYLOAD.encode("utf-8")).hexdigest()[:20]
    assert len(short_id.encode("utf-8")) <= 64

    tg.bot.received.clear()
    tg.api.calls.clear()
    resp = tg.post(callback_update(8, short_id, query_id="9001"))
    assert resp.status == 200
    assert tg.bot.texts() == [LONG_PAYLOAD]
    assert tg.api.calls[0] == ("answerCallbackQuery", {"callback_query_id": "9001"})


def test_unknown_short_id_gets_polite_reply_and_no_rasa_call(tg):
    resp = tg.post(callback_update(9, "tgcb#00000000000000000000", query_id="9002"))
    assert resp.status == 200
    assert tg.bot.received == []
    assert tg.api.methods() == ["answerCallbackQuery", "sendMessage"]
    assert tg.api.calls[0] == ("answerCallbackQuery", {"callback_query_id": "9002"})
    assert tg.api.sent() == [chat(EXPIRED_BUTTON_REPLY)]


# --- other update kinds -------------------------------------------------------------------------------
@pytest.mark.parametrize("update", [STICKER_UPDATE, PHOTO_UPDATE], ids=["sticker", "photo"])
def test_non_text_message_gets_polite_reply_without_rasa(tg, update):
    resp = tg.post(update)
    assert resp.status == 200 and resp.text == "success"
    assert tg.bot.received == []
    assert tg.api.sent() == [chat(ONLY_TEXT_REPLY)]


def test_edited_message_is_answered_as_a_new_question(tg):
    resp = tg.post(EDITED_UPDATE)
    assert resp.status == 200
    assert tg.bot.texts() == ["亲情账户绑定后多久生效"]
    assert tg.bot.received[0].sender_id == str(CHAT_ID)
    assert tg.api.sent() == [
        chat("收到：亲情账户绑定后多久生效"),
        chat("您还想了解：", EXPECTED_KEYBOARD),
    ]


def test_update_without_message_or_callback_is_acknowledged_and_ignored(tg):
    resp = tg.post(MY_CHAT_MEMBER_UPDATE)
    assert resp.status == 200 and resp.text == "success"
    assert tg.bot.received == []
    assert tg.api.calls == []


def test_redelivered_update_is_handled_once(tg):
    assert tg.post(text_update(11, "怎么解绑")).status == 200
    assert tg.post(text_update(11, "怎么解绑")).status == 200
    assert tg.bot.texts() == ["怎么解绑"]
    assert len(tg.api.sent()) == 2


def test_rasa_failure_gives_apology_with_12393_and_200(tg):
    tg.bot.fail = True
    resp = tg.post(text_update(12, "亲情账户多久生效"))
    assert resp.status == 200 and resp.text == "success"
    assert tg.bot.texts() == ["亲情账户多久生效"]
    assert tg.api.sent() == [chat(APOLOGY_REPLY)]
    assert "12393" in APOLOGY_REPLY


# --- refused requests ----------------------------------------------------------------------------------
def test_missing_secret_header_is_403_and_nothing_happens(tg):
    resp = tg.post(text_update(13, "亲情账户多久生效"), secret=None)
    assert resp.status == 403 and resp.text == "forbidden"
    assert tg.bot.received == []
    assert tg.api.calls == []


@pytest.mark.parametrize("secret", ["wrong", SECRET + "x", SECRET[:-1], SECRET.upper(), ""])
def test_wrong_secret_header_is_403(tg, secret):
    resp = tg.post(text_update(14, "亲情账户多久生效"), secret=secret)
    assert resp.status == 403 and resp.text == "forbidden"
    assert tg.bot.received == []
    assert tg.api.calls == []


@pytest.mark.parametrize(
    "raw",
    [
        b'{"update_id": 15, "message": {',
        b"not json at all",
        b"\xff\xfe\x00garbage",
        b"",
        b"[1, 2, 3]",
        b'"just a string"',
        b'{"message": {"chat": {"id": 1}, "text": "hi"}}',
        b'{"update_id": "15", "message": {"chat": {"id": 1}, "text": "hi"}}',
        b'{"update_id": 16, "message": "hi"}',
        b'{"update_id": 17, "message": {"text": "hi"}}',
        b'{"update_id": 18, "message": {"chat": {"id": 1}, "text": 5}}',
        b'{"update_id": 19, "callback_query": {"data": "/greet"}}',
    ],
    ids=[
        "truncated",
        "text",
        "binary",
        "empty",
        "array",
        "string",
        "no-update-id",
        "string-update-id",
        "message-not-object",
        "no-chat",
        "text-not-string",
        "callback-without-id",
    ],
)
def test_malformed_body_is_400_never_500(tg, raw):
    resp = tg.post(None, raw=raw)
    assert resp.status == 400
    assert resp.text.startswith("bad request: ")
    assert tg.bot.received == []
    assert tg.api.calls == []


# --- configuration ------------------------------------------------------------------------------------
@pytest.fixture
def clean_env(monkeypatch):
    for name in ALL_ENV:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_settings_come_from_environment_when_credentials_are_empty(clean_env):
    clean_env.setenv("TELEGRAM_TOKEN", TOKEN)
    clean_env.setenv("TELEGRAM_BOT_NAME", BOT_NAME)
    clean_env.setenv("TELEGRAM_WEBHOOK_URL", WEBHOOK_URL)
    clean_env.setenv("TELEGRAM_SECRET_TOKEN", SECRET)
    clean_env.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:8081")
    for credentials in (None, {}, {"access_token": "", "verify": None}):
        channel = TelegramInput.from_credentials(credentials)
        assert (channel.access_token, channel.verify, channel.webhook_url) == (TOKEN, BOT_NAME, WEBHOOK_URL)
        assert (channel.secret_token, channel.api_base) == (SECRET, "http://127.0.0.1:8081")
        assert channel.get_output_channel().server.base == "http://127.0.0.1:8081/bot{token}/{method}"


def test_credentials_win_over_environment(clean_env):
    clean_env.setenv("TELEGRAM_TOKEN", "1:from-env")
    clean_env.setenv("TELEGRAM_SECRET_TOKEN", "from-env")
    channel = TelegramInput.from_credentials(
        {"access_token": TOKEN, "verify": BOT_NAME, "webhook_url": WEBHOOK_URL, "secret_token": SECRET}
    )
    assert (channel.access_token, channel.secret_token, channel.api_base) == (TOKEN, SECRET, None)
    assert channel.get_output_channel().server.base == "https://api.telegram.org/bot{token}/{method}"


def test_missing_secret_token_refuses_to_start(clean_env):
    clean_env.setenv("TELEGRAM_TOKEN", TOKEN)
    clean_env.setenv("TELEGRAM_WEBHOOK_URL", WEBHOOK_URL)
    with pytest.raises(TelegramConfigError) as error:
        TelegramInput.from_credentials(None)
    assert str(error.value) == (
        "Telegram channel cannot start: missing TELEGRAM_SECRET_TOKEN (credentials key "
        "`secret_token`). Set the environment variable(s) or the key(s) in credentials.yml; "
        "see docs/channels/telegram.md."
    )


def test_nothing_configured_names_every_missing_variable(clean_env):
    with pytest.raises(TelegramConfigError, match=(
        r"missing TELEGRAM_TOKEN \(credentials key `access_token`\), "
        r"TELEGRAM_WEBHOOK_URL \(credentials key `webhook_url`\), "
        r"TELEGRAM_SECRET_TOKEN \(credentials key `secret_token`\)\."
    )):
        TelegramInput.from_credentials({})


@pytest.mark.parametrize(
    "override, message",
    [
        ({"secret_token": "has space"}, "TELEGRAM_SECRET_TOKEN .* must be 1-256 characters"),
        ({"secret_token": "x" * 257}, "TELEGRAM_SECRET_TOKEN .* must be 1-256 characters"),
        ({"webhook_url": "http://bot.example.org/webhooks/telegram/webhook"},
         "TELEGRAM_WEBHOOK_URL .* https://"),
        ({"access_token": "not-a-token"}, "TELEGRAM_TOKEN .* is not a bot token"),
        ({"api_base": "127.0.0.1:8081"}, "TELEGRAM_API_BASE .* must start with http"),
    ],
)
def test_invalid_settings_are_refused(clean_env, override, message):
    credentials = {"access_token": TOKEN, "webhook_url": WEBHOOK_URL, "secret_token": SECRET}
    credentials.update(override)
    with pytest.raises(TelegramConfigError, match=message):
        TelegramInput.from_credentials(credentials)


def test_rasa_loads_the_channel_by_class_path(clean_env):
    from rasa.core.run import _create_single_channel

    clean_env.setenv("TELEGRAM_SECRET_TOKEN", SECRET)
    channel = _create_single_channel(
        "channels.telegram.TelegramInput", {"access_token": TOKEN, "webhook_url": WEBHOOK_URL}
    )
    assert isinstance(channel, TelegramInput)
    assert channel.url_prefix() == "telegram"
    assert channel.secret_token == SECRET


# --- pieces ----------------------------------------------------------------------------------------------
def test_callback_store_is_bounded_and_only_maps_what_it_must():
    store = CallbackDataStore(SharedState(MemoryState(max_entries=2)))

    async def scenario() -> None:
        assert await store.encode("/effective_time") == "/effective_time"
        assert len(store.state) == 0
        ids = [await store.encode(f"{LONG_PAYLOAD}{n}") for n in range(3)]
        assert len(store.state) == 2
        assert await store.decode(ids[0]) is None  # evicted, oldest first
        assert await store.decode(ids[1]) == f"{LONG_PAYLOAD}1"
        assert await store.decode(ids[2]) == f"{LONG_PAYLOAD}2"
        # a short payload that looks like an id is mapped too, so ids and payloads never mix up
        lookalike = await store.encode("tgcb#x")
        assert lookalike != "tgcb#x" and await store.decode(lookalike) == "tgcb#x"
        # exactly 64 bytes fits (21 three-byte characters + "/")
        assert await store.encode("/" + "亲" * 21) == "/" + "亲" * 21
        assert (await store.encode("/" + "亲" * 22)).startswith("tgcb#")

    asyncio.run(scenario())


def test_body_over_one_megabyte_is_413_and_never_parsed(tg):
    update = text_update(20, "亲情账户" * 100_000)  # 1.2 MB of UTF-8
    resp = tg.post(update)
    assert resp.status == 413
    assert tg.bot.received == []
    assert tg.api.calls == []


def test_long_text_is_split_to_telegram_limit(tg):
    line = "亲情账户" * 100  # 400 characters
    paragraph = "\n".join([line] * 12)  # 4811 characters: more than Telegram's 4096
    output = tg.channel.get_output_channel()

    async def send() -> None:
        try:
            await output.send_text_message(str(CHAT_ID), f"第一段\n\n{paragraph}")
        finally:
            await output.close_session()

    asyncio.run(send())
    assert tg.api.sent() == [  # one reply is one message, cut only at the limit, at a line break
        chat("第一段\n\n" + "\n".join([line] * 10)),  # 4014 characters: an eleventh line would pass 4096
        chat("\n".join([line] * 2)),
    ]
