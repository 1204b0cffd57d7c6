"""One real Rasa server for the end-to-end modules that can share it (a pytest session fixture in
conftest.py, started on first use): every channel of the project (REST, Socket.IO as credentials.yml
configures it, WeChat, Telegram against a fake Bot API), the masking SQLite tracker store, a real action
server, and Rasa at --debug log level, so that the privacy test can read every message's log lines.

Tests on it use their own sender ids; a test that needs other settings (the action server down, another
tracker store, the run script) starts its own server.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from fakes import FakeBotAPI
from rasa_server import RasaServer
from servers import PROJECT, free_port, start_action_server, stop

WECHAT_TOKEN = "hostileWeChatToken"
TG_TOKEN = "123456789:AAH-hostile_fake_token"
TG_SECRET = "hostile-secret_Token"
TG_BOT = "yibao_hostile_bot"


def socketio_credentials() -> Dict[str, Any]:
    """The Socket.IO channel exactly as the project's credentials.yml configures it."""
    configured = yaml.safe_load((PROJECT / "credentials.yml").read_text(encoding="utf-8")) or {}
    return configured["channels.socketio.SocketIOInput"]


@dataclass
class SharedStack:
    server: RasaServer
    telegram: Any
    socketio: Dict[str, Any]
    action_log: Path
    _actions: Any

    def stop(self) -> None:
        self.server.stop()
        stop(self._actions)
        self.telegram.stop()


def start_shared_stack(work: Path) -> SharedStack:
    telegram = FakeBotAPI(TG_TOKEN, TG_BOT).start()
    action_port = free_port()
    action_log = work / "actions.log"
    actions = start_action_server(action_port, action_log)
    socketio = socketio_credentials()
    credentials: Dict[str, Optional[Dict[str, Any]]] = {
        "channels.rest.RestInput": None,
        "channels.wechat.WeChatInput": None,
        "channels.telegram.TelegramInput": None,
        "channels.socketio.SocketIOInput": socketio,
    }
    env = {key: "" for key in os.environ if key.startswith(("WECHAT_", "TELEGRAM_", "REST_AUTH"))}
    env.update({
        "WECHAT_TOKEN": WECHAT_TOKEN,
        # Every reply passive, so a conversation over WeChat can be read turn by turn (the 5 s deadline and
        # the customer-service fallback have their own tests in tests/channels/).
        "WECHAT_REPLY_DEADLINE": "30",
        "TELEGRAM_TOKEN": TG_TOKEN,
        "TELEGRAM_BOT_NAME": TG_BOT,
        "TELEGRAM_WEBHOOK_URL": "https://bot.example.org/webhooks/telegram/webhook",
        "TELEGRAM_SECRET_TOKEN": TG_SECRET,
        "TELEGRAM_API_BASE": telegram.base,
    })
    server = RasaServer(work, action_port, credentials=credentials, env=env, args=["--debug"])
    try:
        server.start()
    except BaseException:
        stop(actions)
        telegram.stop()
        raise
    return SharedStack(server, telegram, socketio, action_log, actions)
