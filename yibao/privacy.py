"""Masking of personal numbers in free text (reports, exports, logs, and before storage).

`mask_personal_numbers(text)` replaces
- 身份证号 (18 digits, the last may be X, with a plausible birth date; or 15 digits) -> `[身份证号]`
- bank card numbers (16-19 digits, also written in groups of four) -> `[银行卡号]`
- mainland mobile numbers (1[3-9] + 9 digits, optionally +86 / 0086 / 86 and spaces or dashes in the
  3-4-4 grouping) -> `138****1234` (first three and last four digits kept, as on Chinese receipts)

Full-width and other Unicode digits (１３８…) are recognised too. Public service numbers (12393, 0396-2763198) and short
numbers (dates, amounts) are left alone. The function is pure and idempotent: masking a masked text
changes nothing.
"""

from __future__ import annotations

import re
import unicodedata

ID_MASK = "[身份证号]"
CARD_MASK = "[银行卡号]"

# Full-width (and other Unicode) digits and X map one character to one, so match positions carry over.
_FULLWIDTH_X = {"ｘ": "x", "Ｘ": "X"}


def _ascii_digits(text: str) -> str:
    if text.isascii():
        return text
    return "".join(str(unicodedata.decimal(c)) if c.isdecimal() else _FULLWIDTH_X.get(c, c) for c in text)


_ID18 = r"\d{6}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])\d{3}[\dXx]"
_CARD_GROUPED = r"\d{4}(?:[ \-]\d{4}){3}(?:[ \-]?\d{1,3})?"
_CARD = r"\d{16,19}"
_ID15 = r"\d{15}"
_PHONE = r"(?:(?:\+|00)?86[ \-]?)?(?P<head>1[3-9]\d)[ \-]?(?P<mid>\d{4})[ \-]?(?P<tail>\d{4})"

# Alternatives are tried in this order at each position; the look-arounds keep a match from starting
# or ending inside a longer run of digits.
_PATTERN = re.compile(
    r"(?<!\d)(?:"
    rf"(?P<id18>{_ID18})(?!\d)"
    rf"|(?P<card_grouped>{_CARD_GROUPED})(?!\d)"
    rf"|(?P<card>{_CARD})(?!\d)"
    rf"|(?P<id15>{_ID15})(?!\d)"
    rf"|(?P<phone>{_PHONE})(?!\d)"
    r")",
    re.ASCII,
)


def _replacement(match: re.Match) -> str:
    if match.group("id18") is not None or match.group("id15") is not None:
        return ID_MASK
    if match.group("card_grouped") is not None or match.group("card") is not None:
        return CARD_MASK
    return f"{match.group('head')}****{match.group('tail')}"


# Any decimal digit, ASCII or not (the same characters as str.isdecimal): every number masked here
# has at least 11 of them, so a text without one is returned as it is, unscanned (most strings of a
# stored event are names and keys without digits).
_ANY_DIGIT = re.compile(r"\d")


def mask_personal_numbers(text: str) -> str:
    """The text with ID, bank card and mobile numbers masked. Non-strings come back unchanged."""
    if not isinstance(text, str) or not text or _ANY_DIGIT.search(text) is None:
        return text
    ascii_text = _ascii_digits(text)
    pieces: list[str] = []
    last = 0
    for match in _PATTERN.finditer(ascii_text):
        pieces.append(text[last : match.start()])
        pieces.append(_replacement(match))
        last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def mask_value(value):
    """mask_personal_numbers applied to every string inside lists, tuples and dicts (keys too)."""
    if isinstance(value, str):
        return mask_personal_numbers(value)
    if isinstance(value, dict):
        return {mask_value(k): mask_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(mask_value(v) for v in value)
    return value
