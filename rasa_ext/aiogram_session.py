"""aiogram's HTTP session tied to the event loop that uses it.

Replaces, for the project's Telegram output only (``channels.telegram.TelegramOutput`` inherits
``LoopBoundSession`` before Rasa's ``TelegramOutput``), aiogram 2.15's ``BaseBot.session`` property
and ``BaseBot.get_new_session``, and adds ``close_session``. It reads aiogram's private
``_session``, ``_connector_class`` and ``_connector_init``. Nothing is changed globally, and importing
this module changes nothing.

Why: aiogram creates its ``aiohttp.ClientSession`` once and keeps it, bound to the loop it was
created on. Rasa's Telegram channel creates it in ``asyncio.run(set_webhook())`` at start, on a loop
that is closed right after, so every later Bot API call fails with "Event loop is closed" and every
update gets a 500 (docs: /work/shared/notes, trap 4). The same happens whenever a server (or the
Sanic test client) runs on a new loop. Here a session that belongs to another loop, or is closed, is
replaced by a new one on the running loop, and ``get_new_session`` no longer passes aiogram's
``loop=`` (deprecated by aiohttp, and the wrong loop here).

Gain: correctness, not speed: without it the Telegram channel answers no update at all
(tests/channels/test_telegram.py, test_consecutive_updates_each_answered_on_a_fresh_loop).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


class LoopBoundSession:
    """Mixin for an ``aiogram.Bot`` subclass: one HTTP session per running loop."""

    _session: aiohttp.ClientSession | None
    _connector_class: Any
    _connector_init: dict[str, Any]

    def get_new_session(self) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(connector=self._connector_class(**self._connector_init), json_serialize=json.dumps)

    @property
    def session(self) -> aiohttp.ClientSession:
        current = self._session
        running = asyncio.get_running_loop()
        if current is None or current.closed or getattr(current, "_loop", None) is not running:
            self._session = self.get_new_session()
        return self._session

    async def close_session(self) -> None:
        """Closes the HTTP session if it belongs to the running loop (one on a closed loop is dropped)."""
        current = self._session
        self._session = None
        if current is not None and not current.closed:
            if getattr(current, "_loop", None) is asyncio.get_running_loop():
                await current.close()
