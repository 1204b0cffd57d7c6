"""The test sets: real public questions, chat-style questions, conversations, and the old held-out set."""
from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from yibao.normalize import normalize

PROJECT = Path(__file__).resolve().parent.parent
REAL_DIR = PROJECT / "tests" / "real"
PUBLIC = REAL_DIR / "public.yml"
CHAT = REAL_DIR / "chat.yml"
CONVERSATIONS = REAL_DIR / "conversations.yml"
HELDOUT = PROJECT / "tests" / "nlu" / "heldout.yml"
TRAINING_DIR = PROJECT / "data" / "nlu"
NEAR_DUPLICATE = 0.85

_ANNOTATION = re.compile(r"\[([^\]]*)\](?:\([^)]*\)|\{[^}]*\})")
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)


@dataclass(frozen=True)
class Question:
    text: str
    intent: str
    account_type: str | None
    entities: dict[str, Any]
    must: tuple[Any, ...]
    near_miss: bool
    source: str
    set_name: str


@dataclass(frozen=True)
class Turn:
    user: str
    must: tuple[Any, ...]
    must_not: tuple[str, ...]


@dataclass(frozen=True)
class Conversation:
    name: str
    situation: str
    turns: tuple[Turn, ...] = field(default_factory=tuple)


def _load_list(path: Path) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle) or []


def questions(paths: Iterable[Path] = (PUBLIC, CHAT)) -> list[Question]:
    found = []
    for path in paths:
        for item in _load_list(path):
            found.append(Question(str(item["text"]), item["intent"], item.get("account_type") or None,
                                  dict(item.get("entities") or {}), tuple(item.get("must") or ()),
                                  bool(item.get("near_miss")), str(item.get("source") or ""), path.stem))
    return found


def conversations(path: Path = CONVERSATIONS) -> list[Conversation]:
    return [Conversation(item["name"], item.get("situation", ""),
                         tuple(Turn(str(turn["user"]), tuple(turn.get("must") or ()), tuple(turn.get("must_not") or ()))
                               for turn in item["turns"]))
            for item in _load_list(path)]


def plain(example: str) -> str:
    """A training-format example without its entity annotations."""
    return _ANNOTATION.sub(lambda match: match.group(1), example)


def rasa_examples(path: Path) -> list[tuple[str, str]]:
    """(text, intent) pairs of a Rasa NLU YAML file, annotations removed."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    pairs = []
    for block in data.get("nlu") or []:
        if "intent" not in block:
            continue
        for line in str(block.get("examples") or "").splitlines():
            line = line.strip()
            if line.startswith("- "):
                pairs.append((plain(line[2:].strip()), block["intent"]))
    return pairs


def heldout() -> list[tuple[str, str]]:
    return rasa_examples(HELDOUT)


def training_texts() -> list[str]:
    return [text for path in sorted(TRAINING_DIR.glob("*.yml")) for text, _ in rasa_examples(path)]


def comparable(text: str) -> str:
    """The form two texts are compared in: normalised, without spaces and punctuation."""
    return _NOISE.sub("", normalize(text)).lower()


def similarity(first: str, second: str) -> float:
    return difflib.SequenceMatcher(None, comparable(first), comparable(second), autojunk=False).ratio()


def near_duplicates(tests: Iterable[str], training: Iterable[str],
                    threshold: float = NEAR_DUPLICATE) -> list[tuple[str, str, float]]:
    """(test item, training example, similarity) for every pair at or above `threshold`."""
    train = [(text, comparable(text)) for text in training]
    found = []
    for test in tests:
        probe = comparable(test)
        if not probe:
            continue
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(probe)
        for original, candidate in train:
            # ratio() is at most 2*min/(sum): skip pairs whose lengths alone rule a match out.
            if 2 * min(len(candidate), len(probe)) / (len(candidate) + len(probe) or 1) < threshold:
                continue
            matcher.set_seq1(candidate)
            if matcher.real_quick_ratio() < threshold or matcher.quick_ratio() < threshold:
                continue
            score = matcher.ratio()
            if score >= threshold:
                found.append((test, original, round(score, 3)))
    return found


def save(path: Path, result: dict[str, Any]) -> None:
    """A result as JSON for `quality.gate` (results/ is not tracked)."""
    import json

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")


def test_texts() -> list[str]:
    """Every text of the test sets: real questions, conversation turns and the old held-out set."""
    texts = [question.text for question in questions()]
    texts += [turn.user for conversation in conversations() for turn in conversation.turns]
    texts += [text for text, _ in heldout()]
    return texts
