"""Play the test conversations (tests/real/conversations.yml) against a real Rasa server and a real
action server over the REST channel, and check every turn's must / must_not.

    python -m quality.conversations [--model models/yibao.tar.gz] [--show-failures]

Each conversation is a new user. A turn is right when every `must` element appears in the bot's whole
reply (an element that is a list: one of its alternatives) and no `must_not` string does. The test
questions of tests/real/ are also asked, each as a new user, and the answers checked for their `must`
facts (reported, not gated: the wording of answers is issue #10's).
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from deploy import cluster
from quality import sets

WORKERS = 4


@dataclass
class TurnResult:
    conversation: str
    index: int
    user: str
    reply: str
    missing: list[str]
    forbidden: list[str]

    @property
    def right(self) -> bool:
        return not self.missing and not self.forbidden


def fill_dates(text: str, today: date) -> str:
    following = today.month % 12 + 1
    return text.replace("{this_month}", f"{today.month}月").replace("{next_month}", f"{following}月")


def check(reply: str, must: Sequence[Any], must_not: Sequence[str], today: date) -> tuple[list[str], list[str]]:
    """(the must elements not found, the must_not strings found)."""
    missing = []
    for element in must:
        options = [fill_dates(str(option), today) for option in (element if isinstance(element, list) else [element])]
        if not any(option in reply for option in options):
            missing.append("|".join(options))
    forbidden = [fill_dates(str(word), today) for word in must_not if fill_dates(str(word), today) in reply]
    return missing, forbidden


class Assistant:
    """`rasa run` with the REST channel and `rasa run actions`, on free ports, in a temporary folder."""

    def __init__(self, model: Path) -> None:
        self.model = model
        self.folder = Path(tempfile.mkdtemp(prefix="yibao-conversations-"))
        self.rasa_port, self.action_port = cluster.free_port(), cluster.free_port()
        self.processes: list = []

    def __enter__(self) -> "Assistant":
        actions = cluster.start_action_server(self.action_port, self.folder / "actions.log")
        self.processes.append(actions)
        endpoints = self.folder / "endpoints.yml"
        endpoints.write_text(f"action_endpoint:\n  url: http://127.0.0.1:{self.action_port}/webhook\n", encoding="utf-8")
        rasa = cluster.start_rasa(self.rasa_port, endpoints, self.folder / "rasa.log", model=self.model)
        self.processes.append(rasa)
        cluster.wait_http(f"http://127.0.0.1:{self.action_port}/health", actions)
        cluster.wait_rasa(self.rasa_port, rasa)
        return self

    def __exit__(self, *exc: object) -> None:
        cluster.stop_all(self.processes)

    def say(self, sender: str, text: str) -> str:
        body = json.dumps({"sender": sender, "message": text}, ensure_ascii=False).encode("utf-8")
        request = urllib.request.Request(f"http://127.0.0.1:{self.rasa_port}/webhooks/rest/webhook", data=body,
                                         headers={"Content-Type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=60) as response:
            messages = json.loads(response.read().decode("utf-8"))
        return "\n".join(str(message.get("text", "")) for message in messages if isinstance(message, dict))


def play(assistant: Assistant, conversation: sets.Conversation, today: date) -> list[TurnResult]:
    sender = f"test-{uuid.uuid4().hex[:12]}"
    results = []
    for index, turn in enumerate(conversation.turns, start=1):
        reply = assistant.say(sender, turn.user)
        missing, forbidden = check(reply, turn.must, turn.must_not, today)
        results.append(TurnResult(conversation.name, index, turn.user, reply, missing, forbidden))
    return results


def ask(assistant: Assistant, question: sets.Question, today: date) -> TurnResult:
    reply = assistant.say(f"q-{uuid.uuid4().hex[:12]}", question.text)
    missing, forbidden = check(reply, question.must, (), today)
    return TurnResult(question.set_name, 0, question.text, reply, missing, forbidden)


def evaluate(model: Path, conversations: Iterable[sets.Conversation], questions: Iterable[sets.Question]) -> dict[str, Any]:
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    conversations, questions = list(conversations), list(questions)
    with Assistant(model) as assistant, ThreadPoolExecutor(WORKERS) as pool:
        played = list(pool.map(lambda c: play(assistant, c, today), conversations))
        asked = list(pool.map(lambda q: ask(assistant, q, today), questions))
    turns = [turn for conversation in played for turn in conversation]
    return {
        "conversations": len(played),
        "turns": len(turns),
        "turn_accuracy": round(sum(t.right for t in turns) / len(turns), 3) if turns else 0.0,
        "conversation_accuracy": round(sum(all(t.right for t in c) for c in played) / len(played), 3) if played else 0.0,
        "question_facts": round(sum(t.right for t in asked) / len(asked), 3) if asked else 0.0,
        "questions": len(asked),
        "failed_turns": [vars(t) for t in turns if not t.right],
        "failed_questions": [vars(t) for t in asked if not t.right],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=sets.PROJECT / "models" / "yibao.tar.gz")
    parser.add_argument("--json", type=Path, default=sets.PROJECT / "results" / "conversations.json")
    parser.add_argument("--show-failures", action="store_true")
    args = parser.parse_args(argv)
    result = evaluate(args.model, sets.conversations(), sets.questions())
    sets.save(args.json, result)
    print(f"conversations: {result['turn_accuracy']:.3f} of {result['turns']} turns right, "
          f"{result['conversation_accuracy']:.3f} of {result['conversations']} whole conversations right; "
          f"answers with the expected facts: {result['question_facts']:.3f} of {result['questions']} questions")
    if args.show_failures:
        for turn in result["failed_turns"]:
            print(f"--- {turn['conversation']} #{turn['index']}: {turn['user']}\n    missing {turn['missing']} "
                  f"forbidden {turn['forbidden']}\n    {turn['reply'][:300]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
