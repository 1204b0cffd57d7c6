"""How the agents' messages reach the users, and what the channels ask of the live handoff (issue #12).

The inbox (channels/inbox.py) stores an agent's reply and calls ``deliver``; the channels call the rest:
the REST channel takes the replies kept for a user's next message (``take_rest_replies``), the Socket.IO
channel says when a page opens or closes its session (``page_opened``/``page_closed``) and sends what was
kept for it (``take_pending_here``), and every channel calls ``acknowledge_if_waiting`` after a message.
All of it is a no-op until an inbox with agents is registered on the server (``register``).

The state lives in the shared channel state (channels.state: Redis on the scale profile), so any replica
finds what another kept.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.shared.core.events import BotUttered

from channels import common
from channels.state import ChannelState, SharedState
from yibao import handoff

logger = logging.getLogger(__name__)

NOTICE_KEY = "inbox:still-waiting:{}"  # the still-waiting notice was sent (expires after the notice interval)
PENDING_KEY = "inbox:pending:{}"  # agent messages the user has not received yet (REST, a closed web chat)
OPEN_PAGE_KEY = "inbox:page:{}"  # a web chat session with a page open on some replica: that socket's id
# A page stays open for hours; Socket.IO tells its server when it goes (close, or ~45 s without pings).
OPEN_PAGE_TTL_SECONDS = 24 * 3600.0
PENDING_TTL_SECONDS = 7 * 24 * 3600.0
CALLBACK_TIMEOUT_SECONDS = 10.0


# The state handle the inbox and the channels share in one process (Redis when the lock store is).
_SHARED = SharedState()
# True once an inbox with agents is registered on this server (the channels ask only then).
ACTIVE = False
# The inbox registered on this server (the still-waiting notice reads its settings, clock and app).
_RUNNING: Any = None


def register(inbox: Any) -> None:
    """The inbox registered on this server: its state is the one the channels use."""
    global _SHARED, ACTIVE, _RUNNING
    _SHARED = inbox.shared
    ACTIVE = bool(inbox.agents)
    _RUNNING = inbox


def shared() -> SharedState:
    return _SHARED


def event_dicts(tracker: Any) -> list[dict[str, Any]]:
    return [event.as_dict() for event in tracker.events]


async def append_while_waiting(app: Any, sender_id: str, *events: Any) -> handoff.Waiting | None:
    """Appends ``events`` under Rasa's conversation lock, only while the conversation still waits;
    returns the conversation's handoff state as it was before them (None: not waiting, nothing stored)."""
    agent = app.ctx.agent
    async with agent.lock_store.lock(sender_id):
        tracker = await agent.tracker_store.retrieve(sender_id)
        waiting = handoff.waiting_from_events(event_dicts(tracker)) if tracker is not None else None
        if waiting is None:
            return None
        for event in events:
            tracker.update(event)
        await agent.tracker_store.save(tracker)
        return waiting


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
    app: Any, state: ChannelState, sender_id: str, waiting: handoff.Waiting, text: str, now: float | None = None
) -> str:
    """Sends ``text`` to the user on the channel of their last message (``waiting.channel``): SENT;
    LATER when it waits for the user's next message (REST without a callback) or next visit (a web chat
    page that is closed); TOO_LATE when WeChat's 48 hours since ``waiting.last_user_at`` are over;
    FAILED when it could not go out. It is stored in the tracker in every case."""
    channel_name = waiting.channel
    if channel_name == "wechat" and waiting.last_user_at is not None:
        if (now if now is not None else time.time()) - waiting.last_user_at > WECHAT_WINDOW_SECONDS:
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
        waiting = handoff.waiting_from_events(event_dicts(tracker))
        if waiting is None or not handoff.wrote_while_nobody_answers(waiting):
            return
        ttl = inbox.config.still_waiting_notice_minutes * 60.0
        if ttl <= 0 or not await inbox.shared.current().claim(NOTICE_KEY.format(message.sender_id), "1", ttl):
            return
        text = common.load_texts()["handoff_still_waiting"]
        notice = BotUttered(text, metadata={handoff.NOTICE_KEY: handoff.STILL_WAITING}, timestamp=inbox.clock())
        if await append_while_waiting(inbox.app, message.sender_id, notice) is not None:
            await message.output_channel.send_text_message(message.sender_id, text)
    except Exception:  # a notice must never cost the user's message
        logger.exception("inbox: the still-waiting notice failed")
