"""One spelling for what people type: simplified characters, ASCII digits, domain words spelt right.

Every rewrite keeps the text's length, so entity positions found in the normalised text are valid
in the original one (Rasa stores the user's original text).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import opencc
import yaml
from pypinyin import lazy_pinyin

HOMOPHONES_FILE = Path(__file__).resolve().parent.parent / "data" / "understanding" / "homophones.yml"
_FULL_WIDTH_ALNUM = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F) if chr(code - 0xFEE0).isalnum()}


@dataclass(frozen=True)
class Homophone:
    word: str
    sound: tuple[str, ...]
    not_before: tuple[str, ...]


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


@lru_cache(maxsize=4)
def homophones(path: str = str(HOMOPHONES_FILE)) -> tuple[Homophone, ...]:
    with open(path, encoding="utf-8") as handle:
        entries = yaml.safe_load(handle)["words"]
    found = [
        Homophone(entry["word"], tuple(lazy_pinyin(entry["word"])), tuple(entry.get("not_before") or ()))
        for entry in entries
    ]
    # Longer words first: 亲情账户 is fixed as a whole before 亲情 or 账户 are looked at.
    return tuple(sorted(found, key=lambda h: -len(h.word)))


def to_simplified(text: str) -> str:
    converted = _converter().convert(text)
    return converted if len(converted) == len(text) else text


def fix_homophones(text: str) -> str:
    """Rewrite runs that sound like a domain word but are spelt otherwise (亲清 → 亲情, 共计 → 共济)."""
    if not text:
        return text
    sounds = lazy_pinyin(text)
    if len(sounds) != len(text):  # pypinyin keeps non-Chinese runs together; map per character instead
        sounds = [lazy_pinyin(char)[0] for char in text]
    chars = list(text)
    fixed = [False] * len(chars)
    for entry in homophones():
        size = len(entry.word)
        for start in range(len(chars) - size + 1):
            if any(fixed[start : start + size]) or tuple(sounds[start : start + size]) != entry.sound:
                continue
            window = "".join(chars[start : start + size])
            if window == entry.word:
                fixed[start : start + size] = [True] * size
                continue
            rest = "".join(chars[start + size : start + size + 2])
            if any(rest.startswith(word) for word in entry.not_before):
                continue
            chars[start : start + size] = list(entry.word)
            fixed[start : start + size] = [True] * size
    return "".join(chars)


def normalize(text: str) -> str:
    """The text the assistant understands: simplified, ASCII digits and letters, domain words fixed."""
    if not text:
        return text or ""
    return fix_homophones(to_simplified(text).translate(_FULL_WIDTH_ALNUM))
