"""Socket.IO channel and web chat page for the 医保家庭助手 on Rasa 3.6.

Load it from credentials.yml as ``channels.socketio.SocketIOInput`` (see docs/channels/webchat.md).
It speaks the protocol of Rasa's own ``socketio`` channel (and of the rasa-webchat widget) and fixes
what breaks on Rasa 3.6.21 / Python 3.11 / python-socketio 5:

* The engine.io transport is long-polling only. Sanic 21.12's websocket code passes bare coroutines
  to ``asyncio.wait``, which Python 3.11 forbids, so a websocket upgrade kills the connection. With
  ``transports=["polling"]`` and ``allow_upgrades=False`` the server refuses websocket connections and
  offers no upgrade in its handshake, so the client stays on long-polling without even trying.
* ``enter_room`` is awaited (it is a coroutine in python-socketio 5; Rasa calls it without ``await``),
  so with ``session_persistence: true`` the replies reach the browser and the conversation (sender id
  = the widget's ``session_id``) survives a page reload.
* A custom payload is emitted as the event's data, whatever its shape: ``{"data": X}`` (the only shape
  Rasa's channel can send, as keyword arguments of ``AsyncServer.emit``) sends X, any other object is
  sent whole instead of raising ``TypeError``; it always goes to the conversation's own room.
* A button without ``payload`` is sent with its title as payload instead of raising ``KeyError``.
* Bot text is sent with the Markdown characters that could make links, images or HTML encoded
  (rasa-webchat renders bot text as Markdown and does not sanitise ``javascript:`` links), so text
  that echoes what a user typed is always shown as text.
* Incoming events are checked: a ``session_id`` must look like an id and the socket must have asked
  for that session first; over-long messages get a short Chinese answer instead of reaching the NLU.

It also serves the chat page from the same server, so no CDN and no second web server is needed:
``GET /chat/`` is ``web/index.html``; ``/chat/static/webchat.js`` is the rasa-webchat bundle installed
by ``npm ci`` in ``web/`` (``make install``); ``/chat/static/chat.js`` is the page's start-up script.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import uuid
from pathlib import Path
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncRedisManager, AsyncServer

import rasa.core.channels.channel
import rasa.shared.utils.io
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketIOInput as RasaSocketIOInput
from rasa.core.channels.socketio import SocketIOOutput as RasaSocketIOOutput

from channels import common, handoff_delivery
from yibao.privacy import mask_value

logger = logging.getLogger(__name__)

PROJECT = Path(__file__).resolve().parent.parent
WEB_DIR = PROJECT / "web"
WEBCHAT_BUNDLE = Path("node_modules") / "rasa-webchat" / "lib" / "index.js"

_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# Written as character references these cannot start Markdown links, images, autolinks, bare-URL
# links, raw HTML or code; the widget's Markdown parser decodes them back, so the user reads the
# original characters.
# (Backslash escapes do not work here: its parser does not treat "\\<" as an escape and shows it.)
# ":" is encoded too, or "http://..." in the text would become a link.
_MARKDOWN_ACTIVE = re.compile(r"[&<>\[\]!`\\:]")
_REFERENCES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "[": "&#91;", "]": "&#93;", "!": "&#33;",
               "`": "&#96;", "\\": "&#92;", ":": "&#58;"}

# The chat page only talks to its own origin; inline styles are injected by the widget's bundle.
CHAT_PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def escape_markdown(text: Text) -> Text:
    """Returns ``text`` with the characters that start Markdown links, images and HTML encoded."""
    return _MARKDOWN_ACTIVE.sub(lambda match: _REFERENCES[match.group(0)], text)


def _bubble(text: Text) -> Text:
    """One reply is one bubble: each of its lines becomes a paragraph of it (the widget's Markdown
    would run single line breaks together)."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    return "\n\n".join(escape_markdown(line) for line in lines)


def _set_meta(page: Text, name: Text, value: Text) -> Text:
    """Fills ``<meta name=NAME content=...>`` of the chat page (the page reads its paths from them)."""
    pattern = re.compile(r'(<meta name="' + re.escape(name) + r'" content=")[^"]*(")')
    return pattern.sub(lambda m: m.group(1) + html.escape(value, quote=True) + m.group(2), page, count=1)


def client_manager(environ: Optional[Dict[str, str]] = None) -> Optional[AsyncRedisManager]:
    """With ``SOCKETIO_REDIS_URL`` (e.g. ``redis://127.0.0.1:6379/2``) every replica's Socket.IO server
    passes emits through Redis, so a message for a session reaches it on whichever replica its browser
    polls (an agent's reply from the inbox, channels/inbox.py). Unset: python-socketio's in-process
    manager, as before. ``SOCKETIO_REDIS_CHANNEL`` names the pub/sub channel (default ``yibao:socketio``)."""
    env = os.environ if environ is None else environ
    url = (env.get("SOCKETIO_REDIS_URL") or "").strip()
    if not url:
        return None
    return AsyncRedisManager(url, channel=env.get("SOCKETIO_REDIS_CHANNEL") or "yibao:socketio")


def valid_session_id(value: Any) -> bool:
    return isinstance(value, str) and bool(_SESSION_ID.match(value))


class SocketIOOutput(RasaSocketIOOutput):
    """Rasa's Socket.IO output with safe text, buttons that always carry a payload and custom JSON that
    can be emitted."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        await self._send_message(recipient_id, {"text": _bubble(text)})

    async def send_text_with_buttons(
        self, recipient_id: Text, text: Text, buttons: List[Dict[Text, Any]], **kwargs: Any
    ) -> None:
        message: Dict[Text, Any] = {"text": _bubble(text)}
        message["quick_replies"] = [
            {
                "content_type": "text",
                "title": str(button.get("title", "")),
                "payload": str(button.get("payload") or button.get("title", "")),
            }
            for button in buttons
        ]
        await self._send_message(recipient_id, message)

    async def send_custom_json(
        self, recipient_id: Text, json_message: Dict[Text, Any], **kwargs: Any
    ) -> None:
        """Emits a custom payload as the event's data.

        ``{"data": X}`` (the shape Rasa's channel needs) sends X; any other object is sent whole.
        """
        if isinstance(json_message, dict) and set(json_message) <= {"data", "room", "to", "namespace"} \
                and "data" in json_message:
            data = json_message["data"]
        else:
            data = json_message
        await self.sio.emit(self.bot_message_evt, data, room=recipient_id)


class ChatBlueprint(Blueprint):
    """Attaches the Socket.IO server and the chat page routes to the app the channel is registered on.

    Both live at fixed paths (``socketio_path``, ``chat_path``), not under the blueprint's
    ``/webhooks/socketio`` prefix, which only keeps the health route.
    """

    def __init__(self, sio: AsyncServer, socketio_path: Text, chat_routes: List, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.ctx.sio = sio
        self.ctx.socketio_path = socketio_path
        self.ctx.chat_routes = chat_routes

    def register(self, app: Sanic, options: Dict[Text, Any]) -> None:
        self.ctx.sio.attach(app, self.ctx.socketio_path)
        for handler, uri, name in self.ctx.chat_routes:
            app.add_route(handler, uri, methods=["GET", "HEAD"], name=name, strict_slashes=True)
        super().register(app, options)


class SocketIOInput(RasaSocketIOInput):
    """Socket.IO input channel (rasa-webchat protocol) that works on Rasa 3.6 with Python 3.11."""

    @classmethod
    def name(cls) -> Text:
        return "socketio"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "SocketIOInput":
        credentials = credentials or {}
        return cls(
            credentials.get("user_message_evt", "user_uttered"),
            credentials.get("bot_message_evt", "bot_uttered"),
            credentials.get("namespace"),
            credentials.get("session_persistence", False),
            credentials.get("socketio_path", "/socket.io"),
            credentials.get("jwt_key"),
            credentials.get("jwt_method", "HS256"),
            credentials.get("metadata_key", "metadata"),
            chat_path=credentials.get("chat_path", "/chat"),
            web_dir=credentials.get("web_dir"),
        )

    def __init__(
        self,
        user_message_evt: Text = "user_uttered",
        bot_message_evt: Text = "bot_uttered",
        namespace: Optional[Text] = None,
        session_persistence: bool = False,
        socketio_path: Optional[Text] = "/socket.io",
        jwt_key: Optional[Text] = None,
        jwt_method: Optional[Text] = "HS256",
        metadata_key: Optional[Text] = "metadata",
        chat_path: Optional[Text] = "/chat",
        web_dir: Optional[Text] = None,
    ) -> None:
        super().__init__(user_message_evt, bot_message_evt, namespace, session_persistence,
                         socketio_path or "/socket.io", jwt_key, jwt_method, metadata_key)
        self.chat_path = ("/" + chat_path.strip("/")) if chat_path else None
        self.web_dir = Path(web_dir) if web_dir else WEB_DIR

    def get_output_channel(self) -> Optional["RasaSocketIOOutput"]:
        if self.sio is None:
            return super().get_output_channel()
        return SocketIOOutput(self.sio, self.bot_message_evt)

    # ----------------------------------------------------------------------------------- chat page
    def _chat_routes(self) -> List:
        if not self.chat_path:
            return []
        web_dir = self.web_dir
        prefix = self.chat_path
        socketio_path = "/" + self.socketio_path.strip("/")
        static = {
            "webchat.js": web_dir / WEBCHAT_BUNDLE,
            "chat.js": web_dir / "chat.js",
        }

        async def chat_redirect(_: Request) -> HTTPResponse:
            return response.redirect(prefix.rsplit("/", 1)[-1] + "/")

        async def chat_page(_: Request) -> HTTPResponse:
            page = (web_dir / "index.html").read_text(encoding="utf-8")
            page = _set_meta(page, "yibao-socketio-path", socketio_path)
            page = _set_meta(page, "yibao-chat-path", prefix)
            return response.html(page, headers={**CHAT_PAGE_HEADERS, "Cache-Control": "no-cache"})

        async def chat_static(_: Request, name: str) -> HTTPResponse:
            path = static.get(name)
            if path is None:
                return response.text("not found", status=404)
            if not path.is_file():
                return response.text("rasa-webchat is not installed: run `make install`", status=503)
            return await response.file(str(path), mime_type="application/javascript; charset=utf-8",
                                       headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"})

        return [
            (chat_redirect, prefix, "yibao_chat_redirect"),
            (chat_page, prefix + "/", "yibao_chat_page"),
            (chat_static, prefix + "/static/<name>", "yibao_chat_static"),
        ]

    # ---------------------------------------------------------------------------------- socket.io
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        # Polling only (see the module docstring); CORS is left to Sanic-CORS (`rasa run --cors`).
        sio = AsyncServer(async_mode="sanic", cors_allowed_origins=[], transports=["polling"],
                          allow_upgrades=False, client_manager=client_manager())
        socketio_webhook = ChatBlueprint(sio, self.socketio_path, self._chat_routes(),
                                         "socketio_webhook", __name__)
        self.sio = sio
        namespace = self.namespace

        @socketio_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @sio.on("connect", namespace=namespace)
        async def connect(sid: Text, environ: Dict, auth: Optional[Dict] = None) -> bool:
            if self.jwt_key:
                token = auth.get("token") if isinstance(auth, dict) else None
                payload = rasa.core.channels.channel.decode_bearer_token(
                    token, self.jwt_key, self.jwt_algorithm) if token else None
                if not payload:
                    return False
            logger.debug(f"User {sid} connected to socketIO endpoint.")
            return True

        @sio.on("disconnect", namespace=namespace)
        async def disconnect(sid: Text, *_: Any) -> None:
            logger.debug(f"User {sid} disconnected from socketIO endpoint.")
            if self.session_persistence:
                # The socket is still in its rooms here (python-socketio leaves them after this handler).
                for room in sio.rooms(sid, namespace=namespace):
                    if room != sid:
                        await handoff_delivery.page_closed(room, sid)

        @sio.on("session_request", namespace=namespace)
        async def session_request(sid: Text, data: Optional[Dict] = None) -> None:
            session_id = data.get("session_id") if isinstance(data, dict) else None
            if not valid_session_id(session_id):
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                await sio.enter_room(sid, session_id, namespace=namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=namespace)
            logger.debug(f"User {sid} joined session {session_id}.")
            if self.session_persistence:
                # An agent's replies written while this session's page was closed (channels/inbox.py).
                await handoff_delivery.page_opened(session_id, sid)
                output = SocketIOOutput(sio, self.bot_message_evt)
                for text in await handoff_delivery.take_pending_here(session_id):
                    await output.send_text_message(session_id, text)

        @sio.on(self.user_message_evt, namespace=namespace)
        async def handle_message(sid: Text, data: Any = None) -> None:
            if not isinstance(data, dict):
                return
            output_channel = SocketIOOutput(sio, self.bot_message_evt)
            if self.session_persistence:
                session_id = data.get("session_id")
                if not valid_session_id(session_id) or session_id not in sio.rooms(sid, namespace=namespace):
                    rasa.shared.utils.io.raise_warning(
                        "A message without a valid session_id was received and ignored. The client "
                        "must ask for its session with the `session_request` event first.")
                    return
                sender_id = session_id
            else:
                sender_id = sid

            text = data.get("message", "")
            if not isinstance(text, str):
                return
            # Same cleaning, masking and length limit as every channel (channels.common): empty or
            # over-long text answered politely, personal numbers masked before Rasa sees them.
            text, polite = common.prepare_text(text)
            if polite:
                await output_channel.send_text_message(sender_id, polite)
                return

            metadata = data.get(self.metadata_key) or {}
            if isinstance(metadata, str):
                try:
                    metadata = json.loads(metadata)
                except ValueError:
                    metadata = {}
            if not isinstance(metadata, dict):
                metadata = {}
            metadata = mask_value(metadata)
            message = UserMessage(text, output_channel, sender_id, input_channel=self.name(), metadata=metadata)
            await on_new_message(message)
            await handoff_delivery.acknowledge_if_waiting(message)

        return socketio_webhook
