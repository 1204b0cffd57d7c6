"""Buttons on WeChat: numbered lines in the reply, and a reply "1" / "２" / "三" that picks one.

WeChat has no buttons for an Official Account's text reply, so each button becomes a numbered line
and the channel remembers the payloads per user (channels.state, shared by replicas).
"""

from __future__ import annotations

import unicodedata
from typing import Any

_CHINESE_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_CHOICE_STRIP = " \t\r\n.。、,，)）:：!！"


def parse_choice(text: str) -> int | None:
    """'1', '１', '一', '①', '2.' → the number; anything else → None."""
    s = (text or "").strip().strip(_CHOICE_STRIP)
    if not s or len(s) > 3:
        return None
    if s.isdecimal():
        return int(s)
    if len(s) == 1:
        if s in _CHINESE_NUMERALS:
            return _CHINESE_NUMERALS[s]
        digit = unicodedata.digit(s, None)
        if digit is not None:
            return digit
    return None


def pick(options: list[str], text: str) -> str:
    """The payload a number picks from ``options``, else the text itself."""
    number = parse_choice(text)
    if not options or number is None or not 1 <= number <= len(options):
        return text
    return options[number - 1]


def render_messages(messages: list[dict[str, Any]], hint: str) -> tuple[str | None, list[str]]:
    """All bot messages of a turn as one text (blank lines between them, buttons as numbered lines
    and ``hint`` after the last of them), and the payloads in the order numbered."""
    parts: list[str] = []
    options: list[str] = []
    last_options_part = -1
    for message in messages:
        block: list[str] = []
        if message.get("text"):
            block.append(str(message["text"]).strip())
        if message.get("image"):
            block.append(str(message["image"]))
        if message.get("attachment"):
            block.append(str(message["attachment"]))
        custom = message.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("text"), str):
            block.append(custom["text"].strip())
        for button in message.get("buttons") or []:
            title = str(button.get("title") or button.get("payload") or "").strip()
            payload = str(button.get("payload") or title).strip()
            if not payload:
                continue
            options.append(payload)
            block.append(f"{len(options)}. {title}")
            last_options_part = len(parts)
        block = [line for line in block if line]
        if block:
            parts.append("\n".join(block))
    if options and last_options_part >= 0:
        parts[last_options_part] += f"\n{hint}"
    return ("\n\n".join(parts) if parts else None), options
