"""WeChat input channel for Rasa 3.6: 微信公众号 (Official Account) and 企业微信 (WeCom).

credentials.yml::

    channels.wechat.WeChatInput:
      token: ...          # else env WECHAT_TOKEN (required)
      appid: ...          # else env WECHAT_APPID (safe mode and the customer-service API)
      appsecret: ...      # else env WECHAT_APPSECRET (customer-service API; WeCom: the app Secret)
      aes_key: ...        # else env WECHAT_AES_KEY (43 chars; set = safe mode / 安全模式)
      mode: mp            # else env WECHAT_MODE: mp | wecom
      corp_id: ...        # else env WECHAT_CORP_ID (WeCom only)
      agent_id: ...       # else env WECHAT_AGENT_ID (WeCom only, for the send API)
      api_base: ...       # else env WECHAT_API_BASE
      reply_deadline: 4.5 # else env WECHAT_REPLY_DEADLINE (seconds)

Webhook: ``/webhooks/wechat/webhook`` (GET = URL verification, POST = messages).

How a message flows:

1. The signature is checked on every request (403 when wrong or missing; channels.wechat.crypto).
2. The body is read with a size limit (413), decoded as UTF-8 and parsed once with defusedxml
   (DTDs, entities and external references refused: 400; channels.wechat.messages). Encrypted bodies
   (safe mode, WeCom) are decrypted and the plaintext is checked the same way.
3. Text (and the subscribe event, as ``/greet``) goes to Rasa once per MsgId (events: per
   FromUserName + CreateTime + Event), whichever replica WeChat's retries reach: the first replica to
   claim the message in the shared channel state (channels.state) passes it to Rasa; a retry on any
   replica waits for that result in the shared state.
4. All bot messages of the turn become one passive text reply; buttons become numbered options,
   remembered per user in the shared state, so that a reply "1" / "２" / "三" on any replica sends
   that button's payload (channels.wechat.choices).
5. When the reply is not ready before the deadline (default 4.5 s, WeChat gives up at 5 s), the
   request is answered "success" and the replica that ran the turn sends the reply later through the
   customer-service message API (channels.wechat.delivery), unless a retry got it passively: a reply
   is delivered once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import common, handoff_delivery
from channels.settings import setting
from channels.state import ChannelState, SharedState
from channels.wechat import choices
from channels.wechat.crypto import MODE_MP, MODE_WECOM, Signatures
from channels.wechat.delivery import API_TIMEOUT_SECONDS, DEFAULT_API_BASE, CustomerService, redact
from channels.wechat.errors import Reject
from channels.wechat.messages import Incoming, render_text_reply, safe_parse

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
DEFAULT_REPLY_DEADLINE = 4.5
DEDUP_TTL_SECONDS = 300.0
DEDUP_MAX_ENTRIES = 10_000
# Numbered options are kept this long for a reply "1"; a reply without buttons clears them.
CHOICES_TTL_SECONDS = 24 * 3600.0
GREET_PAYLOAD = "/greet"
SUCCESS = "success"

# Shared-state keys (prefixed by channels.state): see docs/channels/wechat.md.
TURN_KEY = "wx:turn:{}"  # claimed by the replica that passes the message to Rasa
REPLY_KEY = "wx:reply:{}"  # the turn's reply, for retries on any replica
DELIVERY_KEY = "wx:delivery:{}"  # "passive" or "api": how the reply went out (claimed once)
CHOICES_KEY = "wx:choices:{}"  # per user: the payloads of the numbered options last offered


class WeChatOutput(CollectingOutputChannel):
    """Collects the bot's messages of one turn; named "wechat" for channel-specific responses."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME


@dataclass
class _Turn:
    """A message this process passed to Rasa: its result, for the retries that reach this process."""

    future: asyncio.Future[str | None]
    created: float
    fallback_scheduled: bool = False


class WeChatInput(InputChannel):
    """Rasa input channel for 微信公众号 (mode "mp") and 企业微信 (mode "wecom")."""

    @classmethod
    def name(cls) -> str:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> WeChatInput:
        def value(key: str, env: str) -> str | None:
            return setting(credentials, key, env)

        deadline = value("reply_deadline", "WECHAT_REPLY_DEADLINE")
        try:
            reply_deadline = float(deadline) if deadline is not None else DEFAULT_REPLY_DEADLINE
        except ValueError:
            raise RasaException(
                "WeChat channel: WECHAT_REPLY_DEADLINE / reply_deadline must be a number of seconds"
            ) from None
        return cls(
            token=value("token", "WECHAT_TOKEN"),
            appid=value("appid", "WECHAT_APPID"),
            appsecret=value("appsecret", "WECHAT_APPSECRET"),
            aes_key=value("aes_key", "WECHAT_AES_KEY"),
            mode=value("mode", "WECHAT_MODE") or MODE_MP,
            corp_id=value("corp_id", "WECHAT_CORP_ID"),
            agent_id=value("agent_id", "WECHAT_AGENT_ID"),
            api_base=value("api_base", "WECHAT_API_BASE"),
            reply_deadline=reply_deadline,
        )

    def __init__(
        self,
        token: str | None,
        appid: str | None = None,
        appsecret: str | None = None,
        aes_key: str | None = None,
        mode: str = MODE_MP,
        corp_id: str | None = None,
        agent_id: str | None = None,
        api_base: str | None = None,
        reply_deadline: float = DEFAULT_REPLY_DEADLINE,
        max_body_bytes: int = common.MAX_BODY_BYTES,
        dedup_ttl: float = DEDUP_TTL_SECONDS,
        dedup_max_entries: int = DEDUP_MAX_ENTRIES,
        state: ChannelState | None = None,
        api_timeout: float = API_TIMEOUT_SECONDS,
    ) -> None:
        if not token:
            raise RasaException(
                "WeChat channel: no token. Set the environment variable WECHAT_TOKEN (or `token` under "
                "channels.wechat.WeChatInput in credentials.yml) to the Token entered in the WeChat console."
            )
        mode = (mode or MODE_MP).strip().lower()
        if mode not in (MODE_MP, MODE_WECOM):
            raise RasaException(f"WeChat channel: WECHAT_MODE / mode must be '{MODE_MP}' or '{MODE_WECOM}'")
        if not reply_deadline or reply_deadline <= 0:
            raise RasaException("WeChat channel: WECHAT_REPLY_DEADLINE / reply_deadline must be > 0 seconds")
        if reply_deadline >= 5:
            logger.warning("WeChat channel: reply deadline %.1f s is not below WeChat's 5 s limit", reply_deadline)
        if mode == MODE_WECOM:
            if not aes_key or not corp_id:
                raise RasaException("WeChat channel: mode wecom needs WECHAT_AES_KEY and WECHAT_CORP_ID (企业ID)")
            if agent_id is not None and not str(agent_id).isdigit():
                raise RasaException("WeChat channel: WECHAT_AGENT_ID / agent_id must be the numeric AgentId")
        elif aes_key and not appid:
            raise RasaException("WeChat channel: safe mode (WECHAT_AES_KEY set) needs WECHAT_APPID")

        self.token = token
        self.appid = appid
        self.appsecret = appsecret
        self.mode = mode
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.api_base = (api_base or DEFAULT_API_BASE[mode]).rstrip("/")
        self.reply_deadline = float(reply_deadline)
        self.max_body_bytes = max_body_bytes
        self.dedup_ttl = dedup_ttl
        self.dedup_max_entries = dedup_max_entries
        self.signatures = Signatures(token, mode, aes_key, corp_id if mode == MODE_WECOM else appid)
        self.delivery = CustomerService(
            mode, self.api_base, corp_id if mode == MODE_WECOM else appid, appsecret, agent_id, api_timeout
        )
        if not self.delivery.configured:
            needs = (
                "WECHAT_CORP_ID, WECHAT_APPSECRET and WECHAT_AGENT_ID"
                if mode == MODE_WECOM
                else "WECHAT_APPID and WECHAT_APPSECRET"
            )
            logger.warning(
                "WeChat channel: %s not set, so replies slower than %.1f s cannot be delivered later "
                "through the message API (they are dropped).",
                needs,
                self.reply_deadline,
            )
        self.shared = SharedState(state)
        # Who claimed a message, for the logs (the claim's value in the shared state).
        self.replica_id = uuid.uuid4().hex[:12]
        self._turns: OrderedDict[str, _Turn] = OrderedDict()
        self._background: set = set()

    def __repr__(self) -> str:  # never show secrets
        return f"WeChatInput(mode={self.mode!r}, safe_mode={self.signatures.safe_mode}, api_base={self.api_base!r})"

    # ------------------------------------------------------------------ Sanic routes
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("wechat_webhook", url_prefix="/webhooks/wechat")

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                return response.text(self.signatures.verify_url(request.args))
            except Reject as rejection:
                logger.info("WeChat URL verification refused: %s", rejection.reason)
                return response.text(rejection.reason, status=rejection.status)
            except Exception:
                logger.exception("WeChat channel: unexpected error during URL verification")
                return response.text("bad request", status=400)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except Reject as rejection:
                logger.info("WeChat request refused (%s): %s", rejection.status, rejection.reason)
                return response.text(rejection.reason, status=rejection.status)
            except Exception:  # never a 500 towards WeChat
                logger.exception("WeChat channel: unexpected error while handling a request")
                return response.text(SUCCESS)

        return webhook

    # ------------------------------------------------------------------ POST handling
    async def _parse(self, request: Request, encrypted: bool) -> Incoming:
        args = request.args
        if self.mode == MODE_MP:
            self.signatures.check_plain(args)
        if encrypted and not (args.get("msg_signature") and args.get("timestamp") and args.get("nonce")):
            raise Reject(403, "missing msg_signature")
        try:
            body = await common.read_body(request, self.max_body_bytes)
        except common.BodyTooLarge:
            raise Reject(413, "body too large") from None
        if not body.strip():
            raise Reject(400, "empty body")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject(400, "body is not valid UTF-8") from None
        root = safe_parse(text)
        if encrypted:
            encrypted_part = root.findtext("Encrypt")
            if not encrypted_part:
                raise Reject(400, "missing Encrypt")
            root = safe_parse(self.signatures.decrypt(encrypted_part, args))
        return Incoming.from_xml(root)

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        started = time.monotonic()
        encrypted = self.mode == MODE_WECOM or (request.args.get("encrypt_type") or "").lower() == "aes"
        incoming = await self._parse(request, encrypted)
        state = self.shared.for_app(request.app)
        try:
            reply = await self._dispatch(state, incoming, started, on_new_message)
        except Exception:
            logger.exception("WeChat channel: error while answering a message")
            reply = common.apology()
        if not reply:
            return response.text(SUCCESS)
        xml = render_text_reply(reply, incoming, self.mode)
        if encrypted:
            xml = self.signatures.encrypt(xml, request.args.get("nonce"))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    async def _dispatch(
        self,
        state: ChannelState,
        incoming: Incoming,
        started: float,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> str | None:
        """Returns the passive reply text, or None to answer "success"."""
        openid = incoming.sender
        metadata: dict[str, Any] = incoming.metadata()
        if incoming.msg_type == "text":
            # Control characters removed, personal numbers masked, over-long text answered politely.
            content, polite = common.prepare_text(incoming.content)
            if polite is not None:
                return polite
            msg_id = incoming.msg_id
            digest = hashlib.sha1(content.encode()).hexdigest()
            key = f"msg:{msg_id}" if msg_id else f"text:{openid}:{incoming.get('CreateTime')}:{digest}"
            return await self._answer_once(state, key, openid, content, metadata, msg_id, started, on_new_message)

        if incoming.msg_type == "event":
            event = incoming.get("Event").lower()
            metadata["Event"] = event
            if event in ("subscribe", "subscribe_scan"):
                text = GREET_PAYLOAD
            elif event == "click" and incoming.get("EventKey"):
                text = incoming.get("EventKey")  # a menu button whose key is a payload or a question
            else:
                return None  # unsubscribe, view, location report, template results...: "success"
            key = f"event:{openid}:{incoming.get('CreateTime')}:{event}"
            return await self._answer_once(state, key, openid, text, metadata, None, started, on_new_message, raw=True)

        return common.text("only_text")

    # ------------------------------------------------------------------ once per message, on any replica
    def _local_turn(self, key: str) -> _Turn | None:
        now = time.monotonic()
        while self._turns:
            oldest = next(iter(self._turns.values()))
            if now - oldest.created <= self.dedup_ttl:
                break
            self._turns.popitem(last=False)
        return self._turns.get(key)

    def _spawn(self, coroutine: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _answer_once(
        self,
        state: ChannelState,
        key: str,
        openid: str,
        text: str,
        metadata: dict[str, Any],
        message_id: str | None,
        started: float,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        raw: bool = False,
    ) -> str | None:
        def remaining() -> float:
            return max(self.reply_deadline - (time.monotonic() - started), 0.0)

        turn = self._local_turn(key)
        if turn is None and await state.claim(TURN_KEY.format(key), self.replica_id, self.dedup_ttl):
            turn = _Turn(future=asyncio.get_running_loop().create_future(), created=time.monotonic())
            self._turns[key] = turn
            while len(self._turns) > self.dedup_max_entries:
                self._turns.popitem(last=False)
            if not raw:
                text = choices.pick(await state.get_json(CHOICES_KEY.format(openid)) or [], text)
            self._spawn(self._run_bot(state, key, turn, openid, text, metadata, message_id, on_new_message))

        if turn is None:
            # Another replica passes this message to Rasa: wait for its result, never run it twice.
            logger.debug("WeChat channel: retry of %s, answered by another replica", key)
            raw_reply = await state.wait_for(REPLY_KEY.format(key), remaining())
            stored = json.loads(raw_reply) if raw_reply is not None else None
            if not isinstance(stored, dict):
                return None  # not ready: "success"; the replica that ran it delivers it later
            return await self._passively(state, key, stored.get("text") or None)

        try:
            reply = await asyncio.wait_for(asyncio.shield(turn.future), timeout=remaining())
        except TimeoutError:
            if not turn.fallback_scheduled:
                turn.fallback_scheduled = True
                self._spawn(self._deliver_later(state, key, turn, openid))
            return None
        return await self._passively(state, key, reply)

    async def _passively(self, state: ChannelState, key: str, reply: str | None) -> str | None:
        """``reply`` for this request unless it already went out through the message API."""
        if not reply:
            return None
        delivery = DELIVERY_KEY.format(key)
        if await state.claim(delivery, "passive", self.dedup_ttl) or await state.get(delivery) == "passive":
            return reply  # WeChat shows one passive reply; answering each retry the same is harmless
        return None

    async def _run_bot(
        self,
        state: ChannelState,
        key: str,
        turn: _Turn,
        openid: str,
        text: str,
        metadata: dict[str, Any],
        message_id: str | None,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        reply: str | None = common.apology()
        try:
            output = WeChatOutput()
            message = UserMessage(
                text, output, openid, input_channel=CHANNEL_NAME, message_id=message_id, metadata=metadata
            )
            await on_new_message(message)
            await handoff_delivery.acknowledge_if_waiting(message)
            reply, options = choices.render_messages(output.messages, common.text("choice_hint"))
            if options:
                await state.put_json(CHOICES_KEY.format(openid), options, CHOICES_TTL_SECONDS)
            else:
                await state.delete(CHOICES_KEY.format(openid))
        except Exception:
            logger.exception("WeChat channel: the bot failed to handle a message")
        finally:
            try:
                await state.put_json(REPLY_KEY.format(key), {"text": reply or ""}, self.dedup_ttl)
            except Exception:
                logger.exception("WeChat channel: the reply could not be shared with the other replicas")
            if not turn.future.done():
                turn.future.set_result(reply)

    async def _deliver_later(self, state: ChannelState, key: str, turn: _Turn, openid: str) -> None:
        reply = await asyncio.shield(turn.future)
        if not reply or not await state.claim(DELIVERY_KEY.format(key), "api", self.dedup_ttl):
            return  # nothing to say, or a retry (here or on another replica) got it passively
        try:
            await self.delivery.send_text(state, openid, reply)
            logger.debug("WeChat channel: late reply delivered through the message API")
        except Exception as exc:  # logged without URLs (they carry the access_token)
            logger.error(
                "WeChat channel: late reply could not be delivered (%s: %s)", type(exc).__name__, redact(str(exc))
            )

    async def send_customer_service_text(self, openid: str, content: str) -> None:
        """Sends a text through the customer-service API (客服消息; WeCom: 应用消息)."""
        await self.delivery.send_text(self.shared.current(), openid, content)
