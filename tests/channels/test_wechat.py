"""Offline, in-process tests of the WeChat channel (channels/wechat/).

Each test builds a Sanic app with the channel's blueprint, a fake bot in place of Rasa's handler,
and talks to it through sanic-testing's ASGI client inside one asyncio loop (so background tasks,
such as the late delivery through the customer-service API, keep running after a response).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import time
from typing import Any, Dict, List, Optional
from xml.etree import ElementTree

import pytest
from rasa.core.channels.channel import UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Sanic
from sanic_testing.testing import SanicASGITestClient
from wechatpy.crypto import WeChatCrypto
from wechatpy.enterprise.crypto import PrpCrypto as WeComPrpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto

from channels.wechat import WeChatInput
from fakes import FakeWeChatAPI
from yibao.texts import load_texts

Sanic.test_mode = True

TOKEN = "yibaoTestToken2024"
APPID = "wx0123456789abcdef"
APPSECRET = "s3cr3t-app-secret-value"
CORP_ID = "ww0123456789abcdef"
AES_KEY = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
OTHER_OPENID = "oUpF8uN95Q1ZxaVQ5p0-3ZkUY1mA"
ACCOUNT = "gh_1a2b3c4d5e6f"
URL = "/webhooks/wechat/webhook"

ANSWER_1 = "亲情账户绑定后一般次月生效。"
ANSWER_2 = "具体以参保地医保部门公布为准。"
CHOICE_QUESTION = "请问您问的是哪一种？"
PAYLOAD_QQ = '/inform{"account_type":"亲情账户"}'
PAYLOAD_GJ = '/inform{"account_type":"家庭共济"}'
TEXTS = load_texts()
HINT = TEXTS["channel_choice_hint"]
EXPECTED_JOINED = f"{ANSWER_1}\n\n{ANSWER_2}\n\n{CHOICE_QUESTION}\n1. 亲情账户\n2. 家庭共济\n{HINT}"
GREETING = "您好！我是医保家庭助手。"
EXPECTED_GREETING = f"{GREETING}\n1. 绑定后多久生效\n2. 绑定不了 / 用不了\n{HINT}"
UNSUPPORTED = TEXTS["channel_only_text"]
APOLOGY = TEXTS["channel_apology"]
EMPTY_TEXT = TEXTS["channel_empty_text"]

_app_numbers = itertools.count()
_nonces = itertools.count(100000)


# ---------------------------------------------------------------- the fake bot (plays Rasa's handler)
class FakeBot:
    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.received: List[UserMessage] = []

    @property
    def texts(self) -> List[str]:
        return [m.text for m in self.received]

    async def __call__(self, message: UserMessage) -> None:
        self.received.append(message)
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("tracker store unavailable")
        out, sender = message.output_channel, message.sender_id
        if message.text == "亲情账户多久生效":
            await out.send_response(sender, {"text": ANSWER_1})
            await out.send_response(sender, {"text": ANSWER_2})
            await out.send_response(
                sender,
                {
                    "text": CHOICE_QUESTION,
                    "buttons": [{"title": "亲情账户", "payload": PAYLOAD_QQ}, {"title": "家庭共济", "payload": PAYLOAD_GJ}],
                },
            )
        elif message.text == "/greet":
            await out.send_response(
                sender,
                {
                    "text": GREETING,
                    "buttons": [
                        {"title": "绑定后多久生效", "payload": "/effective_time"},
                        {"title": "绑定不了 / 用不了", "payload": "/bind_failed"},
                    ],
                },
            )
        else:
            await out.send_response(sender, {"text": f"收到：{message.text}"})


# ---------------------------------------------------------------- helpers
def make_client(channel: WeChatInput, bot: FakeBot) -> SanicASGITestClient:
    app = Sanic(f"wechat_test_{next(_app_numbers)}")
    app.blueprint(channel.blueprint(bot), url_prefix="/webhooks/wechat")
    return SanicASGITestClient(app)


def mp_channel(**overrides: Any) -> WeChatInput:
    settings: Dict[str, Any] = {"token": TOKEN, "appid": APPID, "appsecret": APPSECRET}
    settings.update(overrides)
    return WeChatInput(**settings)


def sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8")).hexdigest()


def signed(token: str = TOKEN, **extra: str) -> Dict[str, str]:
    timestamp, nonce = str(int(time.time())), str(next(_nonces))
    return {"signature": sha1_sorted(token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce, **extra}


def text_xml(content: str, msg_id: str, openid: str = OPENID, create_time: int = 1732330000) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[text]]></MsgType>"
        f"<Content><![CDATA[{content}]]></Content>"
        f"<MsgId>{msg_id}</MsgId>"
        "</xml>"
    )


def event_xml(event: str, openid: str = OPENID, create_time: int = 1732330100) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{openid}]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event>"
        "</xml>"
    )


def image_xml(msg_id: str) -> str:
    return (
        "<xml>"
        f"<ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>"
        f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>"
        "<CreateTime>1732330200</CreateTime>"
        "<MsgType><![CDATA[image]]></MsgType>"
        "<PicUrl><![CDATA[http://mmbiz.qpic.cn/example.jpg]]></PicUrl>"
        "<MediaId><![CDATA[media_id_123]]></MediaId>"
        f"<MsgId>{msg_id}</MsgId>"
        "</xml>"
    )


def fields_of(xml: str) -> Dict[str, str]:
    root = ElementTree.fromstring(xml)
    assert root.tag == "xml"
    return {child.tag: child.text or "" for child in root}


async def post(client: SanicASGITestClient, body: Any, params: Optional[Dict[str, str]] = None):
    content = body.encode("utf-8") if isinstance(body, str) else body
    _, response = await client.post(URL, params=signed() if params is None else params, content=content)
    return response


def run(coroutine: Any) -> Any:
    """Runs a scenario on its own loop without touching the thread's current loop (other tests use it)."""
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(coroutine)
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


# ---------------------------------------------------------------- URL verification (GET)
def test_url_verification_returns_echostr():
    async def scenario():
        client = make_client(mp_channel(), FakeBot())
        _, response = await client.get(URL, params=signed(echostr="7369282634417164815"))
        assert response.status == 200
        assert response.text == "7369282634417164815"

    run(scenario())


@pytest.mark.parametrize("params", [
    {**signed(token="not-the-token"), "echostr": "123"},
    {"timestamp": "1732330000", "nonce": "42", "echostr": "123"},
    {**signed(), "signature": "0" * 40, "echostr": "123"},
])
def test_url_verification_forged_or_missing_signature_is_403(params):
    async def scenario():
        client = make_client(mp_channel(), FakeBot())
        _, response = await client.get(URL, params=params)
        assert response.status == 403
        assert "123" not in response.text

    run(scenario())


# ---------------------------------------------------------------- text messages
def test_post_with_forged_or_missing_signature_is_403_and_bot_not_called():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        forged = await post(client, text_xml("亲情账户多久生效", "1001"), params=signed(token="attacker"))
        missing = await post(client, text_xml("亲情账户多久生效", "1002"), params={})
        assert (forged.status, missing.status) == (403, 403)
        assert bot.received == []

    run(scenario())


def test_text_message_gets_one_joined_passive_reply_with_from_to_swapped():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, text_xml("亲情账户多久生效", "24617834191001"))
        assert response.status == 200
        reply = fields_of(response.text)
        assert reply["ToUserName"] == OPENID
        assert reply["FromUserName"] == ACCOUNT
        assert reply["MsgType"] == "text"
        assert reply["Content"] == EXPECTED_JOINED
        assert abs(int(reply["CreateTime"]) - time.time()) < 60

    run(scenario())


def test_sender_id_is_the_openid_and_stays_across_messages():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        await post(client, text_xml("亲情账户多久生效", "24617834192001"))
        await post(client, text_xml("我在杭州参保", "24617834192002", create_time=1732330009))
        await post(client, text_xml("你好", "24617834192003", openid=OTHER_OPENID))
        assert [m.sender_id for m in bot.received] == [OPENID, OPENID, OTHER_OPENID]
        assert bot.texts == ["亲情账户多久生效", "我在杭州参保", "你好"]
        assert [m.input_channel for m in bot.received] == ["wechat"] * 3
        assert [m.metadata["MsgId"] for m in bot.received] == ["24617834192001", "24617834192002", "24617834192003"]
        assert bot.received[0].output_channel.name() == "wechat"

    run(scenario())


@pytest.mark.parametrize("choice, payload", [("2", PAYLOAD_GJ), ("１", PAYLOAD_QQ), ("一", PAYLOAD_QQ), (" 2。", PAYLOAD_GJ)])
def test_reply_with_a_number_sends_that_buttons_payload(choice, payload):
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        first = await post(client, text_xml("亲情账户多久生效", "24617834193001"))
        assert fields_of(first.text)["Content"].endswith(f"1. 亲情账户\n2. 家庭共济\n{HINT}")
        second = await post(client, text_xml(choice, "24617834193002"))
        assert bot.texts == ["亲情账户多久生效", payload]
        assert fields_of(second.text)["Content"] == f"收到：{payload}"

    run(scenario())


def test_numbers_are_not_mapped_when_out_of_range_for_other_users_or_after_a_reply_without_buttons():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        await post(client, text_xml("亲情账户多久生效", "24617834194001"))
        await post(client, text_xml("3", "24617834194002"))  # only two options
        await post(client, text_xml("1", "24617834194003", openid=OTHER_OPENID))  # never offered buttons
        await post(client, text_xml("1", "24617834194004"))  # the last reply ("收到：3") had no buttons
        assert bot.texts == ["亲情账户多久生效", "3", "1", "1"]

    run(scenario())


def test_same_msgid_twice_reaches_the_bot_once_and_both_replies_are_identical():
    async def scenario():
        bot = FakeBot(delay=0.3)
        client = make_client(mp_channel(reply_deadline=3), bot)
        body = text_xml("亲情账户多久生效", "24617834195001")

        async def retry_later():
            await asyncio.sleep(0.05)  # WeChat's retry arrives while the first is still processing
            return await post(client, body)

        first, during = await asyncio.gather(post(client, body), retry_later())
        after = await post(client, body)  # a retry after completion
        assert len(bot.received) == 1
        replies = [fields_of(r.text) for r in (first, during, after)]
        for reply in replies:
            reply.pop("CreateTime")
        assert replies[0] == replies[1] == replies[2]
        assert replies[0]["Content"] == EXPECTED_JOINED

    run(scenario())


def test_empty_text_content_gets_a_prompt_without_calling_the_bot():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, text_xml("   ", "24617834195501"))
        assert fields_of(response.text)["Content"] == EMPTY_TEXT
        assert bot.received == []

    run(scenario())


# ---------------------------------------------------------------- events and other message types
def test_subscribe_event_sends_greet_payload_and_replies_with_the_greeting():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, event_xml("subscribe"))
        again = await post(client, event_xml("subscribe"))  # retried event: same FromUserName + CreateTime
        assert bot.texts == ["/greet"]
        assert bot.received[0].sender_id == OPENID
        assert fields_of(response.text)["Content"] == EXPECTED_GREETING
        assert fields_of(again.text)["Content"] == EXPECTED_GREETING
        choice = await post(client, text_xml("1", "24617834196001"))
        assert bot.texts == ["/greet", "/effective_time"]
        assert fields_of(choice.text)["Content"] == "收到：/effective_time"

    run(scenario())


def test_unsubscribe_event_answers_success_without_calling_the_bot():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, event_xml("unsubscribe"))
        assert response.status == 200
        assert response.text == "success"
        assert bot.received == []

    run(scenario())


def test_image_message_gets_a_polite_text_only_reply_without_calling_the_bot():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, image_xml("24617834197001"))
        reply = fields_of(response.text)
        assert reply["Content"] == UNSUPPORTED
        assert (reply["ToUserName"], reply["FromUserName"], reply["MsgType"]) == (OPENID, ACCOUNT, "text")
        assert bot.received == []

    run(scenario())


def test_exception_in_the_bot_gives_an_apology_not_a_500():
    async def scenario():
        bot = FakeBot(fail=True)
        client = make_client(mp_channel(), bot)
        response = await post(client, text_xml("亲情账户多久生效", "24617834198001"))
        assert response.status == 200
        assert fields_of(response.text)["Content"] == APOLOGY
        assert "12393" in APOLOGY
        assert len(bot.received) == 1

    run(scenario())


# ---------------------------------------------------------------- deadline and the customer-service API (fake in tests/fakes.py)
def test_slow_bot_answers_success_at_once_and_delivers_through_customer_service_api():
    async def scenario():
        api = FakeWeChatAPI().start()
        try:
            bot = FakeBot(delay=0.8)
            client = make_client(mp_channel(reply_deadline=0.2, api_base=api.base), bot)
            started = time.monotonic()
            response = await post(client, text_xml("亲情账户多久生效", "24617834199001"))
            elapsed = time.monotonic() - started
            assert response.status == 200
            assert response.text == "success"
            assert elapsed < 0.7, elapsed
            assert api.sent == []  # not before the bot is done

            await api.wait_for_messages(1)
            assert api.sent[0] == {"touser": OPENID, "msgtype": "text", "text": {"content": EXPECTED_JOINED}}
            assert "亲情账户".encode("utf-8") in api.raw_bodies[0]  # UTF-8, not \\u escapes
            assert api.send_tokens == ["ACCESS_TOKEN_FAKE_1"]
            assert api.token_requests == [{"grant_type": "client_credential", "appid": APPID, "secret": APPSECRET}]

            # A second slow message reuses the cached access_token.
            response = await post(client, text_xml("家庭共济怎么解除", "24617834199002"))
            assert response.text == "success"
            await api.wait_for_messages(2)
            assert api.sent[1]["text"]["content"] == "收到：家庭共济怎么解除"
            assert len(api.token_requests) == 1
            assert len(bot.received) == 2
        finally:
            api.stop()

    run(scenario())


# ---------------------------------------------------------------- safe mode (encrypt_type=aes)
def encrypted_request(crypto: Any, plain_xml: str, token: str = TOKEN, **extra_body: str) -> Dict[str, Any]:
    timestamp, nonce = str(int(time.time())), str(next(_nonces))
    envelope = fields_of(crypto.encrypt_message(plain_xml, nonce, timestamp))
    extra = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra_body.items())
    return {
        "body": f"<xml><ToUserName><![CDATA[{ACCOUNT}]]></ToUserName>{extra}<Encrypt><![CDATA[{envelope['Encrypt']}]]></Encrypt></xml>",
        "timestamp": timestamp,
        "nonce": nonce,
        "msg_signature": envelope["MsgSignature"],
        "signature": sha1_sorted(token, timestamp, nonce),
    }


def test_safe_mode_decrypts_the_message_and_encrypts_the_reply():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(aes_key=AES_KEY), bot)
        crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
        req = encrypted_request(crypto, text_xml("亲情账户多久生效", "24617834200001"))
        params = {k: req[k] for k in ("signature", "timestamp", "nonce", "msg_signature")}
        params.update(openid=OPENID, encrypt_type="aes")
        response = await post(client, req["body"], params=params)
        assert response.status == 200
        envelope = fields_of(response.text)
        assert set(envelope) == {"Encrypt", "MsgSignature", "TimeStamp", "Nonce"}
        assert "亲情账户" not in response.text
        plain = crypto.decrypt_message(response.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"])
        reply = fields_of(plain)
        assert (reply["ToUserName"], reply["FromUserName"]) == (OPENID, ACCOUNT)
        assert reply["Content"] == EXPECTED_JOINED
        assert bot.texts == ["亲情账户多久生效"]
        assert bot.received[0].sender_id == OPENID

    run(scenario())


def test_safe_mode_with_wrong_msg_signature_is_403():
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(aes_key=AES_KEY), bot)
        crypto = WeChatCrypto(TOKEN, AES_KEY, APPID)
        req = encrypted_request(crypto, text_xml("亲情账户多久生效", "24617834200002"))
        params = {k: req[k] for k in ("signature", "timestamp", "nonce")}
        params.update(encrypt_type="aes", msg_signature="f" * 40)
        response = await post(client, req["body"], params=params)
        assert response.status == 403
        assert bot.received == []

    run(scenario())


# ---------------------------------------------------------------- hostile and broken input
BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE xml [\n<!ENTITY lol "lol">\n'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n' for i in range(1, 10))
    + "]>\n"
    + text_xml("&lol9;", "24617834201001").replace("<![CDATA[&lol9;]]>", "&lol9;")
)
EXTERNAL_ENTITY = (
    '<?xml version="1.0"?>\n<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    + text_xml("x", "24617834201002").replace("<![CDATA[x]]>", "&xxe;")
)
DTD_ONLY = '<?xml version="1.0"?>\n<!DOCTYPE xml SYSTEM "http://evil.example/x.dtd">\n' + text_xml("你好", "24617834201003")


@pytest.mark.parametrize("body", [BILLION_LAUGHS, EXTERNAL_ENTITY, DTD_ONLY], ids=["billion-laughs", "external-entity", "external-dtd"])
def test_entity_and_dtd_attacks_are_400_and_never_reach_the_bot(body):
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, body)
        assert response.status == 400
        assert response.text.startswith("XML with DTD/entities refused")
        assert bot.received == []

    run(scenario())


@pytest.mark.parametrize("body, status, reason", [
    ("<xml><ToUserName>gh</ToUserName><FromUserName>", 400, "malformed XML"),
    ("hello, not xml", 400, "malformed XML"),
    ("", 400, "empty body"),
    (b"<xml><Content>\xff\xfe</Content></xml>", 400, "body is not valid UTF-8"),
    (text_xml("你好", "24617834202001").replace(f"<FromUserName><![CDATA[{OPENID}]]></FromUserName>", ""), 400, "missing FromUserName"),
    ("<message><MsgType>text</MsgType></message>", 400, "root element must be <xml>"),
    (text_xml("x" * (1024 * 1024 + 10), "24617834202002"), 413, "body too large"),
], ids=["truncated", "not-xml", "empty", "bad-utf8", "missing-field", "wrong-root", "over-1MB"])
def test_broken_input_gets_a_clear_4xx(body, status, reason):
    async def scenario():
        bot = FakeBot()
        client = make_client(mp_channel(), bot)
        response = await post(client, body)
        assert response.status == status
        assert response.text == reason or response.text.startswith(reason + " (")
        assert bot.received == []

    run(scenario())


# ---------------------------------------------------------------- 企业微信 (WeCom)
def wecom_channel(**overrides: Any) -> WeChatInput:
    settings: Dict[str, Any] = {"token": TOKEN, "aes_key": AES_KEY, "mode": "wecom", "corp_id": CORP_ID,
                                "appsecret": APPSECRET, "agent_id": "1000002"}
    settings.update(overrides)
    return WeChatInput(**settings)


def test_wecom_url_verification_decrypts_echostr():
    async def scenario():
        client = make_client(wecom_channel(), FakeBot())
        crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
        echostr = WeComPrpCrypto(crypto.key).encrypt("5927782489442352469", CORP_ID).decode()
        timestamp, nonce = str(int(time.time())), "1372623149"
        params = {"msg_signature": sha1_sorted(TOKEN, timestamp, nonce, echostr), "timestamp": timestamp,
                  "nonce": nonce, "echostr": echostr}
        _, response = await client.get(URL, params=params)
        assert response.status == 200
        assert response.text == "5927782489442352469"
        _, forged = await client.get(URL, params={**params, "msg_signature": sha1_sorted("x", timestamp, nonce, echostr)})
        assert forged.status == 403
        assert "5927782489442352469" not in forged.text

    run(scenario())


def test_wecom_text_message_round_trip_keeps_agent_id():
    async def scenario():
        bot = FakeBot()
        client = make_client(wecom_channel(), bot)
        crypto = WeComCrypto(TOKEN, AES_KEY, CORP_ID)
        plain = text_xml("亲情账户多久生效", "7001", openid="zhangsan").replace("</MsgId>", "</MsgId><AgentID>1000002</AgentID>")
        req = encrypted_request(crypto, plain, AgentID="1000002")
        params = {k: req[k] for k in ("timestamp", "nonce", "msg_signature")}
        response = await post(client, req["body"], params=params)
        assert response.status == 200
        envelope = fields_of(response.text)
        reply = fields_of(crypto.decrypt_message(response.text, envelope["MsgSignature"], envelope["TimeStamp"], envelope["Nonce"]))
        assert reply["Content"] == EXPECTED_JOINED
        assert (reply["ToUserName"], reply["AgentID"]) == ("zhangsan", "1000002")
        assert bot.received[0].sender_id == "zhangsan"
        assert bot.received[0].metadata["AgentID"] == "1000002"

    run(scenario())


# ---------------------------------------------------------------- configuration
def test_missing_token_is_a_clear_error_naming_wechat_token(monkeypatch):
    monkeypatch.delenv("WECHAT_TOKEN", raising=False)
    with pytest.raises(RasaException, match="WECHAT_TOKEN"):
        WeChatInput.from_credentials({"appid": APPID})


def test_from_credentials_falls_back_to_environment_and_hides_secrets(monkeypatch):
    monkeypatch.setenv("WECHAT_TOKEN", TOKEN)
    monkeypatch.setenv("WECHAT_APPID", APPID)
    monkeypatch.setenv("WECHAT_APPSECRET", APPSECRET)
    monkeypatch.setenv("WECHAT_AES_KEY", AES_KEY)
    monkeypatch.setenv("WECHAT_API_BASE", "http://127.0.0.1:9/")
    monkeypatch.setenv("WECHAT_REPLY_DEADLINE", "3.5")
    channel = WeChatInput.from_credentials({"appid": "wxFromCredentials", "mode": None})
    assert (channel.token, channel.appid, channel.appsecret) == (TOKEN, "wxFromCredentials", APPSECRET)
    assert (channel.mode, channel.api_base, channel.reply_deadline) == ("mp", "http://127.0.0.1:9", 3.5)
    assert APPSECRET not in repr(channel) and TOKEN not in repr(channel) and AES_KEY not in repr(channel)
    assert WeChatInput.from_credentials(None).appid == APPID
    with pytest.raises(RasaException, match="WECHAT_AES_KEY"):
        WeChatInput.from_credentials({"aes_key": "short"})
