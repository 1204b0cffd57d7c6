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

1. The signature is checked on every request (403 when wrong or missing).
2. The body is read with a size limit (413), decoded as UTF-8 and parsed with defusedxml
   (DTDs, entities and external references refused: 400) before wechatpy sees it.
   Encrypted bodies (safe mode, WeCom) are decrypted and the plaintext is checked the same way.
3. Text (and the subscribe event, as ``/greet``) goes to Rasa once per MsgId (events: per
   FromUserName + CreateTime + Event); WeChat's retries wait for the same result.
4. All bot messages of the turn become one passive text reply; buttons become numbered options and
   the options are remembered per user so that a reply "1" / "２" / "三" sends that button's payload.
5. When the reply is not ready before the deadline (default 4.5 s, WeChat gives up at 5 s), the
   request is answered "success" and the reply is sent later through the customer-service message API.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple
from xml.etree.ElementTree import Element, ParseError

import aiohttp
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring as defused_fromstring
from channels.settings import setting
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from wechatpy import parser as mp_parser
from wechatpy import replies as mp_replies
from wechatpy.crypto import WeChatCrypto as MpCrypto
from wechatpy.enterprise import parser as wecom_parser
from wechatpy.enterprise import replies as wecom_replies
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException

from channels.rest import EMPTY_TEXT_REPLY as REST_EMPTY_TEXT_REPLY
from channels.rest import prepare_text

logger = logging.getLogger(__name__)

CHANNEL_NAME = "wechat"
MODE_MP = "mp"
MODE_WECOM = "wecom"
DEFAULT_API_BASE = {MODE_MP: "https://api.weixin.qq.com", MODE_WECOM: "https://qyapi.weixin.qq.com"}
DEFAULT_REPLY_DEADLINE = 4.5
MAX_BODY_BYTES = 1024 * 1024
MAX_OPENID_CHARS = 128
DEDUP_TTL_SECONDS = 300.0
DEDUP_MAX_ENTRIES = 10_000
MAX_REMEMBERED_USERS = 10_000
API_TIMEOUT_SECONDS = 10.0
TOKEN_EXPIRY_MARGIN_SECONDS = 300
# access_token invalid / expired: fetch a new one and try once more.
TOKEN_ERRCODES = {40001, 40014, 42001}

GREET_PAYLOAD = "/greet"
CHOICE_HINT = "回复数字即可"
UNSUPPORTED_REPLY = "抱歉，目前只能识别文字消息。请直接用文字描述您的问题，例如：亲情账户绑定后多久生效？"
EMPTY_TEXT_REPLY = "请用文字输入您想咨询的问题，例如：家庭共济怎么开通？"
APOLOGY_REPLY = "抱歉，系统暂时出了点问题，请稍后再试。如需人工帮助，请拨打医保服务热线 12393。"
SUCCESS = "success"

_CHINESE_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_CHOICE_STRIP = " \t\r\n.。、,，)）:：!！"


class _Reject(Exception):
    """Ends a request early with a 4xx answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def _sha1_signature(*parts: Optional[str]) -> str:
    return hashlib.sha1("".join(sorted(p or "" for p in parts)).encode("utf-8")).hexdigest()


def _same(expected: str, given: Optional[str]) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), str(given).lower().encode())


def _safe_parse(text: str) -> Element:
    """Parses XML refusing DTDs, entity declarations and external references."""
    try:
        return defused_fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise _Reject(400, f"XML with DTD/entities refused ({type(exc).__name__})") from None
    except (ParseError, ValueError) as exc:  # ValueError: e.g. embedded NUL characters
        raise _Reject(400, f"malformed XML ({exc})") from None


def parse_choice(text: str) -> Optional[int]:
    """'1', '１', '一', '①', '2.' → the number; anything else → None."""
    s = (text or "").strip().strip(_CHOICE_STRIP)
    if not s or len(s) > 3:
        return None
    if s.isdecimal():
        return int(s)
    if len(s) == 1:
        if s in _CHINESE_NUMERALS:
            return _CHINESE_NUMERALS[s]
        digit = unicodedata.digit(s, None)
        if digit is not None:
            return digit
    return None


def _cdata_safe(text: str) -> str:
    """Keeps text valid inside wechatpy's CDATA sections (drops control characters XML forbids)."""
    cleaned = "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 0x20)
    return cleaned.replace("]]>", "]]]]><![CDATA[>")


class WeChatOutput(CollectingOutputChannel):
    """Collects the bot's messages of one turn; named "wechat" for channel-specific responses."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME


@dataclass
class _Turn:
    """One incoming message (or event) and its shared result, for de-duplicating retries."""

    future: "asyncio.Future[Optional[str]]"
    created: float = field(default_factory=time.monotonic)
    answered_passively: bool = False
    sent_by_api: bool = False
    fallback_scheduled: bool = False


class WeChatInput(InputChannel):
    """Rasa input channel for 微信公众号 (mode "mp") and 企业微信 (mode "wecom")."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "WeChatInput":
        def value(key: str, env: str) -> Optional[str]:
            return setting(credentials, key, env)

        deadline = value("reply_deadline", "WECHAT_REPLY_DEADLINE")
        try:
            reply_deadline = float(deadline) if deadline is not None else DEFAULT_REPLY_DEADLINE
        except ValueError:
            raise RasaException("WeChat channel: WECHAT_REPLY_DEADLINE / reply_deadline must be a number of seconds") from None
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
        token: Optional[str],
        appid: Optional[str] = None,
        appsecret: Optional[str] = None,
        aes_key: Optional[str] = None,
        mode: str = MODE_MP,
        corp_id: Optional[str] = None,
        agent_id: Optional[str] = None,
        api_base: Optional[str] = None,
        reply_deadline: float = DEFAULT_REPLY_DEADLINE,
        max_body_bytes: int = MAX_BODY_BYTES,
        dedup_ttl: float = DEDUP_TTL_SECONDS,
        dedup_max_entries: int = DEDUP_MAX_ENTRIES,
        max_remembered_users: int = MAX_REMEMBERED_USERS,
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
        self.max_remembered_users = max_remembered_users

        self._crypto: Any = None
        if aes_key and len(aes_key) != 43:
            raise RasaException("WeChat channel: WECHAT_AES_KEY / aes_key must be the 43-character EncodingAESKey")
        if mode == MODE_WECOM:
            if not aes_key or not corp_id:
                raise RasaException("WeChat channel: mode wecom needs WECHAT_AES_KEY and WECHAT_CORP_ID (企业ID)")
            self._crypto = self._make_crypto(WeComCrypto, token, aes_key, corp_id)
            if agent_id is not None and not str(agent_id).isdigit():
                raise RasaException("WeChat channel: WECHAT_AGENT_ID / agent_id must be the numeric AgentId")
        elif aes_key:
            if not appid:
                raise RasaException("WeChat channel: safe mode (WECHAT_AES_KEY set) needs WECHAT_APPID")
            self._crypto = self._make_crypto(MpCrypto, token, aes_key, appid)

        api_id = corp_id if mode == MODE_WECOM else appid
        if not (api_id and appsecret) or (mode == MODE_WECOM and not agent_id):
            needs = "WECHAT_CORP_ID, WECHAT_APPSECRET and WECHAT_AGENT_ID" if mode == MODE_WECOM else "WECHAT_APPID and WECHAT_APPSECRET"
            logger.warning(
                "WeChat channel: %s not set, so replies slower than %.1f s cannot be delivered later "
                "through the message API (they are dropped).", needs, self.reply_deadline,
            )

        self._turns: "OrderedDict[str, _Turn]" = OrderedDict()
        self._choices: "OrderedDict[str, List[str]]" = OrderedDict()
        self._background: set = set()
        self._token_cache: Optional[Tuple[str, float]] = None
        self._token_lock: Optional[Tuple[asyncio.AbstractEventLoop, asyncio.Lock]] = None

    @staticmethod
    def _make_crypto(crypto_class: Any, token: str, aes_key: str, receiver_id: str) -> Any:
        try:
            return crypto_class(token, aes_key, receiver_id)
        except Exception:  # bad base64 / wrong length; never echo the key
            raise RasaException("WeChat channel: WECHAT_AES_KEY / aes_key is not a valid EncodingAESKey") from None

    def __repr__(self) -> str:  # never show secrets
        return f"WeChatInput(mode={self.mode!r}, safe_mode={self._crypto is not None}, api_base={self.api_base!r})"

    # ------------------------------------------------------------------ Sanic routes
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        webhook = Blueprint("wechat_webhook", url_prefix="/webhooks/wechat")

        @webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @webhook.route("/webhook", methods=["GET"])
        async def verify(request: Request) -> HTTPResponse:
            try:
                return response.text(self._verify_url(request.args))
            except _Reject as rejection:
                logger.info("WeChat URL verification refused: %s", rejection.reason)
                return response.text(rejection.reason, status=rejection.status)
            except Exception:
                logger.exception("WeChat channel: unexpected error during URL verification")
                return response.text("bad request", status=400)

        @webhook.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> HTTPResponse:
            try:
                return await self._receive(request, on_new_message)
            except _Reject as rejection:
                logger.info("WeChat request refused (%s): %s", rejection.status, rejection.reason)
                return response.text(rejection.reason, status=rejection.status)
            except Exception:  # never a 500 towards WeChat
                logger.exception("WeChat channel: unexpected error while handling a request")
                return response.text(SUCCESS)

        return webhook

    # ------------------------------------------------------------------ signatures
    def _verify_url(self, args: Any) -> str:
        timestamp, nonce, echostr = args.get("timestamp"), args.get("nonce"), args.get("echostr")
        if not (timestamp and nonce and echostr):
            raise _Reject(403, "missing signature parameters")
        if self.mode == MODE_MP:
            self._check_plain_signature(args)
            return echostr
        msg_signature = args.get("msg_signature")
        if not msg_signature:
            raise _Reject(403, "missing msg_signature")
        # '+' in an echostr that was not percent-encoded arrives as a space.
        candidates = [echostr] + ([echostr.replace(" ", "+")] if " " in echostr else [])
        for candidate in candidates:
            if _same(_sha1_signature(self.token, timestamp, nonce, candidate), msg_signature):
                try:
                    return self._crypto.check_signature(msg_signature, timestamp, nonce, candidate)
                except Exception:
                    raise _Reject(400, "echostr cannot be decrypted") from None
        raise _Reject(403, "invalid msg_signature")

    def _check_plain_signature(self, args: Any) -> None:
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not (signature and timestamp and nonce):
            raise _Reject(403, "missing signature")
        if not _same(_sha1_signature(self.token, timestamp, nonce), signature):
            raise _Reject(403, "invalid signature")

    # ------------------------------------------------------------------ POST handling
    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            raise _Reject(413, "body too large")
        if request.stream is None:
            body = request.body or b""
        else:
            chunks: List[bytes] = []
            size = 0
            async for chunk in request.stream:
                if chunk:
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise _Reject(413, "body too large")
                    chunks.append(chunk)
            body = b"".join(chunks)
        if len(body) > self.max_body_bytes:
            raise _Reject(413, "body too large")
        return body

    async def _receive(self, request: Request, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> HTTPResponse:
        started = time.monotonic()
        args = request.args
        timestamp, nonce = args.get("timestamp") or "", args.get("nonce") or ""
        encrypted = self.mode == MODE_WECOM or (args.get("encrypt_type") or "").lower() == "aes"
        if self.mode == MODE_MP:
            self._check_plain_signature(args)
        if encrypted and not (args.get("msg_signature") and timestamp and nonce):
            raise _Reject(403, "missing msg_signature")

        body = await self._read_body(request)
        if not body.strip():
            raise _Reject(400, "empty body")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _Reject(400, "body is not valid UTF-8") from None
        root = _safe_parse(text)

        if encrypted:
            if self._crypto is None:
                raise _Reject(400, "encrypted message but WECHAT_AES_KEY is not configured")
            encrypted_part = root.findtext("Encrypt")
            if not encrypted_part:
                raise _Reject(400, "missing Encrypt")
            try:
                text = self._crypto.decrypt_message(
                    {"Encrypt": encrypted_part}, args.get("msg_signature"), timestamp, nonce
                )
            except InvalidSignatureException:
                raise _Reject(403, "invalid msg_signature") from None
            except Exception:
                raise _Reject(400, "Encrypt cannot be decrypted") from None
            root = _safe_parse(text)

        if root.tag != "xml":
            raise _Reject(400, "root element must be <xml>")
        fields = {child.tag: (child.text or "") for child in root}
        for required in ("ToUserName", "FromUserName", "CreateTime", "MsgType"):
            if not fields.get(required, "").strip():
                raise _Reject(400, f"missing {required}")
        if len(fields["FromUserName"].strip()) > MAX_OPENID_CHARS:  # openids are 28, WeCom user ids <= 64
            raise _Reject(400, "FromUserName too long")
        try:
            message = (wecom_parser if self.mode == MODE_WECOM else mp_parser).parse_message(text)
        except Exception:
            raise _Reject(400, "message cannot be parsed") from None

        try:
            reply = await self._dispatch(fields, message, started, on_new_message)
        except Exception:
            logger.exception("WeChat channel: error while answering a message")
            reply = APOLOGY_REPLY
        return self._render_reply(reply, message, nonce, encrypted)

    def _render_reply(self, reply: Optional[str], message: Any, nonce: str, encrypted: bool) -> HTTPResponse:
        if not reply:
            return response.text(SUCCESS)
        replies = wecom_replies if self.mode == MODE_WECOM else mp_replies
        xml = replies.TextReply(message=message, content=_cdata_safe(reply)).render()
        if encrypted:
            xml = self._crypto.encrypt_message(xml, nonce or str(int(time.time())))
        return response.text(xml, content_type="application/xml; charset=utf-8")

    async def _dispatch(
        self,
        fields: Dict[str, str],
        message: Any,
        started: float,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> Optional[str]:
        """Returns the passive reply text, or None to answer "success"."""
        msg_type = fields["MsgType"].strip().lower()
        openid = fields["FromUserName"].strip()
        metadata: Dict[str, Any] = {
            "MsgId": fields.get("MsgId") or None,
            "MsgType": msg_type,
            "ToUserName": fields["ToUserName"],
            "CreateTime": fields["CreateTime"],
        }
        if "AgentID" in fields:
            metadata["AgentID"] = fields["AgentID"]

        if msg_type == "text":
            # Control characters removed, personal numbers masked, over-long text answered politely.
            content, polite = prepare_text(fields.get("Content") or "")
            if polite is not None:
                return EMPTY_TEXT_REPLY if polite == REST_EMPTY_TEXT_REPLY else polite
            msg_id = (fields.get("MsgId") or "").strip()
            key = f"msg:{msg_id}" if msg_id else f"text:{openid}:{fields['CreateTime']}:{hashlib.sha1(content.encode()).hexdigest()}"
            return await self._answer_once(key, openid, content, metadata, msg_id or None, started, on_new_message)

        if msg_type == "event":
            event = (fields.get("Event") or "").strip().lower()
            metadata["Event"] = event
            if event in ("subscribe", "subscribe_scan"):
                text: Optional[str] = GREET_PAYLOAD
            elif event == "click" and (fields.get("EventKey") or "").strip():
                text = fields["EventKey"].strip()  # a menu button whose key is a payload or a question
            else:
                return None  # unsubscribe, view, location report, template results...: "success"
            key = f"event:{openid}:{fields['CreateTime']}:{event}"
            return await self._answer_once(key, openid, text, metadata, None, started, on_new_message, raw=True)

        return UNSUPPORTED_REPLY

    # ------------------------------------------------------------------ de-duplication and deadline
    def _lookup_turn(self, key: str) -> Optional[_Turn]:
        now = time.monotonic()
        while self._turns:
            oldest = next(iter(self._turns.values()))
            if now - oldest.created <= self.dedup_ttl:
                break
            self._turns.popitem(last=False)
        return self._turns.get(key)

    def _store_turn(self, key: str, turn: _Turn) -> None:
        self._turns[key] = turn
        while len(self._turns) > self.dedup_max_entries:
            self._turns.popitem(last=False)

    def _spawn(self, coroutine: Awaitable[Any]) -> "asyncio.Future[Any]":
        task = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _answer_once(
        self,
        key: str,
        openid: str,
        text: str,
        metadata: Dict[str, Any],
        message_id: Optional[str],
        started: float,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        raw: bool = False,
    ) -> Optional[str]:
        turn = self._lookup_turn(key)
        if turn is None:
            turn = _Turn(future=asyncio.get_running_loop().create_future())
            self._store_turn(key, turn)
            if not raw:
                text = self._resolve_choice(openid, text)
            self._spawn(self._run_bot(turn, openid, text, metadata, message_id, on_new_message))
        else:
            logger.debug("WeChat channel: retry of %s, reusing the first delivery's result", key)

        remaining = self.reply_deadline - (time.monotonic() - started)
        try:
            reply = await asyncio.wait_for(asyncio.shield(turn.future), timeout=max(remaining, 0.0))
        except asyncio.TimeoutError:
            if not turn.fallback_scheduled:
                turn.fallback_scheduled = True
                self._spawn(self._deliver_later(turn, openid))
            return None
        if turn.sent_by_api:
            return None
        turn.answered_passively = True
        return reply

    async def _run_bot(
        self,
        turn: _Turn,
        openid: str,
        text: str,
        metadata: Dict[str, Any],
        message_id: Optional[str],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
    ) -> None:
        reply: Optional[str] = APOLOGY_REPLY
        try:
            output = WeChatOutput()
            await on_new_message(
                UserMessage(
                    text,
                    output,
                    openid,
                    input_channel=CHANNEL_NAME,
                    message_id=message_id,
                    metadata=metadata,
                )
            )
            reply = self._render_messages(openid, output.messages)
        except Exception:
            logger.exception("WeChat channel: the bot failed to handle a message")
        finally:
            if not turn.future.done():
                turn.future.set_result(reply)

    async def _deliver_later(self, turn: _Turn, openid: str) -> None:
        reply = await asyncio.shield(turn.future)
        if not reply or turn.answered_passively or turn.sent_by_api:
            return
        turn.sent_by_api = True
        try:
            await self.send_customer_service_text(openid, reply)
        except Exception as exc:  # logged without URLs (they carry the access_token)
            logger.error("WeChat channel: late reply could not be delivered (%s: %s)", type(exc).__name__, _redact(str(exc)))

    # ------------------------------------------------------------------ buttons as numbered options
    def _render_messages(self, openid: str, messages: List[Dict[str, Any]]) -> Optional[str]:
        parts: List[str] = []
        options: List[str] = []
        last_options_part = -1
        for message in messages:
            block: List[str] = []
            if message.get("text"):
                block.append(str(message["text"]).strip())
            if message.get("image"):
                block.append(str(message["image"]))
            if message.get("attachment"):
                block.append(str(message["attachment"]))
            custom = message.get("custom")
            if isinstance(custom, dict) and isinstance(custom.get("text"), str):
                block.append(custom["text"].strip())
            for button in message.get("buttons") or []:
                title = str(button.get("title") or button.get("payload") or "").strip()
                payload = str(button.get("payload") or title).strip()
                if not payload:
                    continue
                options.append(payload)
                block.append(f"{len(options)}. {title}")
                last_options_part = len(parts)
            block = [line for line in block if line]
            if block:
                parts.append("\n".join(block))
        if options and last_options_part >= 0:
            parts[last_options_part] += f"\n{CHOICE_HINT}"
        self._remember_choices(openid, options)
        return "\n\n".join(parts) if parts else None

    def _remember_choices(self, openid: str, options: List[str]) -> None:
        if not options:
            self._choices.pop(openid, None)
            return
        self._choices[openid] = options
        self._choices.move_to_end(openid)
        while len(self._choices) > self.max_remembered_users:
            self._choices.popitem(last=False)

    def _resolve_choice(self, openid: str, text: str) -> str:
        options = self._choices.get(openid)
        if not options:
            return text
        number = parse_choice(text)
        if number is None or not 1 <= number <= len(options):
            return text
        return options[number - 1]

    # ------------------------------------------------------------------ customer-service message API
    def _lock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        if self._token_lock is None or self._token_lock[0] is not loop:
            self._token_lock = (loop, asyncio.Lock())
        return self._token_lock[1]

    async def _access_token(self, session: aiohttp.ClientSession, refresh: bool = False) -> str:
        async with self._lock():
            if not refresh and self._token_cache and self._token_cache[1] > time.time():
                return self._token_cache[0]
            if self.mode == MODE_WECOM:
                url = f"{self.api_base}/cgi-bin/gettoken"
                params = {"corpid": self.corp_id or "", "corpsecret": self.appsecret or ""}
            else:
                url = f"{self.api_base}/cgi-bin/token"
                params = {"grant_type": "client_credential", "appid": self.appid or "", "secret": self.appsecret or ""}
            async with session.get(url, params=params) as resp:
                data = await resp.json(content_type=None)
            token = data.get("access_token") if isinstance(data, dict) else None
            if not token:
                errcode = data.get("errcode") if isinstance(data, dict) else None
                raise RuntimeError(f"access_token request failed (errcode {errcode})")
            expires_in = int(data.get("expires_in") or 7200)
            self._token_cache = (token, time.time() + max(expires_in - TOKEN_EXPIRY_MARGIN_SECONDS, 60))
            return token

    async def send_customer_service_text(self, openid: str, content: str) -> None:
        """Sends a text through the customer-service API (客服消息; WeCom: 应用消息)."""
        if self.mode == MODE_WECOM:
            if not (self.corp_id and self.appsecret and self.agent_id):
                raise RuntimeError("WECHAT_CORP_ID / WECHAT_APPSECRET / WECHAT_AGENT_ID not configured")
            path = "/cgi-bin/message/send"
            payload: Dict[str, Any] = {"touser": openid, "msgtype": "text", "agentid": int(self.agent_id), "text": {"content": content}}
        else:
            if not (self.appid and self.appsecret):
                raise RuntimeError("WECHAT_APPID / WECHAT_APPSECRET not configured")
            path = "/cgi-bin/message/custom/send"
            payload = {"touser": openid, "msgtype": "text", "text": {"content": content}}
        # ensure_ascii=False: WeChat shows \uXXXX escapes literally.
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        timeout = aiohttp.ClientTimeout(total=API_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for attempt in range(2):
                token = await self._access_token(session, refresh=attempt > 0)
                async with session.post(
                    f"{self.api_base}{path}",
                    params={"access_token": token},
                    data=body,
                    headers={"Content-Type": "application/json; charset=utf-8"},
                ) as resp:
                    data = await resp.json(content_type=None)
                errcode = data.get("errcode", 0) if isinstance(data, dict) else -1
                if errcode == 0:
                    logger.debug("WeChat channel: late reply delivered through %s", path)
                    return
                if errcode in TOKEN_ERRCODES and attempt == 0:
                    self._token_cache = None
                    continue
                raise RuntimeError(f"{path} answered errcode {errcode}")


def _redact(text: str) -> str:
    """Cuts query strings (access_token, secret) out of error messages."""
    out = []
    for word in text.split(" "):
        out.append(word.split("?", 1)[0] + ("?…" if "?" in word else ""))
    return " ".join(out)
