"""Fail `make test` when a measured figure is below its bar in tests/quality_thresholds.yml.

    python -m quality.gate real results/real-nlu.json          # the real test set
    python -m quality.gate heldout results/real-nlu.json       # the old held-out set
    python -m quality.gate conversations results/conversations.json
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml

THRESHOLDS = Path(__file__).resolve().parent.parent / "tests" / "quality_thresholds.yml"


def shortfalls(section: str, figures: dict[str, Any], thresholds: dict[str, Any]) -> list[str]:
    bars = thresholds[section]
    return [f"{name} {figures.get(name, 0.0):.3f} < {bar}" for name, bar in bars.items()
            if float(figures.get(name, 0.0)) < float(bar)]


def main(argv: list[str]) -> int:
    section, path = argv[0], Path(argv[1])
    thresholds = yaml.safe_load(THRESHOLDS.read_text(encoding="utf-8"))
    figures = json.loads(path.read_text(encoding="utf-8"))
    figures = figures.get(section, figures) if section in ("real", "heldout") else figures
    failed = shortfalls(section, figures, thresholds)
    for line in failed:
        print(f"  BELOW THRESHOLD ({section}): {line}")
    print(f"{section} quality: " + ("BELOW THRESHOLD" if failed else "OK"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
