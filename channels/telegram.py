"""Telegram channel for the 医保家庭助手 on Rasa 3.6.

Load it from credentials.yml as ``channels.telegram.TelegramInput``. Every setting may be given there
or, better, in the environment (see ``from_credentials`` and docs/channels/telegram.md).

What it changes compared with ``rasa.core.channels.telegram``:

* No network at configuration time. Rasa's ``get_output_channel`` runs ``asyncio.run(set_webhook())``,
  which binds aiogram's aiohttp session to a loop that is closed right after, so every later update
  fails with "Event loop is closed" (a 500). Here the webhook is registered in a ``before_server_start``
  listener, on the server's own loop, and the HTTP session is tied to the loop that uses it and closed
  in ``after_server_stop``.
* ``setWebhook`` carries ``secret_token`` (aiogram 2.15 has no parameter for it, so the method is
  called through ``Bot.request``), and every update must carry the same value in the
  ``X-Telegram-Bot-Api-Secret-Token`` header (constant-time compare) or it is refused with 403.
* ``getMe`` runs once at start (to check the token and the bot name) instead of on every update.
* Button payloads longer than Telegram's 64-byte ``callback_data`` limit are replaced by short ids,
  kept in the shared channel state (channels.state: Redis when Rasa's lock store is Redis), so a
  button sent by one replica works when it is pressed on another.
* An update Telegram re-delivers is handled once, on whichever replica it reaches (its id is claimed
  in the shared state).
* A button press is answered with ``answerCallbackQuery`` so the client's spinner stops.
* Non-text messages get a polite Chinese reply; malformed bodies get 400; a failure inside Rasa gets an
  apology (with 12393) and 200, because Telegram re-delivers an update until it gets a 2xx.

The wording comes from data/texts.yml (channels.common); the loop-bound HTTP session, which reaches
into aiogram's internals, from rasa_ext.aiogram_session.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
from typing import Any, Awaitable, Callable, Dict, List, Optional, Text

from aiogram import Bot
from aiogram.bot.api import TELEGRAM_PRODUCTION, TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup
from aiogram.utils.exceptions import TelegramAPIError, ValidationError
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import common, handoff_delivery
from channels.settings import setting
from channels.state import ChannelState, MemoryState, SharedState
from rasa.core.channels.channel import UserMessage
from rasa.core.channels.telegram import TelegramInput as RasaTelegramInput
from rasa.core.channels.telegram import TelegramOutput as RasaTelegramOutput
from rasa.shared.exceptions import RasaException

from rasa_ext.aiogram_session import LoopBoundSession

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

# credentials.yml key -> environment variable used when the key is missing or empty
ENV_VARS: Dict[Text, Text] = {
    "access_token": "TELEGRAM_TOKEN",
    "verify": "TELEGRAM_BOT_NAME",
    "webhook_url": "TELEGRAM_WEBHOOK_URL",
    "secret_token": "TELEGRAM_SECRET_TOKEN",
    "api_base": "TELEGRAM_API_BASE",
}
REQUIRED_KEYS = ("access_token", "webhook_url", "secret_token")

# Only these update types are requested from Telegram in setWebhook (anything else is ignored anyway).
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]

MAX_CALLBACK_DATA_BYTES = 64  # Bot API: InlineKeyboardButton.callback_data is 1-64 bytes
MAX_MESSAGE_CHARS = 4096  # Bot API: sendMessage text is 1-4096 characters
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # Bot API: setWebhook secret_token

# Shared-state lifetimes: a button can be pressed long after it was sent; Telegram re-delivers an
# update for at most 24 hours.
CALLBACK_TTL_SECONDS = 30 * 24 * 3600.0
UPDATE_TTL_SECONDS = 24 * 3600.0

START_COMMAND = "/start"
START_INTENT = "/greet"

# Message fields that mean a person sent something other than text (service messages such as
# new_chat_members or pinned_message are ignored silently instead).
NON_TEXT_CONTENT = (
    "sticker",
    "photo",
    "animation",
    "video",
    "video_note",
    "voice",
    "audio",
    "document",
    "location",
    "venue",
    "contact",
    "poll",
    "dice",
    "game",
    "story",
)


class TelegramConfigError(RasaException):
    """The Telegram channel is misconfigured; the server must not start."""


class BadUpdate(ValueError):
    """The request body is not a Telegram Update."""


class CallbackDataStore:
    """Maps button payloads that do not fit into ``callback_data`` to short ids, and back.

    Short payloads are sent unchanged. A long payload (or one that starts with the id prefix) becomes
    ``PREFIX + 20 hex digits of its SHA-256``; the mapping lives in the channel state
    (``tg:cb:<id>``, kept ``ttl`` seconds after the button was last sent), shared by the replicas
    when the state is Redis. An id that is no longer known (expired, or an in-process state after a
    restart) decodes to None.
    """

    PREFIX = "tgcb#"

    def __init__(self, shared: Optional[SharedState] = None, ttl: float = CALLBACK_TTL_SECONDS) -> None:
        self.shared = shared if shared is not None else SharedState(MemoryState(2048))
        self.ttl = ttl

    @property
    def state(self) -> ChannelState:
        return self.shared.current()

    async def encode(self, payload: Text) -> Text:
        if (
            len(payload.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES
            and payload
            and not payload.startswith(self.PREFIX)
        ):
            return payload
        short_id = self.PREFIX + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]
        await self.state.put(f"tg:cb:{short_id}", payload, self.ttl)
        return short_id

    async def decode(self, data: Text) -> Optional[Text]:
        if not data.startswith(self.PREFIX):
            return data
        return await self.state.get(f"tg:cb:{data}")


def _chunks(text: Text, size: int = MAX_MESSAGE_CHARS) -> List[Text]:
    """Splits ``text`` into pieces Telegram accepts, preferring line breaks."""
    pieces: List[Text] = []
    while len(text) > size:
        cut = text.rfind("\n", 0, size)
        if cut <= 0:
            cut = size
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


class TelegramOutput(LoopBoundSession, RasaTelegramOutput):
    """Rasa's Telegram output with a loop-safe HTTP session, optional local API base and safe buttons."""

    def __init__(
        self,
        access_token: Text,
        api_base: Optional[Text] = None,
        callback_store: Optional[CallbackDataStore] = None,
        timeout: float = 30,
    ) -> None:
        server = TelegramAPIServer.from_base(api_base) if api_base else TELEGRAM_PRODUCTION
        # Bot.__init__ only stores settings: no session and no event loop are created here.
        Bot.__init__(self, access_token, timeout=timeout, server=server)
        self.callback_store = callback_store if callback_store is not None else CallbackDataStore()

    # --- Bot API calls aiogram 2.15 lacks or gets wrong ----------------------------------------
    async def set_webhook_with_secret(
        self, url: Text, secret_token: Text, allowed_updates: Optional[List[Text]] = None
    ) -> bool:
        data: Dict[Text, Any] = {"url": url, "secret_token": secret_token}
        if allowed_updates is not None:
            data["allowed_updates"] = json.dumps(allowed_updates)
        return bool(await self.request("setWebhook", data))

    # --- sending -----------------------------------------------------------------------------
    async def send_text_message(self, recipient_id: Text, text: Text, **kwargs: Any) -> None:
        """Sends the reply as one message (split only at Telegram's length limit)."""
        for piece in _chunks(text.strip()):
            await self.send_message(recipient_id, piece)

    async def send_text_with_buttons(
        self,
        recipient_id: Text,
        text: Text,
        buttons: List[Dict[Text, Any]],
        button_type: Optional[Text] = None,
        **kwargs: Any,
    ) -> None:
        """Sends ``text`` with an inline keyboard.

        ``button_type`` (a response option in domain.yml): unset or ``vertical`` puts one button per
        row (Chinese titles stay readable on a phone), ``inline`` puts all buttons in one row,
        ``reply`` uses Rasa's reply keyboard (pressing sends the title, not the payload).
        """
        if button_type == "reply":
            await super().send_text_with_buttons(recipient_id, text, buttons, "reply", **kwargs)
            return
        if button_type not in (None, "inline", "vertical"):
            logger.warning("Unknown button_type %r, sending one button per row.", button_type)

        keyboard = [
            InlineKeyboardButton(
                str(button.get("title") or button.get("payload")),
                callback_data=await self.callback_store.encode(
                    str(button.get("payload") or button.get("title"))
                ),
            )
            for button in buttons
        ]
        markup = InlineKeyboardMarkup()
        if button_type == "inline":
            markup.row(*keyboard)
        else:
            for key in keyboard:
                markup.row(key)

        pieces = _chunks((text or "").strip()) or [common.text("buttons_default")]
        for piece in pieces[:-1]:
            await self.send_message(recipient_id, piece)
        await self.send_message(recipient_id, pieces[-1], reply_markup=markup)


class TelegramInput(RasaTelegramInput):
    """Telegram webhook at ``/webhooks/telegram/webhook``."""

    @classmethod
    def name(cls) -> Text:
        return "telegram"

    @classmethod
    def from_credentials(cls, credentials: Optional[Dict[Text, Any]]) -> "TelegramInput":
        """Takes each setting from credentials.yml, else from its environment variable.

        Keys (environment variable): ``access_token`` (TELEGRAM_TOKEN), ``verify`` (TELEGRAM_BOT_NAME),
        ``webhook_url`` (TELEGRAM_WEBHOOK_URL), ``secret_token`` (TELEGRAM_SECRET_TOKEN),
        ``api_base`` (TELEGRAM_API_BASE, only for a local or fake Bot API).
        """
        values = {key: setting(credentials, key, env_var) for key, env_var in ENV_VARS.items()}
        return cls(
            values["access_token"],
            values["verify"],
            values["webhook_url"],
            secret_token=values["secret_token"],
            api_base=values["api_base"],
        )

    def __init__(
        self,
        access_token: Optional[Text],
        verify: Optional[Text],
        webhook_url: Optional[Text],
        secret_token: Optional[Text] = None,
        api_base: Optional[Text] = None,
        debug_mode: bool = False,
        state: Optional[ChannelState] = None,
    ) -> None:
        super().__init__(access_token, verify, webhook_url, debug_mode=debug_mode)
        self.secret_token = secret_token
        self.api_base = api_base
        self._check_settings()
        self.shared = SharedState(state)
        self.callback_store = CallbackDataStore(self.shared)
        # Update ids are per bot: the token's public part (before ":") tells bots apart.
        self._bot_id = (access_token or "").split(":", 1)[0]
        self._webhook_registered = False
        self.bot_username: Optional[Text] = None
        try:
            self._output = TelegramOutput(
                access_token, api_base=api_base, callback_store=self.callback_store
            )
        except ValidationError as error:
            raise TelegramConfigError(
                "Telegram channel: TELEGRAM_TOKEN (credentials key `access_token`) is not a bot "
                "token of the form <digits>:<secret> as given by @BotFather."
            ) from error

    def _check_settings(self) -> None:
        settings = {
            "access_token": self.access_token,
            "webhook_url": self.webhook_url,
            "secret_token": self.secret_token,
        }
        missing = [key for key in REQUIRED_KEYS if not settings[key]]
        if missing:
            names = ", ".join(f"{ENV_VARS[key]} (credentials key `{key}`)" for key in missing)
            raise TelegramConfigError(
                f"Telegram channel cannot start: missing {names}. "
                "Set the environment variable(s) or the key(s) in credentials.yml; "
                "see docs/channels/telegram.md."
            )
        if not _SECRET_RE.match(self.secret_token or ""):
            raise TelegramConfigError(
                "Telegram channel: TELEGRAM_SECRET_TOKEN (credentials key `secret_token`) must be "
                "1-256 characters from A-Z, a-z, 0-9, _ and - (Telegram's rule), "
                "e.g. the output of `openssl rand -hex 32`."
            )
        if not self.webhook_url.startswith("https://"):
            raise TelegramConfigError(
                "Telegram channel: TELEGRAM_WEBHOOK_URL (credentials key `webhook_url`) must be a "
                "public https:// URL, e.g. https://bot.example.org/webhooks/telegram/webhook."
            )
        if self.api_base and not self.api_base.startswith(("http://", "https://")):
            raise TelegramConfigError(
                "Telegram channel: TELEGRAM_API_BASE (credentials key `api_base`) must start with "
                "http:// or https://."
            )

    def get_output_channel(self) -> TelegramOutput:
        """The channel's output; creating it makes no network call (unlike Rasa's)."""
        return self._output

    async def register_webhook(self) -> None:
        """Checks the token and bot name with getMe, then calls setWebhook with the secret token.

        Runs once, at server start. Raises TelegramConfigError so that the server does not start
        with a webhook Telegram does not know about.
        """
        if self._webhook_registered:
            return
        out = self._output
        try:
            me = await out.get_me()
        except TelegramAPIError as error:
            raise TelegramConfigError(
                f"Telegram channel: getMe failed ({error}). Check TELEGRAM_TOKEN and the network."
            ) from error
        self.bot_username = me.username
        if self.verify and (me.username or "").casefold() != self.verify.lstrip("@").casefold():
            raise TelegramConfigError(
                f"Telegram channel: the token belongs to @{me.username}, but TELEGRAM_BOT_NAME "
                f"(credentials key `verify`) is {self.verify!r}."
            )
        try:
            ok = await out.set_webhook_with_secret(
                self.webhook_url, self.secret_token, ALLOWED_UPDATES
            )
        except TelegramAPIError as error:
            raise TelegramConfigError(
                f"Telegram channel: setWebhook for {self.webhook_url} failed ({error})."
            ) from error
        if not ok:
            raise TelegramConfigError(
                f"Telegram channel: setWebhook for {self.webhook_url} was refused."
            )
        self._webhook_registered = True
        logger.info("Telegram webhook set to %s for @%s", self.webhook_url, me.username)

    def _secret_matches(self, header: Optional[Text]) -> bool:
        if header is None:
            return False
        return hmac.compare_digest(header.encode("utf-8"), self.secret_token.encode("utf-8"))

    def blueprint(
        self, on_new_message: Callable[[UserMessage], Awaitable[Any]]
    ) -> Blueprint:
        telegram_webhook = Blueprint("telegram_webhook", __name__)

        @telegram_webhook.listener("before_server_start")
        async def register(_app: Any, _loop: Any) -> None:
            await self.register_webhook()

        @telegram_webhook.listener("after_server_stop")
        async def close(_app: Any, _loop: Any) -> None:
            await self._output.close_session()

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            if not self._secret_matches(request.headers.get(SECRET_HEADER)):
                logger.warning("Telegram update refused: missing or wrong %s", SECRET_HEADER)
                return response.text("forbidden", status=403)
            try:
                body = await common.read_body(request)
            except common.BodyTooLarge:
                return response.text("payload too large", status=413)
            try:
                update = json.loads(body)
                update_id = _update_id(update)
            except (ValueError, UnicodeDecodeError, RecursionError):
                return response.text("bad request: body is not a Telegram Update", status=400)
            try:
                state = self.shared.for_app(request.app)
                first = await state.claim(f"tg:update:{self._bot_id}:{update_id}", "1", UPDATE_TTL_SECONDS)
            except Exception:  # the state's Redis is down: answering twice beats never answering
                logger.exception("Telegram: could not record update %s as seen", update_id)
                first = True
            if not first:
                logger.debug("Telegram update %s already handled", update_id)
                return response.text("success")
            try:
                await self._handle_update(update, on_new_message, request)
            except BadUpdate as error:
                return response.text(f"bad request: {error}", status=400)
            except Exception:  # never 500: Telegram would re-deliver the update again and again
                logger.exception("Telegram: failed to handle update %s", update_id)
            return response.text("success")

        return telegram_webhook

    async def _handle_update(
        self,
        update: Dict[Text, Any],
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> None:
        if "callback_query" in update:
            await self._handle_button(update["callback_query"], on_new_message, request)
        elif "message" in update:
            await self._handle_message(update["message"], False, on_new_message, request)
        elif "edited_message" in update:
            await self._handle_message(update["edited_message"], True, on_new_message, request)
        # any other update type (channel_post, my_chat_member, ...) is acknowledged and ignored

    async def _handle_message(
        self,
        message: Any,
        edited: bool,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> None:
        chat_id = _chat_id(message)
        text = message.get("text")
        if text is not None and not isinstance(text, str):
            raise BadUpdate("message text is not a string")
        if text is None:
            if not edited and any(key in message for key in NON_TEXT_CONTENT):
                await self._send_safely(chat_id, common.text("only_text"))
            return  # service messages and edited captions/media: nothing to answer
        # Control characters removed, personal numbers masked; empty or over-long text is answered
        # politely without reaching the NLU.
        text, polite = common.prepare_text(text)
        if polite is not None:
            await self._send_safely(chat_id, polite)
            return
        if _is_start_command(text):
            text = START_INTENT
        # An edited message is answered as a new question: the user usually corrects a typo in a
        # question the bot did not understand.
        await self._deliver(text, chat_id, on_new_message, request)

    async def _handle_button(
        self,
        query: Any,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> None:
        if not isinstance(query, dict) or not isinstance(query.get("id"), str):
            raise BadUpdate("callback_query without id")
        message = query.get("message")
        if isinstance(message, dict) and "chat" in message:
            chat_id = _chat_id(message)
        else:  # button under an inline-mode message: answer in the user's private chat
            sender = query.get("from")
            if not isinstance(sender, dict) or not isinstance(sender.get("id"), int):
                raise BadUpdate("callback_query without message.chat and from.id")
            chat_id = str(sender["id"])
        data = query.get("data")

        # Stop the client's spinner first; Rasa may take a while.
        try:
            await self._output.answer_callback_query(query["id"])
        except Exception as error:  # e.g. "query is too old": the press still counts
            logger.warning("answerCallbackQuery failed: %s", error)

        if not isinstance(data, str) or not data:
            return  # game buttons carry game_short_name instead of data
        payload = await self.callback_store.decode(data)
        if payload is None:
            await self._send_safely(chat_id, common.text("expired_button"))
            return
        await self._deliver(payload, chat_id, on_new_message, request)

    async def _deliver(
        self,
        text: Text,
        chat_id: Text,
        on_new_message: Callable[[UserMessage], Awaitable[Any]],
        request: Request,
    ) -> None:
        user_message = UserMessage(
            text,
            self._output,
            chat_id,
            input_channel=self.name(),
            metadata=self.get_metadata(request),
        )
        try:
            await on_new_message(user_message)
            await handoff_delivery.acknowledge_if_waiting(user_message)
        except Exception:  # answer 200 anyway: Telegram would re-deliver the update forever
            logger.exception("Telegram: Rasa failed to handle a message from chat %s", chat_id)
            await self._send_safely(chat_id, common.apology())

    async def _send_safely(self, chat_id: Text, text: Text) -> None:
        try:
            await self._output.send_text_message(chat_id, text)
        except Exception:
            logger.exception("Telegram: could not send a message to chat %s", chat_id)


def _update_id(update: Any) -> int:
    if not isinstance(update, dict):
        raise ValueError("not a JSON object")
    update_id = update.get("update_id")
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise ValueError("no integer update_id")
    return update_id


def _chat_id(message: Any) -> Text:
    if not isinstance(message, dict):
        raise BadUpdate("message is not an object")
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        raise BadUpdate("message without chat.id")
    return str(chat["id"])


def _is_start_command(text: Text) -> bool:
    """``/start``, ``/start <deep-link parameter>`` and ``/start@BotName``."""
    first = text.split(maxsplit=1)[0]
    return first.split("@", 1)[0] == START_COMMAND
