"""What a message is about beyond the classifier's intent: whether it is ours at all, which feature it
describes, whether a binding failed or does not work yet, and whether it is a 那X呢 follow-up.

The cues live in data/understanding/cues.yml; this module only applies them. Texts are expected to be
normalised first (`yibao.normalize.normalize`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

CUES_FILE = Path(__file__).resolve().parent.parent / "data" / "understanding" / "cues.yml"
FAILED = "绑定失败"
BOUND = "已绑定"


# Cue lists that are plain words (matched as substrings), not regular expressions.
WORD_LISTS = ("not_places", "place_lookalikes")
FEATURES = ("亲情账户", "家庭共济")


@dataclass(frozen=True)
class Cues:
    """The cues of data/understanding/cues.yml by their path in the file ("scope.other_products",
    "our_names.亲情账户", "limits"), compiled once."""

    patterns: dict[str, tuple[re.Pattern, ...]]
    words: dict[str, tuple[str, ...]]
    family: re.Pattern

    def __getitem__(self, name: str) -> tuple[re.Pattern, ...]:
        return self.patterns[name]


def _flatten(raw: Mapping[str, Any], prefix: str = "") -> dict[str, list[str]]:
    flat: dict[str, list[str]] = {}
    for key, value in raw.items():
        if isinstance(value, Mapping):
            flat.update(_flatten(value, f"{prefix}{key}."))
        elif isinstance(value, list):
            flat[f"{prefix}{key}"] = [str(item) for item in value]
    return flat


@lru_cache(maxsize=4)
def load_cues(path: str = str(CUES_FILE)) -> Cues:
    with open(path, encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    family = raw["family"]
    flat = _flatten(raw)
    return Cues(
        patterns={
            name: tuple(re.compile(pattern.replace("{family}", family)) for pattern in patterns)
            for name, patterns in flat.items()
            if name not in WORD_LISTS
        },
        words={name: tuple(flat.get(name, ())) for name in WORD_LISTS},
        family=re.compile(family),
    )


def _any(patterns: tuple[re.Pattern, ...], text: str) -> bool:
    return any(pattern.search(text) for pattern in patterns)


def named_types(text: str, cues: Cues | None = None) -> list[str]:
    """The features the message names (亲情账户, 家庭共济), in order of first mention."""
    cues = cues or load_cues()
    found: list[tuple[int, str]] = []
    for kind in FEATURES:
        positions = [
            match.start() for pattern in cues[f"our_names.{kind}"] for match in [pattern.search(text)] if match
        ]
        if positions:
            found.append((min(positions), kind))
    return [kind for _, kind in sorted(found)]


def described_types(text: str, cues: Cues | None = None) -> tuple[str, ...]:
    """Every feature the message describes (亮码 on my phone, family spending my money)."""
    cues = cues or load_cues()
    return tuple(kind for kind in FEATURES if _any(cues[f"descriptions.{kind}"], text))


def outside_scope(text: str, cues: Cues, ours: bool) -> bool:
    """True when the message is about something else that shares our words (支付宝亲情卡, 居民医保
    itself taking effect, 异地就医备案 as a procedure). `ours`: the message names a feature or describes
    one (a family use of one's own 医保), which keeps it ours."""
    if _any(cues["scope.products_named_like_ours"], text) and "医保" not in text:
        return True
    if ours:
        return False
    if _any(cues["scope.other_products"], text) and not _any(cues["scope.ours_despite_product"], text):
        return True
    return _any(cues["scope.other_subjects"], text) and not _any(cues["scope.balance_complaint"], text)


def anchored(text: str, cues: Cues, ours: bool) -> bool:
    """Whether the message has anything that could make it about our features: a name or a description
    (`ours`), a family word, binding, a balance that cannot be spent, or asking for a person."""
    return bool(ours or cues.family.search(text) or _any(cues["scope.anchors"], text))


def bind_stage(text: str, cues: Cues | None = None) -> str | None:
    """已绑定 (bound but not working), 绑定失败 (the binding did not go through) or None."""
    cues = cues or load_cues()
    if _any(cues[f"bind_stage.{BOUND}"], text):
        return BOUND
    if _any(cues[f"bind_stage.{FAILED}"], text):
        return FAILED
    return None


def is_follow_up(text: str, cues: Cues | None = None) -> bool:
    """那上海呢 / 要是20号绑的呢: a short message that changes one detail of the last question."""
    cues = cues or load_cues()
    stripped = text.strip()
    return len(stripped) <= 16 and _any(cues["follow_up"], stripped)


def is_ordinary_word(span: str, cues: Cues | None = None) -> bool:
    """老家 / 那边 / 重新: words the NLU may take for a place that are never one."""
    cues = cues or load_cues()
    return any(word in span for word in cues.words["not_places"])


def inside_lookalike(text: str, start: int, end: int, cues: Cues | None = None) -> bool:
    """True when text[start:end] is part of a word like 医保定点 that only looks like a place (保定)."""
    cues = cues or load_cues()
    for word in cues.words["place_lookalikes"]:
        position = text.find(word)
        while position != -1:
            if position <= start and end <= position + len(word):
                return True
            position = text.find(word, position + 1)
    return False


@dataclass(frozen=True)
class Reading:
    """What one message says beyond its intent."""

    named: tuple[str, ...]
    described: str | None
    outside_scope: bool
    bind_stage: str | None
    follow_up: bool
    elsewhere: bool = False
    anchored: bool = True
    described_all: tuple[str, ...] = ()
    family: bool = False
    wants_person: bool = False
    limits: bool = False
    no_money: bool = False
    my_money: bool = False
    what_is: bool = False
    comparison: bool = False
    pilot_list: bool = False
    more: bool = False
    # (topic, item) of the table facts the message asks about in its own words.
    asked_about: tuple[tuple[str, str], ...] = ()

    @property
    def account_type(self) -> str | None:
        """The one feature the message is about, named or described; None when it names both or none."""
        if len(self.named) == 1:
            return self.named[0]
        if not self.named:
            return self.described
        return None


def read(text: str) -> Reading:
    cues = load_cues()
    named = tuple(named_types(text, cues))
    described_all = described_types(text, cues)
    described = described_all[0] if len(described_all) == 1 else None
    ours = bool(named or described)
    return Reading(
        named=named,
        described=described,
        outside_scope=outside_scope(text, cues, ours),
        bind_stage=bind_stage(text, cues),
        follow_up=is_follow_up(text, cues),
        elsewhere=_any(cues["elsewhere"], text),
        anchored=anchored(text, cues, ours),
        described_all=described_all,
        family=bool(cues.family.search(text)),
        wants_person=_any(cues["handoff"], text),
        limits=_any(cues["limits"], text),
        no_money=_any(cues["no_money"], text),
        my_money=_any(cues["my_money"], text),
        what_is=_any(cues["what_is"], text),
        comparison=_any(cues["comparison"], text),
        pilot_list=_any(cues["pilot_list"], text),
        more=_any(cues["more"], text.strip()),
        asked_about=asked_about(text, cues),
    )


ASKED_ABOUT = "asked_about."


def asked_about(text: str, cues: Cues | None = None) -> tuple[tuple[str, str], ...]:
    """The (topic, item) facts of the table the message's own words ask about (cues.yml asked_about)."""
    cues = cues or load_cues()
    found = []
    for name, patterns in cues.patterns.items():
        if name.startswith(ASKED_ABOUT) and _any(patterns, text):
            topic, item = name[len(ASKED_ABOUT) :].split(".", 1)
            found.append((topic, item))
    return tuple(found)


def best_topic(
    ranking: list[Mapping[str, Any]], topics: Any, floor: float, excluding: tuple[str, ...] = ()
) -> str | None:
    """The likeliest question topic of the classifier's ranking when its confidence reaches `floor`."""
    for entry in sorted(ranking or [], key=lambda e: -float(e.get("confidence") or 0)):
        if entry.get("name") in topics and entry.get("name") not in excluding:
            return entry["name"] if float(entry.get("confidence") or 0) >= floor else None
    return None
