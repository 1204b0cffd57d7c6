"""The WeChat channel (微信公众号 / 企业微信): ``channels.wechat.WeChatInput`` in credentials.yml.

channel.py   the input channel: Sanic routes, once-per-message handling over the shared state
crypto.py    signatures and safe-mode / WeCom encryption (wechatpy's checks)
messages.py  the incoming XML, parsed once and safely, and the passive reply
choices.py   buttons as numbered lines, and a reply "1" that picks one
delivery.py  late replies through the customer-service message API (wechatpy's clients), one token holder
"""

from channels.wechat.channel import CHANNEL_NAME, WeChatInput, WeChatOutput
from channels.wechat.choices import parse_choice

__all__ = ["CHANNEL_NAME", "WeChatInput", "WeChatOutput", "parse_choice"]
