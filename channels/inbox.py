"""The agent inbox: the service centre's staff take over conversations handed to a person (issue #12).

Load it from credentials.yml as ``channels.inbox.InboxInput``; its pages are at ``/inbox/``. It is an
input channel only so that Rasa serves it and hands it the running app (tracker store, lock store, the
other channels); it never passes a message to the NLU.

* **Who may use it.** ``INBOX_AGENTS="王芳:<token>,李强:<token>"`` in the environment of the Rasa
  server: one secret token per agent (at least 16 characters), compared in constant time. Unset: every
  inbox route answers 404. A browser signs in once and keeps a random session id (an HttpOnly,
  SameSite=Strict cookie limited to /inbox; the session is in the shared state); form posts from another
  origin are refused; scripts send ``Authorization: Bearer <token>``.
* **What it shows.** The conversations whose last handoff event is ``pause`` (yibao.handoff), read from
  the tracker store every replica shares, with waiting time, channel, last question and the agent who
  has it; a conversation's history with personal numbers masked (yibao.privacy); a reply box and
  交还机器人. Everything is escaped; the only script (web/inbox.js, same origin) refreshes the history.
* **One agent at a time.** The first reply claims the conversation in the shared channel state
  (channels.state: Redis on the scale profile), so a second agent gets 409 until it is handed back.
* **Stored, then delivered.** A reply is appended to the tracker as a ``BotUttered`` whose metadata
  names the agent (``handoff_agent``), under Rasa's own conversation lock, then sent on the user's own
  channel: Socket.IO (an emit to the session's room, on any replica with the Redis manager), Telegram
  (sendMessage), WeChat (the customer-service API), REST (POSTed to ``REST_CALLBACK_URL`` when set and
  answering, else kept in the shared state and returned with the user's next message); how, in
  channels/handoff_delivery.py.
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
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from rasa.core.channels.channel import InputChannel, UserMessage
from rasa.shared.core.events import ActionExecuted, BotUttered, ConversationResumed
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from channels import common, handoff_delivery
from channels.handoff_delivery import LATER, SENT, TOO_LATE, append_while_waiting, deliver, event_dicts
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
SESSION_KEY = "inbox:session:{}"  # a signed-in browser: sha256 of its cookie -> agent and token fingerprint
CLAIM_TTL_SECONDS = 8 * 3600.0
SESSION_TTL_SECONDS = 12 * 3600.0  # a working day; then the agent signs in again

# Keeps an open conversation's history current (the pages work without it).
INBOX_SCRIPT = Path(__file__).resolve().parent.parent / "web" / "inbox.js"
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
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


async def waiting_conversations(store: Any) -> list[tuple[str, handoff.Waiting]]:
    found = []
    for sender_id in await candidate_senders(store):
        tracker = await store.retrieve(sender_id)
        waiting = handoff.waiting_from_events(event_dicts(tracker)) if tracker else None
        if waiting is not None:
            found.append((sender_id, waiting))
    found.sort(key=lambda item: item[1].paused_at)
    return found


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
        self.shared = SharedState(state) if state is not None else handoff_delivery.shared()
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
        waiting, refusal, refusal_status = await self._waiting(request, sender_id)
        back = f'<p><a href="{PREFIX}/">{_e(t("back"))}</a></p>'
        if waiting is None:
            return page(t("title"), f'{self._header(agent)}{back}<p class="error">{_e(refusal)}</p>', refusal_status)
        key = _e(conversation_key(sender_id))
        notes = (f'<p class="note">{_e(note)}</p>' if note else "") + (
            f'<p class="error">{_e(error)}</p>' if error else ""
        )
        body = (
            f"{self._header(agent)}{back}<p>{_e(t('col_channel'))}：{_e(waiting.channel or '?')}</p>"
            f'<div id="history" data-src="{PREFIX}/c/{key}/history" data-ended="{_e(t("not_waiting"))}" '
            f'data-signed-out="{_e(t("session_ended"))}">'
            f"{self._history_html(waiting)}</div>{notes}"
            f'<form method="post" action="{PREFIX}/c/{key}/reply"><textarea name="text" maxlength="{MAX_REPLY_CHARS}">'
            f'</textarea><button type="submit">{_e(t("reply"))}</button></form>'
            f'<form method="post" action="{PREFIX}/c/{key}/resume"><button type="submit">{_e(t("hand_back"))}'
            "</button></form>"
            f'<script src="{PREFIX}/static/inbox.js" defer></script>'
        )
        return page(t("title"), body, status)

    def _history_html(self, waiting: handoff.Waiting) -> str:
        """The messages of the conversation, every text escaped and its personal numbers masked."""
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
        return "".join(lines)

    async def _history_fragment(self, request: Request, sender_id: str) -> HTTPResponse:
        """GET /c/<key>/history: the history alone, for the page's script (409 once no longer waiting)."""
        waiting, refusal, refusal_status = await self._waiting(request, sender_id)
        if waiting is None:
            return response.text(refusal, refusal_status, headers=PAGE_HEADERS)
        return response.html(self._history_html(waiting), headers=PAGE_HEADERS)

    @staticmethod
    async def _waiting(request: Request, sender_id: str) -> tuple[handoff.Waiting | None, str, int]:
        """The conversation's handoff state, or why there is none: 404 for an unknown conversation, 409
        for one handed back or timed out meanwhile (so a form sent to it is seen to have failed)."""
        tracker = await request.app.ctx.agent.tracker_store.retrieve(sender_id)
        if tracker is None:
            return None, t("not_found"), 404
        waiting = handoff.waiting_from_events(event_dicts(tracker))
        return waiting, t("not_waiting"), 409

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
        waiting = await append_while_waiting(
            request.app, sender_id, BotUttered(text, metadata={handoff.AGENT_KEY: agent}, timestamp=self.clock())
        )
        if waiting is None:
            await state.release(CLAIM_KEY.format(sender_id), agent)
            return await self._conversation_page(request, agent, sender_id, status=409)
        outcome = await deliver(request.app, state, sender_id, waiting, text, self.clock())
        notes = {SENT: t("sent"), LATER: t("sent_later"), TOO_LATE: t("wechat_window_closed")}
        note = notes.get(outcome) or t("sent_stored_only", channel=waiting.channel or "?")
        return await self._conversation_page(request, agent, sender_id, note=note)

    async def hand_back(self, app: Any, sender_id: str, text: str, notice: str, by: str | None = None) -> bool:
        """The bot answers again: ``text`` stored and sent to the user, then ``ConversationResumed``."""
        metadata: dict[str, Any] = {handoff.NOTICE_KEY: notice}
        if by:
            metadata["by"] = by
        now = self.clock()
        # The paused turn ended without ``action_listen`` (the pause stopped Rasa's loop); without one the
        # rules match nothing on the next message and the bot answers with its fallback.
        waiting = await append_while_waiting(
            app,
            sender_id,
            BotUttered(text, metadata=metadata, timestamp=now),
            ActionExecuted("action_listen", timestamp=now),
            ConversationResumed(timestamp=now),
        )
        if waiting is None:
            return False
        state = self.shared.for_app(app)
        await state.delete(CLAIM_KEY.format(sender_id))
        await deliver(app, state, sender_id, waiting, text, now)
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
        handoff_delivery.register(self)  # the channels find the agents' replies and this inbox's state
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

        @inbox.route("/c/<key>/history", methods=["GET"])
        @guarded
        @conversation_route
        async def history(request: Request, agent: str, sender_id: str) -> HTTPResponse:
            return await self._history_fragment(request, sender_id)

        @inbox.route("/static/inbox.js", methods=["GET"])
        async def script(_: Request) -> HTTPResponse:
            return await response.file(
                str(INBOX_SCRIPT),
                mime_type="application/javascript; charset=utf-8",
                headers={"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"},
            )

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
