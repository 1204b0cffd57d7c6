"""An agent's reply reaches a web chat user whose browser polls another replica: with SOCKETIO_REDIS_URL
every replica's Socket.IO server (channels.socketio.client_manager) passes emits through Redis. Two
python-socketio servers in one process stand for two replicas, on the machine's Redis."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from types import SimpleNamespace
from typing import Any

import pytest
from socketio import AsyncRedisManager, AsyncServer

from channels import handoff_delivery as delivery
from channels.socketio import client_manager
from channels.state import MemoryState
from yibao.handoff import Waiting


def redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


def test_without_the_setting_socketio_keeps_its_in_process_manager():
    assert client_manager({}) is None
    assert isinstance(client_manager({"SOCKETIO_REDIS_URL": "redis://127.0.0.1:6379/2"}), AsyncRedisManager)


@pytest.mark.skipif(not redis_up(), reason="needs Redis on 127.0.0.1:6379")
def test_a_reply_from_the_inbox_on_one_replica_reaches_a_session_on_another():
    env = {"SOCKETIO_REDIS_URL": "redis://127.0.0.1:6379/2", "SOCKETIO_REDIS_CHANNEL": f"yibao-test:{uuid.uuid4().hex}"}

    async def scenario() -> list[Any]:
        # Replica 1: the user's browser is connected here, in its session's room.
        user_replica = AsyncServer(async_mode="sanic", client_manager=client_manager(env))
        received: list[Any] = []

        async def send_eio_packet(eio_sid: str, packet: Any) -> None:
            received.append((eio_sid, packet.data))  # an engine.io message holding the Socket.IO packet

        user_replica._send_eio_packet = send_eio_packet  # the socket's transport, not what is tested
        user_replica.manager.initialize()  # what the first connection does: listen on Redis
        sid = await user_replica.manager.connect("eio-user", "/")
        await user_replica.enter_room(sid, "sess-on-replica-1")
        await asyncio.sleep(0.5)  # the subscription is made

        # Replica 2: the agent's inbox; no browser of that session here.
        agent_replica = AsyncServer(async_mode="sanic", client_manager=client_manager(env))
        app = SimpleNamespace(ctx=SimpleNamespace(input_channels=[
            SimpleNamespace(name=lambda: "socketio", sio=agent_replica, bot_message_evt="bot_uttered", namespace=None)
        ]))
        # The shared state (Redis on the scale profile) says whether a page of the session is open anywhere:
        # none yet, so the reply is kept for the page's next visit instead of an emit nobody receives.
        state = MemoryState()
        on_web_chat = Waiting(paused_at=0.0, channel="socketio")
        assert await delivery.deliver(app, state, "sess-on-replica-1", on_web_chat, "先保存") == delivery.LATER
        await state.put(delivery.OPEN_PAGE_KEY.format("sess-on-replica-1"), sid, 60)  # what page_opened writes
        outcome = await delivery.deliver(app, state, "sess-on-replica-1", on_web_chat, "您好，我是王芳")
        assert outcome == delivery.SENT
        assert await delivery.take_pending(state, "sess-on-replica-1") == ["先保存"]
        for _ in range(100):
            if received:
                break
            await asyncio.sleep(0.05)
        user_replica.manager.thread.cancel()
        return received

    received = asyncio.run(scenario())
    assert len(received) == 1 and received[0][0] == "eio-user"
    kind, payload = received[0][1][0], json.loads(received[0][1][1:])
    assert (kind, payload) == ("2", ["bot_uttered", {"text": "您好，我是王芳"}])  # "2" = a Socket.IO EVENT
