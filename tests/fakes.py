"""Local stand-ins for the Telegram Bot API and the WeChat API, shared by the channel tests, the
hostile-input test and the scale-out test.

Each runs an aiohttp app on 127.0.0.1 in its own thread and event loop, so it outlives the loops of
the servers under test (the Sanic test client starts a new loop per request) and serves real Rasa
processes too. Every call is recorded.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

from aiohttp import web

ONE_MB = 1024 * 1024


class _ThreadedServer:
    """An aiohttp app in a thread of its own; ``base`` is its URL once started."""

    def __init__(self) -> None:
        self.base = ""
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def start(self) -> _ThreadedServer:
        ready = threading.Event()

        async def serve() -> None:
            app = web.Application(client_max_size=4 * ONE_MB)
            self.routes(app)
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            self.base = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
            ready.set()

        def run() -> None:
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(serve())
            self._loop.run_forever()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        assert ready.wait(10), f"{type(self).__name__} did not start"
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)
        self._loop.close()


class FakeBotAPI(_ThreadedServer):
    """``POST /bot<token>/<method>`` like Telegram: getMe, sendMessage, answerCallbackQuery, setWebhook.

    ``calls`` holds every (method, fields) pair, with ``reply_markup`` left as the JSON string sent.
    """

    def __init__(self, token: str, username: str) -> None:
        super().__init__()
        self.token = token
        self.username = username
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._message_id = 100

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/bot{token}/{method}", self._handle)

    async def _handle(self, request: web.Request) -> web.Response:
        token = request.match_info["token"]
        method = request.match_info["method"]
        if request.content_type == "application/json":
            fields = await request.json()
        else:
            fields = dict(await request.post())
        with self._lock:
            self.calls.append((method, fields))
        if token != self.token:
            return web.json_response({"ok": False, "error_code": 401, "description": "Unauthorized"}, status=401)
        if method == "getMe":
            result: Any = {
                "id": int(self.token.split(":")[0]),
                "is_bot": True,
                "first_name": "医保家庭助手",
                "username": self.username,
            }
        elif method == "sendMessage":
            self._message_id += 1
            result = {
                "message_id": self._message_id,
                "from": {"id": int(self.token.split(":")[0]), "is_bot": True, "first_name": "医保家庭助手"},
                "chat": {"id": int(fields["chat_id"]), "type": "private"},
                "date": 1763880000,
                "text": fields["text"],
            }
        elif method in ("answerCallbackQuery", "setWebhook"):
            result = True
        else:
            return web.json_response({"ok": False, "error_code": 404, "description": "Not Found"}, status=404)
        return web.json_response({"ok": True, "result": result})

    def methods(self) -> list[str]:
        with self._lock:
            return [method for method, _ in self.calls]

    def sent(self) -> list[dict[str, Any]]:
        """sendMessage calls as {chat_id, text, keyboard?} with reply_markup decoded."""
        out = []
        with self._lock:
            calls = list(self.calls)
        for method, fields in calls:
            if method != "sendMessage":
                continue
            item = {"chat_id": str(fields["chat_id"]), "text": fields["text"]}
            if "reply_markup" in fields:
                item["keyboard"] = json.loads(fields["reply_markup"])
            out.append(item)
        return out

    def texts_for(self, chat_id: Any) -> list[str]:
        return [item["text"] for item in self.sent() if item["chat_id"] == str(chat_id)]

    def keyboards_for(self, chat_id: Any) -> list[dict[str, Any]]:
        return [item["keyboard"] for item in self.sent() if item["chat_id"] == str(chat_id) and "keyboard" in item]


class FakeWeChatAPI(_ThreadedServer):
    """api.weixin.qq.com's ``GET /cgi-bin/token`` and ``POST /cgi-bin/message/custom/send``.

    Like WeChat, it keeps one valid token per app: each token request issues a new token and
    invalidates the previous one, and a send with any other token gets errcode 40001.
    """

    def __init__(self, token_delay: float = 0.0) -> None:
        super().__init__()
        self.token_delay = token_delay
        self.token_requests: list[dict[str, str]] = []
        self.sent: list[dict[str, Any]] = []
        self.raw_bodies: list[bytes] = []
        self.send_tokens: list[str] = []
        self.refused: list[str] = []
        self.valid_token: str | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/cgi-bin/token", self._token)
        app.router.add_post("/cgi-bin/message/custom/send", self._send)

    async def _token(self, request: web.Request) -> web.Response:
        if self.token_delay:
            await asyncio.sleep(self.token_delay)
        with self._lock:
            self.token_requests.append(dict(request.query))
            self.valid_token = f"ACCESS_TOKEN_FAKE_{len(self.token_requests)}"
            token = self.valid_token
        return web.json_response({"access_token": token, "expires_in": 7200})

    async def _send(self, request: web.Request) -> web.Response:
        raw = await request.read()
        token = request.query.get("access_token", "")
        with self._lock:
            if token != self.valid_token:
                self.refused.append(token)
                return web.json_response({"errcode": 40001, "errmsg": "invalid credential, access_token is invalid"})
            self.raw_bodies.append(raw)
            self.send_tokens.append(token)
            self.sent.append(json.loads(raw.decode("utf-8")))
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    def texts_to(self, openid: str) -> list[str]:
        with self._lock:
            return [m["text"]["content"] for m in self.sent if m.get("touser") == openid]

    async def wait_for_messages(self, count: int, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.sent)} of {count} messages arrived")
            await asyncio.sleep(0.02)

    def wait_until_sent(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.sent) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.sent)} of {count} messages arrived")
            time.sleep(0.05)
