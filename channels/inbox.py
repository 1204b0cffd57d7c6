"""The agent inbox: the service centre's staff take over conversations handed to a person (issue #12).

Load it from credentials.yml as ``channels.inbox.InboxInput``; its pages are at ``/inbox/``. It is an
input channel only so that Rasa serves it and hands it the running app (tracker store, lock store, the
other channels); it never passes a message to the NLU.

* **Who may use it.** ``INBOX_AGENTS="王芳:<token>,李强:<token>"`` in the environment of the Rasa
  server: one secret token per agent (at least 16 characters), compared in constant time. Unset: every
  inbox route answers 404. A browser signs in once (the token goes into an HttpOnly, SameSite=Strict
  cookie limited to /inbox); scripts send ``Authorization: Bearer <token>``.
* **What it shows.** The conversations whose last handoff event is ``pause`` (yibao.handoff), read from
  the tracker store every replica shares, with waiting time, channel, last question and the agent who
  has it; a conversation's history with personal numbers masked (yibao.privacy); a reply box and
  交还机器人. Everything is escaped; the pages run no script.
* **One agent at a time.** The first reply claims the conversation in the shared channel state
  (channels.state: Redis on the scale profile), so a second agent gets 409 until it is handed back.
* **Stored, then delivered.** A reply is appended to the tracker as a ``BotUttered`` whose metadata
  names the agent (``handoff_agent``), under Rasa's own conversation lock, then sent on the user's own
  channel: Socket.IO (an emit to the session's room on this replica), Telegram (sendMessage), WeChat
  (the customer-service API), REST (POSTed to ``REST_CALLBACK_URL`` when set and answering, else kept in
  the shared state and returned with the user's next message). A web chat session not connected to this
  replica gets it when its page asks for the session again (``session_request``).
* **Timeouts.** Every ``INBOX_SWEEP_SECONDS`` (30) each replica looks for handoffs nobody picked up, or
  whose agent stopped answering (data/handoff.yml); the user gets the apology with 12393 and the local
  number, and ``ConversationResumed`` gives the conversation back to the bot. The conversation lock
  and a second look under it make one replica do it once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import html
import secrets
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import common
from channels.state import ChannelState, SharedState
from rasa_ext.tracker_query import paused_senders
from yibao import handoff
from yibao.privacy import mask_personal_numbers

logger = logging.getLogger(__name__)

AGENTS_VARIABLE = "INBOX_AGENTS"
SWEEP_VARIABLE = "INBOX_SWEEP_SECONDS"
COOKIE = "yibao_inbox"
PREFIX = "/inbox"
MIN_TOKEN_CHARS = 16
MAX_REPLY_CHARS = common.MAX_TEXT_CHARS
# Conversations scanned per page load at most (newest handoffs first when the store can tell).
MAX_CONVERSATIONS = 200
CLAIM_KEY = "inbox:claim:{}"
NOTICE_KEY = "inbox:still-waiting:{}"  # the still-waiting notice was sent (expires after the notice interval)
PENDING_KEY = "inbox:pending:{}"  # agent messages the user has not received yet (REST, a closed web chat)
OPEN_PAGE_KEY = "inbox:page:{}"  # a web chat session with a page open on some replica: that socket's id
SESSION_KEY = "inbox:session:{}"  # a signed-in browser: sha256 of its cookie -> agent and token fingerprint
CLAIM_TTL_SECONDS = 8 * 3600.0
SESSION_TTL_SECONDS = 12 * 3600.0  # a working day; then the agent signs in again
# A page stays open for hours; Socket.IO tells its server when it goes (close, or ~45 s without pings).
OPEN_PAGE_TTL_SECONDS = 24 * 3600.0
PENDING_TTL_SECONDS = 7 * 24 * 3600.0
CALLBACK_TIMEOUT_SECONDS = 10.0

PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    # Not no-referrer: under it a browser sends "Origin: null" with the page's own forms, which the
    # origin check (same_origin) must refuse; same-origin still sends nothing to another site.
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STYLE = (
    "body{font-family:sans-serif;max-width:60rem;margin:1rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}"
    ".user{background:#eef6ff}.agent{background:#effbef}.bot{background:#f6f6f6}"
    ".msg{padding:.4rem .6rem;margin:.3rem 0;border-radius:.4rem;white-space:pre-wrap;word-break:break-all}"
    ".note{padding:.5rem;background:#fff6d6}.error{padding:.5rem;background:#fde2e2}"
    "textarea{width:100%;height:6rem}"
)


class InboxConfigError(ValueError):
    """INBOX_AGENTS is malformed; the server must not start with an inbox nobody can trust."""


def agents_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{token: agent name}`` from ``INBOX_AGENTS="王芳:token1,李强:token2"``."""
    raw = (os.environ if environ is None else environ).get(AGENTS_VARIABLE, "")
    agents: dict[str, str] = {}
    for entry in raw.split(","):
        if not entry.strip():
            continue
        name, sep, token = entry.strip().partition(":")
        if not sep or not name.strip() or len(token.strip()) < MIN_TOKEN_CHARS:
            raise InboxConfigError(
                f"{AGENTS_VARIABLE}: each entry must be name:token with a token of at least {MIN_TOKEN_CHARS} "
                "characters (e.g. 王芳:$(openssl rand -hex 16))"
            )
        if token.strip() in agents:
            raise InboxConfigError(f"{AGENTS_VARIABLE}: two agents share one token")
        agents[token.strip()] = name.strip()
    return agents


def agent_for(token: str | None, agents: Mapping[str, str]) -> str | None:
    """The agent whose token this is; every token is compared (constant time, no early exit)."""
    found = None
    given = (token or "").encode("utf-8")
    for known, name in agents.items():
        if hmac.compare_digest(given, known.encode("utf-8")):
            found = name
    return found if token else None


def fingerprint(secret: str) -> str:
    """What is stored instead of a token or a session id (the store never holds a usable secret)."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def same_origin(request: Request) -> bool:
    """A form post from the inbox's own pages: its Origin (or Referer) names this server. Browsers send
    Origin on every POST; a form on another site cannot pass (the cookie is also SameSite=Strict).
    Neither header (an old browser, a script): allowed, the session cookie is still needed."""
    claimed = request.headers.get("origin") or request.headers.get("referer")
    if not claimed or claimed == "null":
        return not claimed
    return urlsplit(claimed).netloc.lower() == (request.host or "").lower()


def conversation_key(sender_id: str) -> str:
    """A sender id as a URL path segment (sender ids may hold any character)."""
    return base64.urlsafe_b64encode(sender_id.encode("utf-8")).decode("ascii").rstrip("=")


def sender_from_key(key: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(key + "=" * (-len(key) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


def t(key: str, **values: Any) -> str:
    return common.load_texts()[f"inbox_{key}"].format(**values) if values else common.load_texts()[f"inbox_{key}"]


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str, status: int = 200, refresh: int | None = None) -> HTTPResponse:
    meta = f'<meta http-equiv="refresh" content="{refresh}">' if refresh else ""
    document = (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">{meta}'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{_e(title)}</title>'
        f"<style>{STYLE}</style></head><body>{body}</body></html>"
    )
    return response.html(document, status=status, headers=PAGE_HEADERS)


def _form_field(request: Request, name: str) -> str | None:
    try:
        fields = parse_qs((request.body or b"").decode("utf-8"), keep_blank_values=True)
    except UnicodeDecodeError:
        return None
    values = fields.get(name)
    return values[0] if values else None


# ---------------------------------------------------------------------------------- the tracker store
async def candidate_senders(store: Any) -> list[str]:
    """Senders that may be waiting: on Rasa's SQL store only those whose newest handoff event is a
    pause (one query, rasa_ext.tracker_query), otherwise every key the store has."""
    found = paused_senders(store, MAX_CONVERSATIONS)
    if found is not None:
        return found
    return list(await store.keys())[:MAX_CONVERSATIONS]


def _event_dicts(tracker: Any) -> list[dict[str, Any]]:
    return [event.as_dict() for event in tracker.events]


async def waiting_conversations(store: Any) -> list[tuple[str, handoff.Waiting]]:
    found = []
    for sender_id in await candidate_senders(store):
        tracker = await store.retrieve(sender_id)
        waiting = handoff.waiting_from_events(_event_dicts(tracker)) if tracker else None
        if waiting is not None:
            found.append((sender_id, waiting))
    found.sort(key=lambda item: item[1].paused_at)
    return found


# ---------------------------------------------------------------------------------- delivery
def _input_channel(app: Any, name: str) -> Any:
    for channel in getattr(app.ctx, "input_channels", None) or []:
        if channel.name() == name:
            return channel
    return None


async def _post_callback(url: str, sender_id: str, text: str) -> bool:
    """POSTs ``[{"recipient_id", "text"}]`` (the shape of a REST answer) to the operator's callback URL;
    False when it does not answer 2xx in time (the reply then waits for the user's next message)."""
    import aiohttp

    body = [{"recipient_id": sender_id, "text": text}]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=CALLBACK_TIMEOUT_SECONDS)) as session:
            async with session.post(url, json=body) as answer:
                if 200 <= answer.status < 300:
                    return True
                logger.error("inbox: the REST callback answered %s", answer.status)
    except (TimeoutError, aiohttp.ClientError) as error:
        logger.error("inbox: the REST callback failed (%s)", type(error).__name__)
    return False


async def _page_reachable(sio: Any, namespace: str | None, state: ChannelState, session_id: str) -> bool:
    """Whether an emit to the session's room reaches an open page; an emit to an empty room would
    vanish without a word. With the Redis manager (``SOCKETIO_REDIS_URL``) the page may be open on any
    replica: the shared state says whether one is (``page_opened``/``page_closed``), and Redis carries
    the emit there. Otherwise only this process's rooms count (python-socketio's manager keeps
    ``rooms[namespace][room]``)."""
    from socketio.async_pubsub_manager import AsyncPubSubManager

    manager = getattr(sio, "manager", None)
    if isinstance(manager, AsyncPubSubManager):
        return await state.get(OPEN_PAGE_KEY.format(session_id)) is not None
    rooms = getattr(manager, "rooms", None)
    if not isinstance(rooms, dict):
        return True  # another manager: let it route the emit
    return bool(rooms.get(namespace or "/", {}).get(session_id))  # a session's room is its id


async def page_opened(session_id: str, sid: str) -> None:
    """The Socket.IO channel: a page asked for its session (``session_request``) on this replica."""
    if ACTIVE:
        await _SHARED.current().put(OPEN_PAGE_KEY.format(session_id), sid, OPEN_PAGE_TTL_SECONDS)


async def page_closed(session_id: str, sid: str) -> None:
    """The Socket.IO channel: that page's socket went away (closed, or its pings stopped). Only the
    socket that last opened the session clears it, so a reload that reconnected first keeps it open."""
    if ACTIVE:
        await _SHARED.current().release(OPEN_PAGE_KEY.format(session_id), sid)


# What became of a message for the user (the agent is told which). TOO_LATE: WeChat accepts
# customer-service messages only within 48 hours of the user's last message.
SENT, LATER, FAILED, TOO_LATE = "sent", "later", "failed", "too_late"
WECHAT_WINDOW_SECONDS = 48 * 3600.0


async def _keep_for_later(state: ChannelState, sender_id: str, text: str) -> str:
    key = PENDING_KEY.format(sender_id)
    pending = await state.get_json(key) or []
    await state.put_json(key, [*pending, text], PENDING_TTL_SECONDS)
    return LATER


async def deliver(
    app: Any,
    state: ChannelState,
    sender_id: str,
    channel_name: str | None,
    text: str,
    user_wrote_at: float | None = None,
    now: float | None = None,
) -> str:
    """Sends ``text`` to the user on the channel of their last message (written at ``user_wrote_at``):
    SENT; LATER when it waits for the user's next message (REST without a callback) or next visit (a web
    chat page that is closed); TOO_LATE when WeChat's 48 hours are over; FAILED when it could not go
    out. It is stored in the tracker in every case."""
    if channel_name == "wechat" and user_wrote_at is not None:
        if (now if now is not None else time.time()) - user_wrote_at > WECHAT_WINDOW_SECONDS:
            return TOO_LATE  # WeChat would refuse it (errcode 45015): say so instead of trying
    try:
        if channel_name == "rest":
            rest = _input_channel(app, "rest")
            callback = getattr(rest, "callback_url", None)
            if callback and await _post_callback(callback, sender_id, text):
                return SENT
            return await _keep_for_later(state, sender_id, text)
        channel = _input_channel(app, channel_name or "")
        if channel is None:
            return FAILED
        if channel_name == "socketio":
            from channels.socketio import SocketIOOutput

            if channel.sio is None:
                return FAILED
            if not await _page_reachable(channel.sio, getattr(channel, "namespace", None), state, sender_id):
                # The page is closed (or on another replica): sent when the session asks for itself again.
                return await _keep_for_later(state, sender_id, text)
            await SocketIOOutput(channel.sio, channel.bot_message_evt).send_text_message(sender_id, text)
            return SENT
        if channel_name == "telegram":
            await channel.get_output_channel().send_text_message(sender_id, text)
            return SENT
        if channel_name == "wechat":
            await channel.send_customer_service_text(sender_id, text)
            return SENT
    except Exception as error:  # the reply is stored; the agent is told it did not go out
        logger.error("inbox: delivery on %s failed (%s)", channel_name, type(error).__name__)
    return FAILED


async def take_pending(state: ChannelState, sender_id: str) -> list[str]:
    """The agent's messages not yet received by this user, oldest first (removed as they are taken)."""
    key = PENDING_KEY.format(sender_id)
    pending = await state.get_json(key)
    if not pending:
        return []
    await state.delete(key)
    return [str(text) for text in pending]


async def take_rest_replies(app: Any, sender_id: str) -> list[str]:
    """The agent's messages waiting for a REST user (returned with that user's next message)."""
    if not ACTIVE:
        return []  # no inbox on this server: no lookup per message
    return await take_pending(_SHARED.for_app(app), sender_id)


async def take_pending_here(sender_id: str) -> list[str]:
    """For the Socket.IO channel, which has no request to find the app by: the state this process found."""
    if not ACTIVE:
        return []
    return await take_pending(_SHARED.current(), sender_id)


async def with_agent(app: Any, sender_id: str) -> bool:
    """Whether the conversation is handed to a person (the bot is paused for it)."""
    agent = getattr(app.ctx, "agent", None)
    store = getattr(agent, "tracker_store", None)
    if store is None:
        return False
    tracker = await store.retrieve(sender_id)
    return bool(tracker and tracker.is_paused())


async def acknowledge_if_waiting(message: UserMessage) -> None:
    """Called by every channel after Rasa has handled a user message. A conversation with the agents
    gets no bot answer (Rasa is paused); when nobody has picked up yet, the user is told the message
    arrived (``handoff_still_waiting``), at most once per ``still_waiting_notice_minutes``, on the
    message's own output channel, and the notice is stored so the agent sees what the user was told."""
    inbox = _RUNNING
    if not ACTIVE or inbox is None or inbox.app is None or message.output_channel is None:
        return
    try:
        store = inbox.app.ctx.agent.tracker_store
        tracker = await store.retrieve(message.sender_id)
        if tracker is None or not tracker.is_paused():
            return
        waiting = handoff.waiting_from_events(_event_dicts(tracker))
        if waiting is None or not handoff.wrote_while_nobody_answers(waiting):
            return
        ttl = inbox.config.still_waiting_notice_minutes * 60.0
        if ttl <= 0 or not await inbox.shared.current().claim(NOTICE_KEY.format(message.sender_id), "1", ttl):
            return
        text = common.load_texts()["handoff_still_waiting"]
        notice = BotUttered(text, metadata={handoff.NOTICE_KEY: handoff.STILL_WAITING}, timestamp=inbox.clock())
        if await inbox._append(inbox.app, message.sender_id, notice):
            await message.output_channel.send_text_message(message.sender_id, text)
    except Exception:  # a notice must never cost the user's message
        logger.exception("inbox: the still-waiting notice failed")


# The state handle the inbox and the REST channel share in one process (Redis when the lock store is).
_SHARED = SharedState()
# True once the inbox is registered on this server (the REST channel asks only then).
ACTIVE = False
# The inbox registered on this server (the channels' still-waiting notice reads the tracker through it).
_RUNNING: InboxInput | None = None


# ---------------------------------------------------------------------------------- the channel
class InboxInput(InputChannel):
    """The agents' web page at /inbox/ (no messages ever reach the NLU through it)."""

    @classmethod
    def name(cls) -> str:
        return "inbox"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> InboxInput:
        return cls(agents_from_env())

    def __init__(
        self,
        agents: Mapping[str, str],
        state: ChannelState | None = None,
        config: handoff.HandoffConfig | None = None,
        clock: Callable[[], float] = time.time,
        sweep_seconds: float | None = None,
    ) -> None:
        self.agents = dict(agents)
        self.shared = SharedState(state) if state is not None else _SHARED
        self._config = config
        self.clock = clock
        self.sweep_seconds = (
            sweep_seconds if sweep_seconds is not None else float(os.environ.get(SWEEP_VARIABLE, "30") or 30)
        )
        self._sweeper: asyncio.Task[Any] | None = None
        self.app: Any = None  # the running server, once started

    def __repr__(self) -> str:  # never show the tokens
        return f"InboxInput(agents={sorted(self.agents.values())})"

    def url_prefix(self) -> str:
        return PREFIX

    @property
    def config(self) -> handoff.HandoffConfig:
        return self._config if self._config is not None else handoff.load_config()

    # ------------------------------------------------------------------ auth
    async def _agent(self, request: Request) -> str | None:
        """The agent a script's Bearer token or a browser's session cookie belongs to. A session is kept
        in the shared state (any replica knows it) and ends at sign-out, after SESSION_TTL_SECONDS, or
        when the agent's token is changed or removed from INBOX_AGENTS."""
        given = request.headers.get("authorization") or ""
        scheme, _, value = given.partition(" ")
        if scheme.lower() == "bearer":
            return agent_for(value.strip(), self.agents)
        session = request.cookies.get(COOKIE)
        if not session:
            return None
        stored = await self.shared.for_app(request.app).get_json(SESSION_KEY.format(fingerprint(session)))
        if not isinstance(stored, dict):
            return None
        current = {fingerprint(token): name for token, name in self.agents.items()}
        name = current.get(str(stored.get("token")))
        return name if name is not None and name == stored.get("agent") else None

    async def _start_session(self, request: Request, token: str) -> str:
        session = secrets.token_urlsafe(32)
        record = {"agent": self.agents[token], "token": fingerprint(token)}
        await self.shared.for_app(request.app).put_json(
            SESSION_KEY.format(fingerprint(session)), record, SESSION_TTL_SECONDS
        )
        return session

    def _sign_in_page(self, error: str | None = None, status: int = 200) -> HTTPResponse:
        note = f'<p class="error">{_e(error)}</p>' if error else ""
        body = (
            f"<h1>{_e(t('title'))}</h1>{note}"
            f'<form method="post" action="{PREFIX}/login"><label>{_e(t("token"))} '
            f'<input type="password" name="token" autocomplete="current-password" required></label> '
            f'<button type="submit">{_e(t("sign_in"))}</button></form>'
        )
        return page(t("title"), body, status)

    # ------------------------------------------------------------------ pages
    def _header(self, agent: str) -> str:
        return (
            f"<h1>{_e(t('title'))}</h1><p>{_e(t('signed_in_as', agent=agent))} "
            f'<form method="post" action="{PREFIX}/logout" style="display:inline">'
            f'<button type="submit">{_e(t("sign_out"))}</button></form></p>'
        )

    async def _list_page(self, request: Request, agent: str) -> HTTPResponse:
        store = request.app.ctx.agent.tracker_store
        state = self.shared.for_app(request.app)
        now = self.clock()
        rows = []
        for sender_id, waiting in await waiting_conversations(store):
            holder = await state.get(CLAIM_KEY.format(sender_id))
            since = waiting.unanswered_since or waiting.paused_at
            question = mask_personal_numbers(waiting.last_question or "")
            rows.append(
                f'<tr data-conversation="{_e(conversation_key(sender_id))}">'
                f"<td>{_e(t('minutes', minutes=max(int((now - since) // 60), 0)))}</td>"
                f"<td>{_e(waiting.channel or '?')}</td><td>{_e(question[:80])}</td>"
                f"<td>{_e(holder or t('nobody'))}</td>"
                f'<td><a href="{PREFIX}/c/{_e(conversation_key(sender_id))}">{_e(t("open"))}</a></td></tr>'
            )
        if rows:
            head = "".join(
                f"<th>{_e(t(key))}</th>" for key in ("col_waiting", "col_channel", "col_question", "col_agent")
            )
            table = f"<table><tr>{head}<th></th></tr>{''.join(rows)}</table>"
        else:
            table = f'<p class="none">{_e(t("none_waiting"))}</p>'
        body = f"{self._header(agent)}<h2>{_e(t('waiting_heading'))}</h2>{table}"
        return page(t("title"), body, refresh=15)

    async def _conversation_page(
        self,
        request: Request,
        agent: str,
        sender_id: str,
        note: str | None = None,
        error: str | None = None,
        status: int = 200,
    ) -> HTTPResponse:
        tracker = await request.app.ctx.agent.tracker_store.retrieve(sender_id)
        events = _event_dicts(tracker) if tracker else []
        waiting = handoff.waiting_from_events(events)
        back = f'<p><a href="{PREFIX}/">{_e(t("back"))}</a></p>'
        if waiting is None:
            # Handed back or timed out meanwhile: 409, so a form sent to it is seen to have failed.
            message = t("not_waiting") if tracker else t("not_found")
            return page(
                t("title"), f'{self._header(agent)}{back}<p class="error">{_e(message)}</p>', 409 if tracker else 404
            )
        lines = []
        zone = self.config.zone
        for entry in waiting.history:
            who = entry["who"]
            label = t("who_agent", agent=entry.get("agent") or "") if who == "agent" else t(f"who_{who}")
            lines.append(
                f'<div class="msg {who}"><b>{_e(label)}</b> '
                f"<small>{_e(datetime.fromtimestamp(entry['timestamp'], zone).strftime('%m-%d %H:%M'))}</small>\n"
                f"{_e(mask_personal_numbers(str(entry['text'])))}</div>"
            )
        key = _e(conversation_key(sender_id))
        notes = (f'<p class="note">{_e(note)}</p>' if note else "") + (
            f'<p class="error">{_e(error)}</p>' if error else ""
        )
        body = (
            f"{self._header(agent)}{back}<p>{_e(t('col_channel'))}：{_e(waiting.channel or '?')}</p>"
            f'<div id="history">{"".join(lines)}</div>{notes}'
            f'<form method="post" action="{PREFIX}/c/{key}/reply"><textarea name="text" maxlength="{MAX_REPLY_CHARS}">'
            f'</textarea><button type="submit">{_e(t("reply"))}</button></form>'
            f'<form method="post" action="{PREFIX}/c/{key}/resume"><button type="submit">{_e(t("hand_back"))}'
            "</button></form>"
        )
        return page(t("title"), body, status)

    # ------------------------------------------------------------------ actions
    async def _claim(self, state: ChannelState, sender_id: str, agent: str) -> str | None:
        """Claims the conversation for ``agent``; the other agent's name when someone else has it."""
        key = CLAIM_KEY.format(sender_id)
        if await state.claim(key, agent, CLAIM_TTL_SECONDS):
            return None
        holder = await state.get(key)
        if holder is not None and holder != agent:
            return holder
        await state.put(key, agent, CLAIM_TTL_SECONDS)
        return None

    async def _append(self, app: Any, sender_id: str, *events: Any) -> bool:
        """Appends ``events`` under Rasa's conversation lock, only while the conversation still waits."""
        agent = app.ctx.agent
        async with agent.lock_store.lock(sender_id):
            tracker = await agent.tracker_store.retrieve(sender_id)
            if tracker is None or handoff.waiting_from_events(_event_dicts(tracker)) is None:
                return False
            for event in events:
                tracker.update(event)
            await agent.tracker_store.save(tracker)
            return True

    async def reply(self, request: Request, agent: str, sender_id: str, raw: str | None) -> HTTPResponse:
        text = common.strip_control(raw or "").strip()
        if not text:
            return await self._conversation_page(request, agent, sender_id, error=t("empty_reply"), status=400)
        if len(text) > MAX_REPLY_CHARS:
            return await self._conversation_page(
                request, agent, sender_id, error=t("reply_too_long", max_chars=MAX_REPLY_CHARS), status=413
            )
        state = self.shared.for_app(request.app)
        holder = await self._claim(state, sender_id, agent)
        if holder is not None:
            return await self._conversation_page(request, agent, sender_id, error=t("taken", agent=holder), status=409)
        tracker = await request.app.ctx.agent.tracker_store.retrieve(sender_id)
        waiting = handoff.waiting_from_events(_event_dicts(tracker)) if tracker else None
        stored = await self._append(
            request.app, sender_id, BotUttered(text, metadata={handoff.AGENT_KEY: agent}, timestamp=self.clock())
        )
        if not stored:
            await state.release(CLAIM_KEY.format(sender_id), agent)
            return await self._conversation_page(request, agent, sender_id, status=409)
        channel = waiting.channel if waiting else None
        outcome = await deliver(
            request.app, state, sender_id, channel, text, waiting.last_user_at if waiting else None, self.clock()
        )
        notes = {SENT: t("sent"), LATER: t("sent_later"), TOO_LATE: t("wechat_window_closed")}
        note = notes.get(outcome) or t("sent_stored_only", channel=channel or "?")
        return await self._conversation_page(request, agent, sender_id, note=note)

    async def hand_back(self, app: Any, sender_id: str, text: str, notice: str, by: str | None = None) -> bool:
        """The bot answers again: ``text`` stored and sent to the user, then ``ConversationResumed``."""
        tracker = await app.ctx.agent.tracker_store.retrieve(sender_id)
        waiting = handoff.waiting_from_events(_event_dicts(tracker)) if tracker else None
        metadata: dict[str, Any] = {handoff.NOTICE_KEY: notice}
        if by:
            metadata["by"] = by
        now = self.clock()
        # The paused turn ended without ``action_listen`` (the pause stopped Rasa's loop); without one the
        # rules match nothing on the next message and the bot answers with its fallback.
        if not await self._append(
            app,
            sender_id,
            BotUttered(text, metadata=metadata, timestamp=now),
            ActionExecuted("action_listen", timestamp=now),
            ConversationResumed(timestamp=now),
        ):
            return False
        state = self.shared.for_app(app)
        await state.delete(CLAIM_KEY.format(sender_id))
        await deliver(
            app, state, sender_id, waiting.channel if waiting else None, text,
            waiting.last_user_at if waiting else None, now,
        )
        return True

    async def sweep_once(self, app: Any) -> list[tuple[str, str]]:
        """Hands back every waiting conversation whose timeout is due; returns ``(sender, kind)``."""
        config = self.config
        texts = common.load_texts()
        done = []
        for sender_id, waiting in await waiting_conversations(app.ctx.agent.tracker_store):
            kind = handoff.due_timeout(waiting, self.clock(), config)
            if kind and await self.hand_back(app, sender_id, handoff.timeout_text(kind, config, texts), kind):
                done.append((sender_id, kind))
        return done

    async def _sweep_forever(self, app: Any) -> None:
        while True:
            await asyncio.sleep(self.sweep_seconds)
            try:
                for sender_id, kind in await self.sweep_once(app):
                    logger.info("inbox: handoff %s, the bot answers again (%s)", kind, conversation_key(sender_id))
            except Exception:
                logger.exception("inbox: the timeout sweep failed; trying again later")

    # ------------------------------------------------------------------ routes
    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        global _SHARED, ACTIVE, _RUNNING
        _SHARED = self.shared  # the REST channel finds the agents' replies where the inbox put them
        ACTIVE = bool(self.agents)
        _RUNNING = self
        inbox = Blueprint("yibao_inbox", __name__)

        @inbox.listener("after_server_start")
        async def start_sweeper(app: Any, _loop: Any) -> None:
            # Also without agents when the handoff is on: a conversation paused by the action server is
            # then given back to the bot at the pickup timeout instead of waiting for nobody forever.
            self.shared.for_app(app)  # Rasa's agent is loaded now: find the shared state once, for Socket.IO
            self.app = app
            enabled = self.config.enabled
            if enabled and not self.agents:
                logger.warning("inbox: the handoff is on but %s is not set: no agent can answer", AGENTS_VARIABLE)
            if self.sweep_seconds > 0 and (self.agents or enabled):
                self._sweeper = asyncio.ensure_future(self._sweep_forever(app))

        @inbox.listener("before_server_stop")
        async def stop_sweeper(_app: Any, _loop: Any) -> None:
            if self._sweeper is not None:
                self._sweeper.cancel()

        def guarded(handler: Callable[..., Awaitable[HTTPResponse]]) -> Callable[..., Awaitable[HTTPResponse]]:
            async def wrapped(request: Request, *args: Any, **kwargs: Any) -> HTTPResponse:
                if not self.agents:
                    return page(t("title"), f"<p>{_e(t('disabled'))}</p>", 404)
                if request.method == "POST" and not request.headers.get("authorization") and not same_origin(request):
                    return page(t("title"), f'<p class="error">{_e(t("other_origin"))}</p>', 403)
                agent = await self._agent(request)
                if agent is None:
                    if request.headers.get("authorization"):
                        return self._sign_in_page(t("bad_token"), 403)
                    # No session, or one that ended (signed out, expired, token changed): sign in again.
                    return self._sign_in_page(t("session_ended") if request.cookies.get(COOKIE) else None, 401)
                return await handler(request, agent, *args, **kwargs)

            wrapped.__name__ = handler.__name__
            return wrapped

        def conversation_route(
            handler: Callable[..., Awaitable[HTTPResponse]],
        ) -> Callable[..., Awaitable[HTTPResponse]]:
            """``/c/<key>`` routes: the key's sender id, or the not-found page (404)."""

            async def wrapped(request: Request, agent: str, key: str) -> HTTPResponse:
                sender_id = sender_from_key(key)
                if not sender_id:
                    return page(t("title"), f"<p>{_e(t('not_found'))}</p>", 404)
                return await handler(request, agent, sender_id)

            wrapped.__name__ = handler.__name__
            return wrapped

        @inbox.route("/", methods=["GET"])
        @guarded
        async def waiting_list(request: Request, agent: str) -> HTTPResponse:
            return await self._list_page(request, agent)

        @inbox.route("/login", methods=["POST"])
        async def login(request: Request) -> HTTPResponse:
            if not self.agents:
                return page(t("title"), f"<p>{_e(t('disabled'))}</p>", 404)
            token = _form_field(request, "token")
            if not same_origin(request):
                return self._sign_in_page(t("other_origin"), 403)
            if token is None or agent_for(token, self.agents) is None:
                return self._sign_in_page(t("bad_token"), 403)
            # The cookie holds a random session id, never the agent's token.
            redirect = response.redirect(f"{PREFIX}/", status=303)
            redirect.cookies[COOKIE] = await self._start_session(request, token)
            redirect.cookies[COOKIE]["httponly"] = True
            redirect.cookies[COOKIE]["samesite"] = "Strict"
            redirect.cookies[COOKIE]["path"] = PREFIX
            redirect.cookies[COOKIE]["secure"] = request.scheme == "https"
            return redirect

        @inbox.route("/logout", methods=["POST"])
        async def logout(request: Request) -> HTTPResponse:
            session = request.cookies.get(COOKIE)
            if session and same_origin(request):
                await self.shared.for_app(request.app).delete(SESSION_KEY.format(fingerprint(session)))
            redirect = response.redirect(f"{PREFIX}/", status=303)
            redirect.cookies[COOKIE] = ""
            redirect.cookies[COOKIE]["max-age"] = 0
            redirect.cookies[COOKIE]["path"] = PREFIX
            return redirect

        @inbox.route("/c/<key>", methods=["GET"])
        @guarded
        @conversation_route
        async def conversation(request: Request, agent: str, sender_id: str) -> HTTPResponse:
            return await self._conversation_page(request, agent, sender_id)

        @inbox.route("/c/<key>/reply", methods=["POST"])
        @guarded
        @conversation_route
        async def send_reply(request: Request, agent: str, sender_id: str) -> HTTPResponse:
            return await self.reply(request, agent, sender_id, _form_field(request, "text"))

        @inbox.route("/c/<key>/resume", methods=["POST"])
        @guarded
        @conversation_route
        async def resume(request: Request, agent: str, sender_id: str) -> HTTPResponse:
            state = self.shared.for_app(request.app)
            holder = await state.get(CLAIM_KEY.format(sender_id))
            if holder is not None and holder != agent:
                return await self._conversation_page(
                    request, agent, sender_id, error=t("taken", agent=holder), status=409
                )
            if not await self.hand_back(
                request.app, sender_id, common.load_texts()["handoff_resumed"], "resumed", agent
            ):
                return await self._conversation_page(request, agent, sender_id, status=409)
            return page(
                t("title"),
                f'{self._header(agent)}<p class="note">{_e(t("handed_back"))}</p>'
                f'<p><a href="{PREFIX}/">{_e(t("back"))}</a></p>',
            )

        return inbox
