"""Intent quality on the held-out set (tests/nlu/heldout.yml, never trained on) for trained Rasa NLU
models and for a TF-IDF + logistic-regression baseline trained here on the same data (data/nlu/).

    python -m bench.nlu_quality [NAME=MODEL.tar.gz ...]      # default: ours=models/yibao.tar.gz

Two figures per system, both over the held-out intents:
- "as deployed": the intent the assistant acts on; Rasa's FallbackClassifier answer `nlu_fallback`
  counts as a miss (the assistant then offers choices instead of answering);
- "top intent": the best-ranked real intent (fallback ignored), comparable with the baseline,
  which has no fallback.
"""
from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

PROJECT = Path(__file__).resolve().parent.parent
HELDOUT = PROJECT / "tests" / "nlu" / "heldout.yml"
TRAIN_DIR = PROJECT / "data" / "nlu"
FALLBACK = "nlu_fallback"


def _examples(path: Path) -> List[Tuple[str, str]]:
    from rasa.shared.nlu.training_data.loading import load_data

    data = load_data(str(path))
    return [(message.get("text"), message.get("intent")) for message in data.intent_examples]


def heldout_examples() -> List[Tuple[str, str]]:
    return _examples(HELDOUT)


def training_examples() -> List[Tuple[str, str]]:
    return _examples(TRAIN_DIR)


def scores(gold: Sequence[str], predicted: Sequence[str]) -> Dict[str, float]:
    from sklearn.metrics import accuracy_score, f1_score

    labels = sorted(set(gold))
    return {"accuracy": float(accuracy_score(gold, predicted)),
            "macro_f1": float(f1_score(gold, predicted, labels=labels, average="macro", zero_division=0))}


def quiet_rasa() -> None:
    import logging

    from rasa.utils.log_utils import configure_structlog

    configure_structlog(logging.WARNING)
    logging.getLogger().setLevel(logging.WARNING)
    for name in ("rasa", "jieba", "tensorflow", "absl"):
        logging.getLogger(name).setLevel(logging.WARNING)


def evaluate_rasa(model: Path, examples: Sequence[Tuple[str, str]]) -> Dict[str, float]:
    from rasa.core.agent import Agent

    quiet_rasa()
    os.chdir(PROJECT)  # the model names build/spacy_zh relative to the project
    agent = Agent.load(str(model))
    loop = asyncio.new_event_loop()
    deployed, top = [], []
    started = time.perf_counter()
    for text, _ in examples:
        parsed = loop.run_until_complete(agent.parse_message(text))
        intent = (parsed.get("intent") or {}).get("name")
        deployed.append(intent)
        ranking = [item["name"] for item in parsed.get("intent_ranking") or [] if item.get("name") != FALLBACK]
        top.append(ranking[0] if ranking else intent)
    per_message_ms = (time.perf_counter() - started) * 1000 / max(1, len(examples))
    gold = [intent for _, intent in examples]
    result = {f"deployed_{k}": v for k, v in scores(gold, deployed).items()}
    result.update({f"top_{k}": v for k, v in scores(gold, top).items()})
    result["fallback_rate"] = sum(p == FALLBACK for p in deployed) / max(1, len(deployed))
    result["parse_ms"] = per_message_ms
    loop.close()
    return result


def evaluate_tfidf(train: Sequence[Tuple[str, str]], examples: Sequence[Tuple[str, str]]) -> Dict[str, float]:
    """Character 1-3-gram TF-IDF and a logistic regression; settings fixed beforehand, never tuned on
    the held-out set."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    started = time.perf_counter()
    classifier = make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True),
                               LogisticRegression(C=10.0, max_iter=5000))
    classifier.fit([text for text, _ in train], [intent for _, intent in train])
    train_s = time.perf_counter() - started
    started = time.perf_counter()
    predicted = list(classifier.predict([text for text, _ in examples]))
    per_message_ms = (time.perf_counter() - started) * 1000 / max(1, len(examples))
    gold = [intent for _, intent in examples]
    result = {f"deployed_{k}": v for k, v in scores(gold, predicted).items()}
    result.update({f"top_{k}": v for k, v in scores(gold, predicted).items()})
    result.update({"fallback_rate": 0.0, "parse_ms": per_message_ms, "train_s": train_s})
    return result


def main(argv: Sequence[str]) -> int:
    models = dict(arg.split("=", 1) for arg in argv) or {"ours": str(PROJECT / "models" / "yibao.tar.gz")}
    examples = heldout_examples()
    print(f"held-out: {len(examples)} messages, {len(set(i for _, i in examples))} intents")
    for name, path in models.items():
        print(name, evaluate_rasa(Path(path), examples))
    print("tfidf_logreg", evaluate_tfidf(training_examples(), examples))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
