"""The unanswered questions as a file to label and add to the training data.

- `*.yml` / `*.yaml`: Rasa NLU YAML (`version: "3.1"`). One `- intent: TODO_label` block per cluster of
  near-duplicates, most frequent first; a comment above each block gives the cluster's size and the intent
  the model leaned towards. Replace `TODO_label` with the right intent (an existing one, or a new one to
  add to domain.yml), drop what should not be learned, and move the blocks into data/nlu/.
- `*.csv`: columns `text,count,suggested_intent`, one row per distinct question, clusters together.

Personal numbers are already masked in the texts that reach this module.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from yibao.report.aggregate import Report

TODO_INTENT = "TODO_label"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _example(text: str) -> str:
    """One line of an NLU example: no line breaks, and nothing Rasa would read as an entity annotation."""
    line = _CONTROL.sub(" ", text).strip()
    return line.replace("](", "] (").replace("]{", "] {").replace("][", "] [")


def nlu_yaml(report: Report) -> str:
    lines = [
        f"# Unanswered questions {report.since}..{report.until}, exported by scripts/report.py.",
        f"# Label each block: replace {TODO_INTENT} with the intent, remove examples that do not belong,",
        "# then move the blocks into data/nlu/. Personal numbers are masked.",
        'version: "3.1"',
        "nlu:",
    ]
    if not report.clusters:
        lines[-1] = "nlu: []"
    for number, group in enumerate(report.clusters, start=1):
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(group.reasons.items()))
        lines.append(
            f"# cluster {number}: {group.cluster.count} messages, {len(group.cluster.examples)} distinct "
            f"({reasons}); suggested intent: {group.suggested_intent or '-'}"
        )
        lines.append(f"- intent: {TODO_INTENT}")
        lines.append("  examples: |")
        seen = set()
        for text, _ in group.cluster.examples:
            example = _example(text)
            if example and example not in seen:
                seen.add(example)
                lines.append(f"    - {example}")
    return "\n".join(lines) + "\n"


def unanswered_csv(report: Report) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "count", "suggested_intent"])
    for text, count, suggested in report.unanswered_examples:
        writer.writerow([_example(text), count, suggested or ""])
    return buffer.getvalue()


def write_unanswered(report: Report, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    content = unanswered_csv(report) if path.suffix.lower() == ".csv" else nlu_yaml(report)
    path.write_text(content, encoding="utf-8")
    return path
