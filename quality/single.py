"""Every test question through the trained NLU and then the dialogue state, as the assistant acts on it.

    python -m quality.single [--model models/yibao.tar.gz] [--json results/real.json] [--show-errors]

The intent that counts is the one the assistant answers: the classifier's, corrected by yibao/state.py
(a near miss declined, a described feature understood, a fallback offering choices). A fresh conversation
is assumed for each question.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Iterable
from zoneinfo import ZoneInfo

from quality import sets
from yibao import state, understanding
from yibao.normalize import normalize

PROJECT = sets.PROJECT
MODEL = PROJECT / "models" / "yibao.tar.gz"
ANSWERED_BY_ACTION = set(state.QUESTION_TOPICS) | {state.INFORM, state.OUT_OF_SCOPE, state.FALLBACK, state.MORE}


@dataclass
class Prediction:
    text: str
    expected_intent: str
    intent: str
    classifier_intent: str
    confidence: float
    expected_account_type: str | None
    account_type: str | None
    set_name: str


def classifier_only(parse: dict[str, Any]) -> tuple[str, str | None]:
    """What an assistant acting on the classifier alone does: its intent, and the one feature its
    entities name (how this project answered before yibao/state.py)."""
    intent = (parse.get("intent") or {}).get("name") or state.FALLBACK
    kinds = {e.get("value") for e in parse.get("entities") or [] if e.get("entity") == "account_type"}
    kinds &= {"亲情账户", "家庭共济"}
    return intent, (next(iter(kinds)) if len(kinds) == 1 and intent in state.QUESTION_TOPICS else None)


def acted_intent(parse: dict[str, Any], today) -> tuple[str, str | None]:
    """(intent the assistant acts on, the feature it takes the question to be about)."""
    intent = (parse.get("intent") or {}).get("name") or state.FALLBACK
    if intent == state.HANDOFF:
        # action_handoff declines a hotline of something else (国航, 10086).
        outside = understanding.read(normalize(parse.get("text") or "")).outside_scope
        return (state.OUT_OF_SCOPE if outside else intent), None
    if intent not in ANSWERED_BY_ACTION:
        return intent, None
    decision = state.decide(intent, parse.get("text") or "", parse.get("entities") or [], {}, today,
                            parse.get("intent_ranking") or [])
    return decision.intent, decision.updates.get("account_type")


async def _parse_all(model: Path, texts: list[str]) -> list[dict[str, Any]]:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))
    return [await agent.parse_message(text) for text in texts]


def predict(model: Path, items: list[tuple[str, str, str | None, str]], raw: bool = False) -> list[Prediction]:
    """items: (text, expected intent, expected account type, set name). `raw`: the classifier alone."""
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    parses = asyncio.run(_parse_all(model, [text for text, *_ in items]))
    predictions = []
    for (text, expected, account_type, set_name), parse in zip(items, parses):
        parse = {**parse, "text": text}
        intent, predicted_type = classifier_only(parse) if raw else acted_intent(parse, today)
        predictions.append(Prediction(text, expected, intent, (parse.get("intent") or {}).get("name") or "",
                                      float((parse.get("intent") or {}).get("confidence") or 0.0),
                                      account_type, predicted_type, set_name))
    return predictions


def figures(predictions: Iterable[Prediction], with_account_type: bool = True) -> dict[str, Any]:
    predictions = list(predictions)
    total = len(predictions)
    right = sum(p.intent == p.expected_intent for p in predictions)
    oos_expected = [p for p in predictions if p.expected_intent == state.OUT_OF_SCOPE]
    oos_predicted = [p for p in predictions if p.intent == state.OUT_OF_SCOPE]
    result: dict[str, Any] = {
        "messages": total,
        "intent_accuracy": round(right / total, 3) if total else 0.0,
        "out_of_scope_recall": round(sum(p.intent == state.OUT_OF_SCOPE for p in oos_expected) / len(oos_expected), 3)
        if oos_expected else 1.0,
        "out_of_scope_precision": round(sum(p.expected_intent == state.OUT_OF_SCOPE for p in oos_predicted)
                                        / len(oos_predicted), 3) if oos_predicted else 1.0,
        "out_of_scope_items": len(oos_expected),
    }
    if with_account_type:
        ours = [p for p in predictions if p.expected_intent in state.QUESTION_TOPICS]
        result["account_type_accuracy"] = round(sum(p.account_type == p.expected_account_type for p in ours)
                                                / len(ours), 3) if ours else 1.0
        result["account_type_items"] = len(ours)
    per_intent = Counter(p.expected_intent for p in predictions)
    result["per_intent_recall"] = {intent: round(sum(p.intent == intent for p in predictions
                                                     if p.expected_intent == intent) / count, 3)
                                   for intent, count in sorted(per_intent.items())}
    result["intent_macro_f1"] = round(macro_f1(predictions), 3)
    return result


def macro_f1(predictions: list[Prediction]) -> float:
    """Mean F1 over the intents the test items carry (as in Rasa's intent report)."""
    scores = []
    for intent in sorted({p.expected_intent for p in predictions}):
        true_positive = sum(p.intent == intent and p.expected_intent == intent for p in predictions)
        predicted = sum(p.intent == intent for p in predictions)
        expected = sum(p.expected_intent == intent for p in predictions)
        precision = true_positive / predicted if predicted else 0.0
        recall = true_positive / expected if expected else 0.0
        scores.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


def evaluate(model: Path = MODEL, raw: bool = False) -> dict[str, Any]:
    real = [(q.text, q.intent, q.account_type, q.set_name) for q in sets.questions()]
    old = [(text, intent, None, "heldout") for text, intent in sets.heldout()]
    predictions = predict(model, real + old, raw)
    real_predictions = [p for p in predictions if p.set_name != "heldout"]
    return {
        "real": figures(real_predictions),
        "real_public": figures(p for p in real_predictions if p.set_name == "public"),
        "real_chat": figures(p for p in real_predictions if p.set_name == "chat"),
        "heldout": figures((p for p in predictions if p.set_name == "heldout"), with_account_type=False),
        "errors": [asdict(p) for p in real_predictions
                   if p.intent != p.expected_intent or
                   (p.expected_intent in state.QUESTION_TOPICS and p.account_type != p.expected_account_type)],
    }


def summary_line(name: str, numbers: dict[str, Any]) -> str:
    parts = [f"intent accuracy {numbers['intent_accuracy']:.3f}", f"macro-F1 {numbers['intent_macro_f1']:.3f}",
             f"out_of_scope recall {numbers['out_of_scope_recall']:.3f}",
             f"precision {numbers['out_of_scope_precision']:.3f}"]
    if "account_type_accuracy" in numbers:
        parts.append(f"account type right {numbers['account_type_accuracy']:.3f}")
    return f"{name}: " + ", ".join(parts) + f", {numbers['messages']} messages"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=MODEL)
    parser.add_argument("--json", type=Path, default=PROJECT / "results" / "real-nlu.json")
    parser.add_argument("--show-errors", action="store_true")
    parser.add_argument("--classifier-only", action="store_true",
                        help="act on the classifier alone (how the project answered before yibao/state.py)")
    args = parser.parse_args(argv)
    result = evaluate(args.model, args.classifier_only)
    sets.save(args.json, result)
    print(summary_line("real questions (public + chat)", result["real"]))
    print(summary_line("  public pages", result["real_public"]))
    print(summary_line("  chat-style", result["real_chat"]))
    print(summary_line("old held-out set", result["heldout"]))
    if args.show_errors:
        for error in result["errors"]:
            print(f"  {error['set_name']:7} {error['expected_intent']:>18} -> {error['intent']:<18} "
                  f"{str(error['expected_account_type']):>5} -> {str(error['account_type']):<5} {error['text']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
