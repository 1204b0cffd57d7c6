"""REST input channel that checks what it is given.

credentials.yml (replaces the bare ``rest:`` key; the URL stays ``/webhooks/rest/webhook``)::

    channels.rest.RestInput:
      auth_token: ...     # optional, else env REST_AUTH_TOKEN; when set every POST needs
                          # "Authorization: Bearer <token>" (server-to-server integrations)

Request: ``POST /webhooks/rest/webhook`` with a JSON object
``{"sender": "<1-128 chars>", "message": "<text>", "metadata": {...}?}``; answer: Rasa's list of
``{"recipient_id", "text" | "buttons" ...}``. ``?stream=true`` streams the messages as Rasa does.

What is refused (a JSON body ``{"error": "<code>", "message": "<English>", "message_zh": "<中文>"}``,
``message_zh`` from data/texts.yml, keys ``channel_rest_*``):

* a body over 1 MB: 413 (read as a stream). At start the channel also lowers Sanic's
  ``REQUEST_MAX_SIZE`` for the whole server from 100 MB to 2 MB (unless the environment sets
  ``SANIC_REQUEST_MAX_SIZE``), so that no route buffers a huge body before its handler runs;
* a body that is not UTF-8, not JSON, or not a JSON object (also JSON nested too deeply): 400;
* ``sender`` missing, not a string, empty, over 128 characters or with control characters: 400;
* ``message`` missing or not a string; ``metadata`` not an object: 400;
* with an auth token configured: no or a wrong ``Authorization`` header: 401.

What is answered without Rasa (HTTP 200, a polite Chinese message, nothing stored):

* text that is empty or only white space (after control characters are removed);
* text longer than 2,000 characters (``channels.common.MAX_TEXT_CHARS``, the same for every channel).

Everything else goes to Rasa as ``channels.common.clean_text(message)``: control characters, lone
surrogates and bidirectional overrides removed, then 身份证号 / bank card / mobile numbers masked
(``yibao.privacy.mask_personal_numbers``), so neither the NLU, the logs nor the tracker store see
them. Strings in ``metadata`` are masked too. The client's ``input_channel`` field is ignored (a
client could otherwise pretend to be another channel).

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
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput as RasaRestInput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse, ResponseStream

from channels import common, handoff_delivery
from channels.settings import setting
from yibao.privacy import mask_value

logger = logging.getLogger(__name__)

CHANNEL_NAME = "rest"
# Sanic's REQUEST_MAX_SIZE for the whole server (every route), set at start unless the environment
# variable SANIC_REQUEST_MAX_SIZE is set.
SERVER_MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_SENDER_CHARS = 128


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


def _bad_request(message: str, zh_key: str) -> _Reject:
    return _Reject(400, "bad_request", message, common.text(zh_key))


class RestInput(RasaRestInput):
    """Rasa's REST channel with input checks, masking and an apology instead of silence."""

    @classmethod
    def name(cls) -> Text:
        return CHANNEL_NAME

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "RestInput":
        return cls(auth_token=setting(credentials, "auth_token", "REST_AUTH_TOKEN"),
                   callback_url=setting(credentials, "callback_url", "REST_CALLBACK_URL"))

    def __init__(self, auth_token: Optional[str] = None, max_body_bytes: int = common.MAX_BODY_BYTES,
                 max_text_chars: int = common.MAX_TEXT_CHARS, callback_url: Optional[str] = None) -> None:
        self.auth_token = auth_token
        # Where an agent's reply (channels/inbox.py) is POSTed at once; unset: it comes with the next message.
        self.callback_url = callback_url
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
            raise _Reject(401, "unauthorized", "missing or wrong Authorization: Bearer token",
                          common.text("rest_unauthorized"))

    async def _read_body(self, request: Request) -> bytes:
        try:
            return await common.read_body(request, self.max_body_bytes)
        except common.BodyTooLarge:
            raise _Reject(413, "payload_too_large", f"body larger than {self.max_body_bytes} bytes",
                          common.text("rest_too_large")) from None

    async def _parse(self, request: Request) -> Tuple[str, str, Optional[Dict[str, Any]]]:
        """Returns ``(sender, raw message text, masked metadata)`` or raises ``_Reject``."""
        self._check_auth(request)
        body = await self._read_body(request)
        try:
            decoded = body.decode("utf-8")
        except UnicodeDecodeError:
            raise _bad_request("body is not valid UTF-8", "rest_not_utf8") from None
        try:
            payload = json.loads(decoded)
        except (ValueError, RecursionError):
            raise _bad_request("body is not valid JSON", "rest_not_json") from None
        if not isinstance(payload, dict):
            raise _bad_request("body must be a JSON object", "rest_not_object")
        if "sender" not in payload:
            raise _bad_request("sender is required", "rest_no_sender")
        problem = _bad_sender(payload["sender"])
        if problem:
            raise _bad_request(problem, "rest_bad_sender")
        message = payload.get("message")
        if not isinstance(message, str):
            raise _bad_request("message must be a string", "rest_bad_message")
        metadata = payload.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise _bad_request("metadata must be a JSON object", "rest_bad_metadata")
        if metadata is not None:
            metadata = mask_value(metadata)
        return payload["sender"], message, metadata

    # -------------------------------------------------------------- answering
    async def _answer(self, on_new_message: Callable[[UserMessage], Awaitable[Any]], text: str,
                      sender_id: str, metadata: Optional[Dict[str, Any]], app: Any = None) -> List[Dict[str, Any]]:
        collector = CollectingOutputChannel()
        failed = False
        try:
            message = UserMessage(text, collector, sender_id, input_channel=CHANNEL_NAME, metadata=metadata)
            await on_new_message(message)
            await handoff_delivery.acknowledge_if_waiting(message)
        except CancelledError:
            logger.error("REST channel: the answer for a message timed out")
            failed = True
        except Exception:
            logger.exception("REST channel: Rasa failed to handle a message")
            failed = True
        messages = list(collector.messages)
        apology = common.apology()
        if failed and not any(m.get("text") == apology for m in messages):
            messages.append({"recipient_id": sender_id, "text": apology})
        elif not messages and not text.startswith("/") and not await self._with_agent(app, sender_id):
            logger.error("REST channel: Rasa produced no answer to a user message; sending the apology")
            messages.append({"recipient_id": sender_id, "text": apology})
        return messages

    @staticmethod
    async def _with_agent(app: Any, sender_id: str) -> bool:
        """A conversation handed to a person gets no bot answer (Rasa is paused for it): that silence
        is not a failure to apologise for; the agent's reply comes with a later message."""
        if app is None:
            return False
        try:
            return await handoff_delivery.with_agent(app, sender_id)
        except Exception:
            logger.exception("REST channel: could not tell whether the conversation is with an agent")
            return False

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

            text, reply = common.prepare_text(raw_text, self.max_text_chars)
            if reply is not None:
                return response.json([{"recipient_id": sender_id, "text": reply}], ensure_ascii=False)

            if rasa.utils.endpoints.bool_arg(request, "stream", default=False):
                return response.stream(
                    self.stream_response(on_new_message, text, sender_id, CHANNEL_NAME, metadata),
                    content_type="text/event-stream",
                )
            messages = await self._answer(on_new_message, text, sender_id, metadata, app=request.app)
            # What an agent wrote since the user's last message (channels/inbox.py) comes first.
            agent_replies = [{"recipient_id": sender_id, "text": reply}
                             for reply in await handoff_delivery.take_rest_replies(request.app, sender_id)]
            return response.json([*agent_replies, *messages], ensure_ascii=False)

        return rest
