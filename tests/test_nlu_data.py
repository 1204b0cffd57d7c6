"""Training data hygiene: enough examples, one intent per example. (That no training example nearly
duplicates a test item, old held-out set included, is tests/test_test_data.py's.)"""
from collections import Counter
from pathlib import Path

from nlu_examples import examples

PROJECT = Path(__file__).resolve().parent.parent
TRAINING = sorted((PROJECT / "data" / "nlu").glob("*.yml"))
HELDOUT = PROJECT / "tests" / "nlu" / "heldout.yml"
CORE = ("bind_failed", "effective_time", "remote_use", "balance_unusable")


def training_examples():
    return [example for path in TRAINING for example in examples(path)]


def test_heldout_set_has_at_least_200_messages():
    assert len(examples(HELDOUT)) >= 200


def test_enough_training_examples_per_intent():
    counts = Counter(intent for _, intent in training_examples())
    assert all(counts[intent] >= 60 for intent in CORE), counts
    assert counts["out_of_scope"] >= 100
    assert all(count >= 30 for count in counts.values()), counts


def test_no_example_is_given_two_intents():
    seen = {}
    clashes = []
    for text, intent in training_examples():
        if seen.setdefault(text, intent) != intent:
            clashes.append(text)
    assert clashes == []
