"""REST input channel that checks what it is given, plus the action-server apology.

credentials.yml (replaces the bare ``rest:`` key; the URL stays ``/webhooks/rest/webhook``)::

    channels.rest.RestInput:
      auth_token: ...     # optional, else env REST_AUTH_TOKEN; when set every POST needs
                          # "Authorization: Bearer <token>" (server-to-server integrations)

Request: ``POST /webhooks/rest/webhook`` with a JSON object
``{"sender": "<1-128 chars>", "message": "<text>", "metadata": {...}?}``; answer: Rasa's list of
``{"recipient_id", "text" | "buttons" ...}``. ``?stream=true`` streams the messages as Rasa does.

What is refused (a JSON body ``{"error": "<code>", "message": "<English>", "message_zh": "<中文>"}``):

* a body over 1 MB: 413 (read as a stream). At start the channel also lowers Sanic's
  ``REQUEST_MAX_SIZE`` for the whole server from 100 MB to 2 MB (unless the environment sets
  ``SANIC_REQUEST_MAX_SIZE``), so that no route buffers a huge body before its handler runs;
* a body that is not UTF-8, not JSON, or not a JSON object (also JSON nested too deeply): 400;
* ``sender`` missing, not a string, empty, over 128 characters or with control characters: 400;
* ``message`` missing or not a string; ``metadata`` not an object: 400;
* with an auth token configured: no or a wrong ``Authorization`` header: 401.

What is answered without Rasa (HTTP 200, a polite Chinese message, nothing stored):

* text that is empty or only white space (after control characters are removed);
* text longer than 2,000 characters.

Everything else goes to Rasa as ``clean_text(message)``: control characters, lone surrogates and
bidirectional overrides removed, then 身份证号 / bank card / mobile numbers masked
(``yibao.privacy.mask_personal_numbers``), so neither the NLU, the logs nor the tracker store see
them. Strings in ``metadata`` are masked too. The client's ``input_channel`` field is ignored (a
client could otherwise pretend to be another channel).

The same helpers (``prepare_text``) are used by the WeChat and Telegram channels.

Action server down or slow
--------------------------
The action-server apology itself is a Rasa patch (rasa_ext/action_apology.py, installed by the
launcher ``python -m rasa_ext``). As a second net the REST channel answers the apology when Rasa
raised or produced no message at all for a user's text.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import unicodedata
from asyncio import CancelledError
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text, Tuple, Union

import rasa.utils.endpoints
from channels.settings import setting
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from yibao.privacy import mask_personal_numbers, mask_value
from yibao.texts import load_texts

logger = logging.getLogger(__name__)

CHANNEL_NAME = "rest"
MAX_BODY_BYTES = 1024 * 1024
# Sanic's REQUEST_MAX_SIZE for the whole server (every route), set at start unless the environment
# variable SANIC_REQUEST_MAX_SIZE is set.
SERVER_MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_SENDER_CHARS = 128
MAX_TEXT_CHARS = 2000

EMPTY_TEXT_REPLY = "请输入您想咨询的问题，例如：亲情账户绑定后多久生效？"
TOO_LONG_REPLY = (
    f"您的消息太长了（超过{MAX_TEXT_CHARS}字），我没法一次看完。"
    "请用一两句话描述您的问题，例如：家庭共济怎么开通？"
)
APOLOGY_REPLY = load_texts()["channel_apology"]

# Bidirectional embeddings/overrides/isolates and the BOM: invisible, and they make logs lie.
_INVISIBLE = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF}
_ZWJ = "\u200d"  # kept inside emoji sequences (👨‍👩‍👧), removed next to a digit
_DIGITS = set("0123456789０１２３４５６７８９")


# ---------------------------------------------------------------------------------- text hygiene
def strip_control(text: str) -> str:
    """Removes control characters (tab and line breaks become a space / a newline), lone
    surrogates and invisible format characters (zero-width spaces, bidirectional overrides, the
    BOM), so that nothing invisible can hide a number from the masking or make a log line lie.
    Letters, digits, punctuation and emoji (with their zero-width joiners and variation selectors)
    are kept."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in text:
        if ch == "\n":
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif ch == _ZWJ:
            out.append(ch)
        elif ord(ch) in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cs", "Cf"):
            continue
        else:
            out.append(ch)
    if _ZWJ in text:
        kept = out
        out = [ch for i, ch in enumerate(kept)
               if ch != _ZWJ or not ((i > 0 and kept[i - 1] in _DIGITS)
                                     or (i + 1 < len(kept) and kept[i + 1] in _DIGITS))]
    return "".join(out)


def clean_text(text: str) -> str:
    """The text Rasa may see: control characters removed first (so that a NUL inside a number does
    not hide it), then personal numbers masked, then outer white space stripped."""
    return mask_personal_numbers(strip_control(text)).strip()


def prepare_text(text: str, max_chars: int = MAX_TEXT_CHARS) -> Tuple[str, Optional[str]]:
    """``(text_for_rasa, None)``, or ``("", reply)`` when the text must not reach the NLU: empty or
    white space only (a prompt) or longer than ``max_chars`` (ask for a shorter question)."""
    cleaned = clean_text(text)
    if not cleaned:
        return "", EMPTY_TEXT_REPLY
    if len(cleaned) > max_chars:
        return "", TOO_LONG_REPLY
    return cleaned, None


def _bad_sender(sender: Any) -> Optional[str]:
    if not isinstance(sender, str):
        return "sender must be a string"
    if not sender.strip():
        return "sender must not be empty"
    if len(sender) > MAX_SENDER_CHARS:
        return f"sender must be at most {MAX_SENDER_CHARS} characters"
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Cf") for ch in sender):
        return "sender must not contain control characters"
    return None


# ---------------------------------------------------------------------------------- the channel
class _Reject(Exception):
    def __init__(self, status: int, code: str, message: str, message_zh: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.message_zh = status, code, message, message_zh

    def response(self) -> HTTPResponse:
        return response.json(
            {"error": self.code, "message": self.message, "message_zh": self.message_zh},
            status=self.status,
            ensure_ascii=False,
        )


def _bad_request(message: str, message_zh: str = "请求格式不正确") -> _Reject:
    return _Reject(400, "bad_request", message, message_zh)


class RestInput(RasaRestInput):
    """Rasa's REST channel with input checks, masking and an apology instead of silence."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        return cls(auth_token=setting(credentials, "auth_token", "REST_AUTH_TOKEN"))

    def __init__(self, auth_token: Optional[str] = None, max_body_bytes: int = MAX_BODY_BYTES,
                 max_text_chars: int = MAX_TEXT_CHARS) -> None:
        self.auth_token = auth_token
        self.max_body_bytes = max_body_bytes
        self.max_text_chars = max_text_chars

    def __repr__(self) -> str:  # never show the token
        return f"RestInput(auth={'on' if self.auth_token else 'off'})"

    # -------------------------------------------------------------- request parsing
    def _check_auth(self, request: Request) -> None:
        if not self.auth_token:
            return
        given = request.headers.get("authorization") or ""
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.auth_token.encode()):
            raise _Reject(401, "unauthorized", "missing or wrong Authorization: Bearer token", "未授权的请求")

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        too_large = _Reject(413, "payload_too_large", f"body larger than {self.max_body_bytes} bytes",
                            "消息内容过大")
        if declared and declared.strip().isdigit() and int(declared) > self.max_body_bytes:
            raise too_large
        if request.stream is None:
            body = request.body or b""
        else:
            chunks: List[bytes] = []
            size = 0
            async for chunk in request.stream:
                if chunk:
                    size += len(chunk)
                    if size > self.max_body_bytes:
                        raise too_large
                    chunks.append(chunk)
            body = b"".join(chunks)
        if len(body) > self.max_body_bytes:
            raise too_large
        return body

    async def _parse(self, request: Request) -> Tuple[str, str, Optional[Dict[str, Any]]]:
        """Returns ``(sender, raw message text, masked metadata)`` or raises ``_Reject``."""
        self._check_auth(request)
        body = await self._read_body(request)
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_request("body is not valid UTF-8", "消息不是有效的 UTF-8 文本") from None
        try:
            payload = json.loads(decoded)
        except (ValueError, RecursionError):
            raise _bad_request("body is not valid JSON", "消息不是有效的 JSON") from None
        if not isinstance(payload, dict):
            raise _bad_request("body must be a JSON object", "消息必须是 JSON 对象")
        if "sender" not in payload:
            raise _bad_request("sender is required", "缺少 sender（会话编号）")
        problem = _bad_sender(payload["sender"])
        if problem:
            raise _bad_request(problem, "sender（会话编号）必须是 1-128 个字符的字符串")
        message = payload.get("message")
        if not isinstance(message, str):
            raise _bad_request("message must be a string", "message（消息内容）必须是字符串")
        metadata = payload.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _bad_request("metadata must be a JSON object", "metadata 必须是 JSON 对象")
        if metadata is not None:
            metadata = mask_value(metadata)
        return payload["sender"], message, metadata

    # -------------------------------------------------------------- answering
    async def _answer(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], text: str,
                      sender_id: str, metadata: Optional[Dict[str, Any]]) -> List[Dict[str, Any]]:
        collector = CollectingOutputChannel()
        failed = False
        try:
            await on_new_message(
                UserMessage(text, collector, sender_id, input_channel=CHANNEL_NAME, metadata=metadata)
            )
        except CancelledError:
            logger.error("REST channel: the answer for a message timed out")
            failed = True
        except Exception:
            logger.exception("REST channel: Rasa failed to handle a message")
            failed = True
        messages = list(collector.messages)
        if failed and not any(m.get("text") == APOLOGY_REPLY for m in messages):
            messages.append({"recipient_id": sender_id, "text": APOLOGY_REPLY})
        elif not messages and not text.startswith("/"):
            logger.error("REST channel: Rasa produced no answer to a user message; sending the apology")
            messages.append({"recipient_id": sender_id, "text": APOLOGY_REPLY})
        return messages

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        rest = Blueprint("custom_webhook_yibao_rest", __name__)

        @rest.listener("before_server_start")
        async def limit_request_size(app: Any, _loop: Any) -> None:
            # Sanic buffers a whole body (100 MB by default) before a non-streaming handler (Telegram,
            # Socket.IO polling, the HTTP API) can refuse it; lower that unless the operator chose.
            if "SANIC_REQUEST_MAX_SIZE" not in os.environ and app.config.REQUEST_MAX_SIZE > SERVER_MAX_BODY_BYTES:
                app.config.REQUEST_MAX_SIZE = SERVER_MAX_BODY_BYTES

        @rest.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"], stream=True)
        async def receive(request: Request) -> Union[ResponseStream, HTTPResponse]:
            try:
                sender_id, raw_text, metadata = await self._parse(request)
            except _Reject as rejection:
                logger.info("REST request refused (%s): %s", rejection.status, rejection.message)
                return rejection.response()

            text, reply = prepare_text(raw_text, self.max_text_chars)
            if reply is not None:
                return response.json([{"recipient_id": sender_id, "text": reply}], ensure_ascii=False)

            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender_id, CHANNEL_NAME, metadata),
                    content_type="text/event-stream",
                )
            messages = await self._answer(on_new_message, text, sender_id, metadata)
            return response.json(messages, ensure_ascii=False)

        return rest
