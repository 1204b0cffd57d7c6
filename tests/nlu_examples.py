"""Read NLU example texts (annotations stripped) from Rasa YAML files."""
from __future__ import annotations

import re
from pathlib import Path

import yaml

ANNOTATION = re.compile(r"\[([^\]]*)\](\{[^}]*\}|\([^)]*\))")


def plain(example: str) -> str:
    return ANNOTATION.sub(r"\1", example).strip()


def examples(path: Path | str) -> list[tuple[str, str]]:
    """(text, intent) for every example of every intent in the file."""
    found = []
    for block in yaml.safe_load(Path(path).read_text(encoding="utf-8")).get("nlu", []):
        if "intent" not in block:
            continue
        for line in str(block["examples"]).splitlines():
            line = line.strip()
            if line.startswith("- "):
                found.append((plain(line[2:]), block["intent"]))
    return found
