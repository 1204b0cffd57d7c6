"""Late replies through WeChat's customer-service message API (公众号 客服消息, 企业微信 应用消息).

Sent with wechatpy's own clients (``wechatpy.client.WeChatClient``, ``wechatpy.enterprise.WeChatClient``)
pointed at ``api_base`` (a local fake in the tests). They use ``requests``, so every call runs in a
worker thread, never on the event loop.

The access token has one holder for all replicas: WeChat keeps one valid token per app, and each
fetch invalidates the previous one, so replicas fetching their own would log each other out. The
token lives in the shared channel state with its expiry (minus a margin); a replica that finds none
takes the state's lock, looks again (another replica may just have fetched one) and only then
fetches. A token WeChat calls invalid (errcode 40001, 40014, 42001) is replaced once, the same way,
unless another replica has replaced it already.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from functools import partial
from typing import Any

import requests
from wechatpy.client import WeChatClient as MpClient
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.exceptions import WeChatClientException

from channels.state import ChannelState
from channels.wechat.crypto import MODE_WECOM

logger = logging.getLogger(__name__)

DEFAULT_API_BASE = {"mp": "https://api.weixin.qq.com", MODE_WECOM: "https://qyapi.weixin.qq.com"}
API_TIMEOUT_SECONDS = 10.0
TOKEN_EXPIRY_MARGIN_SECONDS = 300
# A holder that died mid-fetch frees the lock after this; the others wait at most TOKEN_WAIT_SECONDS.
TOKEN_LOCK_SECONDS = 30.0
TOKEN_WAIT_SECONDS = 15.0
# access_token invalid / expired: fetch a new one and try once more.
TOKEN_ERRCODES = {40001, 40014, 42001}


class _TimeoutSession(requests.Session):
    """wechatpy's token request passes no timeout; a hung API must not hold a worker thread forever."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(method, url, **kwargs)


class _MpClient(MpClient):
    """wechatpy's 公众号 client on ``api_base`` (its token URL is fixed to api.weixin.qq.com)."""

    def __init__(self, api_base: str, appid: str, secret: str, access_token: str | None, timeout: float) -> None:
        super().__init__(appid, secret, access_token=access_token, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = f"{api_base}/cgi-bin/"
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}token",
            params={"grant_type": "client_credential", "appid": self.appid, "secret": self.secret},
        )


class _WeComClient(WeComClient):
    """wechatpy's 企业微信 client on ``api_base``."""

    def __init__(self, api_base: str, corp_id: str, secret: str, access_token: str | None, timeout: float) -> None:
        super().__init__(corp_id, secret, access_token=access_token, timeout=timeout, auto_retry=False)
        self.API_BASE_URL = f"{api_base}/cgi-bin/"
        self._http = _TimeoutSession(timeout)

    def fetch_access_token(self) -> dict[str, Any]:
        return self._fetch_access_token(
            url=f"{self.API_BASE_URL}gettoken", params={"corpid": self.corp_id, "corpsecret": self.secret}
        )


class CustomerService:
    """Sends text to one user through the message API, with the shared access token."""

    def __init__(
        self,
        mode: str,
        api_base: str,
        app_id: str | None,
        secret: str | None,
        agent_id: str | None = None,
        timeout: float = API_TIMEOUT_SECONDS,
    ) -> None:
        self.mode = mode
        self.api_base = api_base
        self.app_id = app_id
        self.secret = secret
        self.agent_id = agent_id
        self.timeout = timeout
        # One token per app (and, in WeCom, per app secret); the secret itself never reaches a key.
        secret_tag = hashlib.sha256((secret or "").encode()).hexdigest()[:12]
        self.token_key = f"wx:token:{app_id}:{secret_tag}"

    @property
    def configured(self) -> bool:
        if self.mode == MODE_WECOM:
            return bool(self.app_id and self.secret and self.agent_id)
        return bool(self.app_id and self.secret)

    def _client(self, access_token: str | None) -> Any:
        client_class = _WeComClient if self.mode == MODE_WECOM else _MpClient
        return client_class(self.api_base, self.app_id or "", self.secret or "", access_token, self.timeout)

    async def _in_thread(self, call: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(None, call)

    async def access_token(self, state: ChannelState, stale: str | None = None) -> str:
        """The shared token; a new one only when there is none (or only ``stale``), fetched by one
        replica at a time."""
        cached = await state.get(self.token_key)
        if cached and cached != stale:
            return cached
        async with state.lock(f"{self.token_key}:lock", ttl=TOKEN_LOCK_SECONDS, wait=TOKEN_WAIT_SECONDS) as held:
            cached = await state.get(self.token_key)
            if cached and cached != stale:
                return cached  # fetched by another replica while this one waited
            if not held:
                raise RuntimeError("another replica holds the access_token lock for too long")
            result = await self._in_thread(self._client(None).fetch_access_token)
            token = result.get("access_token") if isinstance(result, dict) else None
            if not token:
                raise RuntimeError("access_token request answered no token")
            expires_in = int(result.get("expires_in") or 7200)
            await state.put(self.token_key, token, max(expires_in - TOKEN_EXPIRY_MARGIN_SECONDS, 60))
            logger.info("WeChat channel: fetched a new access_token (valid %s s)", expires_in)
            return token

    def _send(self, access_token: str, user_id: str, content: str) -> None:
        client = self._client(access_token)
        if self.mode == MODE_WECOM:
            client.message.send_text(int(self.agent_id or 0), user_id, content)
        else:
            client.message.send_text(user_id, content)

    async def send_text(self, state: ChannelState, user_id: str, content: str) -> None:
        """Sends ``content`` to ``user_id``; raises when WeChat refuses it."""
        if not self.configured:
            needs = (
                "WECHAT_CORP_ID / WECHAT_APPSECRET / WECHAT_AGENT_ID"
                if self.mode == MODE_WECOM
                else "WECHAT_APPID / WECHAT_APPSECRET"
            )
            raise RuntimeError(f"{needs} not configured")
        token = await self.access_token(state)
        try:
            await self._in_thread(partial(self._send, token, user_id, content))
        except WeChatClientException as error:
            if error.errcode not in TOKEN_ERRCODES:
                raise
            token = await self.access_token(state, stale=token)
            await self._in_thread(partial(self._send, token, user_id, content))


def redact(text: str) -> str:
    """Cuts query strings (access_token, secret) out of error messages."""
    out = []
    for word in text.split(" "):
        out.append(word.split("?", 1)[0] + ("?…" if "?" in word else ""))
    return " ".join(out)
