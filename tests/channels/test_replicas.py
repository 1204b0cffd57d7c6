"""Two replicas in one process: two channel instances, each with its own Sanic app and its own fake
bot (its own Rasa), sharing one Redis channel state (db 15, a fresh prefix), as two Rasa replicas
behind nginx share the lock store's Redis. What a user would notice: a WeChat retry answered once,
a reply "1" that picks the option another replica offered, one access token for both, a Telegram
button that works on the other replica.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any
from urllib.parse import urljoin

import redis
from fakes import FakeBotAPI, FakeWeChatAPI
from sanic import Sanic
from test_telegram import (
    BOT_NAME,
    CHAT_ID,
    LONG_PAYLOAD,
    SECRET,
    TOKEN,
    WEBHOOK_URL,
    callback_update,
    chat,
    text_update,
)
from test_telegram import (
    URL as TG_URL,
)
from test_telegram import FakeBot as TelegramBot
from test_wechat import (
    APPID,
    APPSECRET,
    EXPECTED_JOINED,
    OPENID,
    PAYLOAD_GJ,
    FakeBot,
    fields_of,
    make_client,
    post,
    run,
    text_xml,
)
from test_wechat import (
    TOKEN as WX_TOKEN,
)

from redis_prefix import redis_prefix_fixture  # noqa: F401 (the redis_prefix fixture)

from channels.state import RedisState
from channels.telegram import SECRET_HEADER, TelegramInput
from channels.wechat import WeChatInput

REDIS_DB = 15
Sanic.test_mode = True


def shared_state(prefix: str) -> RedisState:
    """Each replica has its own Redis client, as each Rasa process has."""
    return RedisState(redis.Redis(db=REDIS_DB), prefix)


def wechat_replica(prefix: str, **settings: Any) -> WeChatInput:
    return WeChatInput(token=WX_TOKEN, appid=APPID, appsecret=APPSECRET, state=shared_state(prefix), **settings)


def msg_id() -> str:
    return str(int(time.time() * 1000) * 1000 + uuid.uuid4().int % 1000)


# ---------------------------------------------------------------------------------------- WeChat
def test_a_wechat_retry_sent_to_the_other_replica_reaches_rasa_once_and_gets_the_same_reply(redis_prefix):
    async def scenario():
        bot_a, bot_b = FakeBot(delay=0.4), FakeBot(delay=0.4)
        replica_a = make_client(wechat_replica(redis_prefix), bot_a)
        replica_b = make_client(wechat_replica(redis_prefix), bot_b)
        body = text_xml("亲情账户多久生效", msg_id())

        async def retry_on_b():
            await asyncio.sleep(0.1)  # WeChat's retry while replica A is still answering
            return await post(replica_b, body)

        first, retried = await asyncio.gather(post(replica_a, body), retry_on_b())
        late = await post(replica_b, body)  # another retry, after the answer
        assert len(bot_a.received) == 1 and bot_b.received == []
        for response in (first, retried, late):
            assert response.status == 200
            assert fields_of(response.text)["Content"] == EXPECTED_JOINED

    run(scenario())


def test_a_slow_turn_retried_on_the_other_replica_reaches_the_user_exactly_once(redis_prefix):
    """A gave up waiting (its late delivery is scheduled) while WeChat's retry waits on B: whichever
    claims the delivery first sends it, passively on B or through the API from A, never both."""

    async def scenario():
        api = FakeWeChatAPI().start()
        try:
            bot_a, bot_b = FakeBot(delay=0.6), FakeBot()
            replica_a = make_client(wechat_replica(redis_prefix, reply_deadline=0.2, api_base=api.base), bot_a)
            replica_b = make_client(wechat_replica(redis_prefix, reply_deadline=3, api_base=api.base), bot_b)
            body = text_xml("亲情账户多久生效", msg_id())
            assert (await post(replica_a, body)).text == "success"
            retried = await post(replica_b, body)
            await asyncio.sleep(0.5)
            passive = [] if retried.text == "success" else [fields_of(retried.text)["Content"]]
            assert passive + api.texts_to(OPENID) == [EXPECTED_JOINED]
            assert len(bot_a.received) == 1 and bot_b.received == []
        finally:
            api.stop()

    run(scenario())


def test_when_no_request_waits_long_enough_the_replica_that_ran_it_sends_it_once_by_the_api(redis_prefix):
    async def scenario():
        api = FakeWeChatAPI().start()
        try:
            bot_a, bot_b = FakeBot(delay=0.6), FakeBot()
            replica_a = make_client(wechat_replica(redis_prefix, reply_deadline=0.1, api_base=api.base), bot_a)
            replica_b = make_client(wechat_replica(redis_prefix, reply_deadline=0.1, api_base=api.base), bot_b)
            body = text_xml("亲情账户多久生效", msg_id())
            assert (await post(replica_a, body)).text == "success"
            assert (await post(replica_b, body)).text == "success"
            await api.wait_for_messages(1)
            await asyncio.sleep(0.3)
            assert api.texts_to(OPENID) == [EXPECTED_JOINED]
            assert len(bot_a.received) == 1 and bot_b.received == []
            after = await post(replica_b, body)  # sent by the API already: no second copy
            assert after.text == "success"
        finally:
            api.stop()

    run(scenario())


def test_a_number_sent_to_the_other_replica_picks_the_option_the_first_offered(redis_prefix):
    async def scenario():
        bot_a, bot_b = FakeBot(), FakeBot()
        replica_a = make_client(wechat_replica(redis_prefix), bot_a)
        replica_b = make_client(wechat_replica(redis_prefix), bot_b)
        offered = await post(replica_a, text_xml("亲情账户多久生效", msg_id()))
        assert fields_of(offered.text)["Content"] == EXPECTED_JOINED
        picked = await post(replica_b, text_xml("2", msg_id()))
        assert bot_b.texts == [PAYLOAD_GJ]
        assert fields_of(picked.text)["Content"] == f"收到：{PAYLOAD_GJ}"
        # The reply on B had no buttons: a further "1" on A is the text "1".
        await post(replica_a, text_xml("1", msg_id()))
        assert bot_a.texts == ["亲情账户多久生效", "1"]

    run(scenario())


def test_both_replicas_use_one_access_token(redis_prefix):
    """The fake API, like WeChat, invalidates the previous token at every fetch: replicas fetching
    their own would make each other's sends fail and fetch again."""

    async def scenario():
        api = FakeWeChatAPI(token_delay=0.3).start()  # a slow fetch: both replicas need it at once
        try:
            clients = [
                make_client(wechat_replica(redis_prefix, reply_deadline=0.05, api_base=api.base), FakeBot(delay=0.2))
                for _ in range(2)
            ]
            openids = [f"oReplica{n}{uuid.uuid4().hex[:19]}" for n in range(4)]
            bodies = [text_xml(f"第{n}个问题", msg_id(), openid=openid) for n, openid in enumerate(openids)]
            answers = await asyncio.gather(*(post(clients[n % 2], body) for n, body in enumerate(bodies)))
            assert {answer.text for answer in answers} == {"success"}
            await api.wait_for_messages(4, timeout=10)
            assert len(api.token_requests) == 1
            assert api.refused == []
            assert api.send_tokens == ["ACCESS_TOKEN_FAKE_1"] * 4
            assert sorted(api.texts_to(o)[0] for o in openids) == sorted(f"收到：第{n}个问题" for n in range(4))
        finally:
            api.stop()

    run(scenario())


# ---------------------------------------------------------------------------------------- Telegram
class TelegramReplica:
    def __init__(self, api: FakeBotAPI, prefix: str) -> None:
        self.bot = TelegramBot()
        self.channel = TelegramInput(
            TOKEN, BOT_NAME, WEBHOOK_URL, secret_token=SECRET, api_base=api.base, state=shared_state(prefix)
        )
        self.app = Sanic(f"telegram_replica_{uuid.uuid4().hex[:8]}")
        self.app.blueprint(
            self.channel.blueprint(self.bot.on_new_message), url_prefix=urljoin("/webhooks/", self.channel.url_prefix())
        )

    def post(self, update: Any):
        import json

        headers = {"Content-Type": "application/json", SECRET_HEADER: SECRET}
        _, resp = self.app.test_client.post(TG_URL, content=json.dumps(update).encode(), headers=headers)
        return resp


def test_a_telegram_button_sent_by_one_replica_works_when_pressed_on_the_other(redis_prefix):
    api = FakeBotAPI(TOKEN, BOT_NAME).start()
    try:
        replica_a, replica_b = TelegramReplica(api, redis_prefix), TelegramReplica(api, redis_prefix)
        replica_a.bot.extra_buttons = [{"title": "哈尔滨参保，南宁看病", "payload": LONG_PAYLOAD}]
        base = int(time.time())
        assert replica_a.post(text_update(base, "异地能用吗")).status == 200
        short_id = api.keyboards_for(CHAT_ID)[-1]["inline_keyboard"][2][0]["callback_data"]
        assert short_id.startswith("tgcb#")

        assert replica_b.post(callback_update(base + 1, short_id, query_id="77")).status == 200
        assert replica_b.bot.texts() == [LONG_PAYLOAD]
        assert chat(f"收到：{LONG_PAYLOAD}") in api.sent()
    finally:
        api.stop()


def test_a_telegram_update_redelivered_to_the_other_replica_is_handled_once(redis_prefix):
    api = FakeBotAPI(TOKEN, BOT_NAME).start()
    try:
        replica_a, replica_b = TelegramReplica(api, redis_prefix), TelegramReplica(api, redis_prefix)
        update = text_update(int(time.time()) + 50, "怎么解绑")
        assert replica_a.post(update).status == 200
        assert replica_b.post(update).status == 200
        assert replica_a.bot.texts() == ["怎么解绑"] and replica_b.bot.texts() == []
        assert api.texts_for(CHAT_ID).count("收到：怎么解绑") == 1
    finally:
        api.stop()
