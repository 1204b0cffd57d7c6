"""Signatures and encryption of WeChat callbacks, with wechatpy's own checks.

* Plain signature (公众号, every request): ``wechatpy.utils.check_signature``.
* Safe mode (公众号 ``encrypt_type=aes``): ``wechatpy.crypto.WeChatCrypto`` checks ``msg_signature``
  and decrypts; replies are encrypted with it.
* 企业微信: ``wechatpy.enterprise.crypto.WeChatCrypto`` (always encrypted; the URL verification's
  ``echostr`` is checked and decrypted by its ``check_signature``).

A wrong or missing signature is a 403, a body or ``echostr`` that cannot be decrypted a 400.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rasa.shared.exceptions import RasaException
from wechatpy.crypto import WeChatCrypto as MpCrypto
from wechatpy.enterprise.crypto import WeChatCrypto as WeComCrypto
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.utils import check_signature

from channels.wechat.errors import Reject

MODE_MP = "mp"
MODE_WECOM = "wecom"
AES_KEY_CHARS = 43


class Signatures:
    """The checks for one account: its Token and, in safe mode or WeCom, its EncodingAESKey."""

    def __init__(self, token: str, mode: str, aes_key: str | None, receiver_id: str | None) -> None:
        self.token = token
        self.mode = mode
        self._crypto: Any = None
        if aes_key:
            if len(aes_key) != AES_KEY_CHARS:
                raise RasaException("WeChat channel: WECHAT_AES_KEY / aes_key must be the 43-character EncodingAESKey")
            crypto_class = WeComCrypto if mode == MODE_WECOM else MpCrypto
            try:
                self._crypto = crypto_class(token, aes_key, receiver_id)
            except Exception:  # bad base64 / wrong length; never echo the key
                raise RasaException("WeChat channel: WECHAT_AES_KEY / aes_key is not a valid EncodingAESKey") from None

    @property
    def safe_mode(self) -> bool:
        return self._crypto is not None

    def check_plain(self, args: Mapping[str, Any]) -> None:
        """The 公众号's ``signature`` over Token, timestamp and nonce."""
        signature, timestamp, nonce = args.get("signature"), args.get("timestamp"), args.get("nonce")
        if not (signature and timestamp and nonce):
            raise Reject(403, "missing signature")
        try:
            check_signature(self.token, signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Reject(403, "invalid signature") from None

    def verify_url(self, args: Mapping[str, Any]) -> str:
        """The text to answer WeChat's GET verification with (the plain or decrypted ``echostr``)."""
        timestamp, nonce, echostr = args.get("timestamp"), args.get("nonce"), args.get("echostr")
        if not (timestamp and nonce and echostr):
            raise Reject(403, "missing signature parameters")
        if self.mode == MODE_MP:
            self.check_plain(args)
            return echostr
        msg_signature = args.get("msg_signature")
        if not msg_signature:
            raise Reject(403, "missing msg_signature")
        # '+' in an echostr that was not percent-encoded arrives as a space.
        candidates = [echostr] + ([echostr.replace(" ", "+")] if " " in echostr else [])
        for candidate in candidates:
            try:
                return self._crypto.check_signature(msg_signature, timestamp, nonce, candidate)
            except InvalidSignatureException:
                continue
            except Exception:
                raise Reject(400, "echostr cannot be decrypted") from None
        raise Reject(403, "invalid msg_signature")

    def decrypt(self, encrypted: str, args: Mapping[str, Any]) -> str:
        """The plaintext XML of an ``<Encrypt>`` body, after its ``msg_signature`` is checked."""
        if self._crypto is None:
            raise Reject(400, "encrypted message but WECHAT_AES_KEY is not configured")
        msg_signature, timestamp, nonce = args.get("msg_signature"), args.get("timestamp"), args.get("nonce")
        try:
            # A dict, so that wechatpy does not parse the (already checked) XML a second time.
            return self._crypto.decrypt_message({"Encrypt": encrypted}, msg_signature, timestamp, nonce)
        except InvalidSignatureException:
            raise Reject(403, "invalid msg_signature") from None
        except Exception:
            raise Reject(400, "Encrypt cannot be decrypted") from None

    def encrypt(self, xml: str, nonce: str | None) -> str:
        return self._crypto.encrypt_message(xml, nonce or str(int(time.time())))
