"""What every channel shares: bounded body reading, text cleaning and masking, one length limit, and
the channels' wording (data/texts.yml, keys ``channel_*``).

A channel module translates its protocol into a ``UserMessage`` and back; whatever decides what a
user may send or what a user is told lives here, once, so that the channels cannot drift apart.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from yibao.privacy import mask_personal_numbers
from yibao.texts import load_texts

# Bodies above this are refused (413) by every channel; a text message is a few kB at most.
MAX_BODY_BYTES = 1024 * 1024
# One limit for every channel: longer text is answered with channel_too_long, never sent to the NLU.
MAX_TEXT_CHARS = 2000

# Bidirectional embeddings/overrides/isolates and the BOM: invisible, and they make logs lie.
_INVISIBLE = {0x202A, 0x202B, 0x202C, 0x202D, 0x202E, 0x2066, 0x2067, 0x2068, 0x2069, 0xFEFF}
_ZWJ = "\u200d"  # kept inside emoji sequences (👨‍👩‍👧), removed next to a digit
_DIGITS = set("0123456789０１２３４５６７８９")


# ---------------------------------------------------------------------------------- wording
def text(key: str, **values: Any) -> str:
    """The channel wording ``channel_<key>`` from data/texts.yml, placeholders filled."""
    template = load_texts()[f"channel_{key}"]
    return template.format(**values) if values else template


def apology() -> str:
    """What a user is told when Rasa or the action server fails (with 12393)."""
    return text("apology")


def empty_text_reply() -> str:
    return text("empty_text")


def too_long_reply(max_chars: int = MAX_TEXT_CHARS) -> str:
    return text("too_long", max_chars=max_chars)


# ---------------------------------------------------------------------------------- body
class BodyTooLarge(Exception):
    """The request body is over the channel's limit (answer 413)."""


async def read_body(request: Any, max_bytes: int = MAX_BODY_BYTES) -> bytes:
    """The whole body, refused as soon as it is known to pass ``max_bytes``.

    Works for streaming routes (read chunk by chunk, so a huge body is never buffered) and for
    ordinary ones (already buffered by Sanic up to its REQUEST_MAX_SIZE).
    """
    declared = (request.headers.get("content-length") or "").strip()
    if declared.isdigit() and int(declared) > max_bytes:
        raise BodyTooLarge()
    # Sanic has already buffered the body of a route that does not stream (its stream is then spent).
    if request.body or getattr(request, "stream", None) is None:
        body = request.body or b""
    else:
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream:
            if chunk:
                size += len(chunk)
                if size > max_bytes:
                    raise BodyTooLarge()
                chunks.append(chunk)
        body = b"".join(chunks)
    if len(body) > max_bytes:
        raise BodyTooLarge()
    return body


# ---------------------------------------------------------------------------------- text hygiene
def strip_control(value: str) -> str:
    """Removes control characters (tab and line breaks become a space / a newline), lone
    surrogates and invisible format characters (zero-width spaces, bidirectional overrides, the
    BOM), so that nothing invisible can hide a number from the masking or make a log line lie.
    Letters, digits, punctuation and emoji (with their zero-width joiners and variation selectors)
    are kept."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    out = []
    for ch in value:
        if ch == "\n":
            out.append(ch)
        elif ch == "\t":
            out.append(" ")
        elif ch == _ZWJ:
            out.append(ch)
        elif ord(ch) in _INVISIBLE or unicodedata.category(ch) in ("Cc", "Cs", "Cf"):
            continue
        else:
            out.append(ch)
    if _ZWJ in value:
        kept = out
        out = [
            ch
            for i, ch in enumerate(kept)
            if ch != _ZWJ or not ((i > 0 and kept[i - 1] in _DIGITS) or (i + 1 < len(kept) and kept[i + 1] in _DIGITS))
        ]
    return "".join(out)


def clean_text(value: str) -> str:
    """The text Rasa may see: control characters removed first (so that a NUL inside a number does
    not hide it), then personal numbers masked, then outer white space stripped."""
    return mask_personal_numbers(strip_control(value)).strip()


def prepare_text(value: str, max_chars: int = MAX_TEXT_CHARS) -> tuple[str, str | None]:
    """``(text_for_rasa, None)``, or ``("", reply)`` when the text must not reach the NLU: empty or
    white space only (a prompt) or longer than ``max_chars`` (ask for a shorter question)."""
    cleaned = clean_text(value)
    if not cleaned:
        return "", empty_text_reply()
    if len(cleaned) > max_chars:
        return "", too_long_reply(max_chars)
    return cleaned, None
