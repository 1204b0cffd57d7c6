"""Training examples that nearly duplicate a test item (normalised similarity >= 0.85).

    python -m quality.dedupe            # lists them
    python -m quality.dedupe --remove   # deletes those lines from data/nlu/*.yml

Test data wins: a training example that is a near-duplicate of a test item is removed from training,
never the other way round. tests/test_test_data.py fails while any is left.
"""
from __future__ import annotations

import argparse
import sys

from quality import sets


def offending_lines() -> dict[str, list[str]]:
    """Training file -> the example lines (as written) to remove."""
    tests = sets.test_texts()
    found: dict[str, list[str]] = {}
    for path in sorted(sets.TRAINING_DIR.glob("*.yml")):
        texts = [text for text, _ in sets.rasa_examples(path)]
        bad = {train for _, train, _ in sets.near_duplicates(tests, texts)}
        if bad:
            found[str(path)] = sorted(bad)
    return found


def remove(path: str, texts: list[str]) -> int:
    wanted = set(texts)
    lines = open(path, encoding="utf-8").read().splitlines(keepends=True)
    kept = [line for line in lines
            if not (line.strip().startswith("- ") and sets.plain(line.strip()[2:].strip()) in wanted)]
    open(path, "w", encoding="utf-8").write("".join(kept))
    return len(lines) - len(kept)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--remove", action="store_true")
    args = parser.parse_args(argv)
    found = offending_lines()
    for path, texts in found.items():
        for text in texts:
            print(f"{path}: {text}")
        if args.remove:
            print(f"  removed {remove(path, texts)} lines from {path}")
    return 1 if found and not args.remove else 0


if __name__ == "__main__":
    sys.exit(main())
