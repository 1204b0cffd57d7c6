"""Print the held-out NLU figures and exit 1 when they fall below tests/quality_thresholds.yml."""
from __future__ import annotations

import json
import sys

import yaml


def main(report_path: str, thresholds_path: str) -> int:
    report = json.load(open(report_path, encoding="utf-8"))
    thresholds = yaml.safe_load(open(thresholds_path, encoding="utf-8"))
    macro_f1 = report["macro avg"]["f1-score"]
    oos_recall = report.get("out_of_scope", {}).get("recall", 0.0)
    print(f"held-out NLU: intent macro-F1 {macro_f1:.3f} (min {thresholds['intent_macro_f1']}), "
          f"out_of_scope recall {oos_recall:.3f} (min {thresholds['out_of_scope_recall']}), "
          f"accuracy {report['accuracy']:.3f}, {report['macro avg']['support']} messages")
    weak = sorted((name, values["f1-score"]) for name, values in report.items()
                  if isinstance(values, dict) and "f1-score" in values and name not in ("macro avg", "weighted avg", "micro avg")
                  and values["f1-score"] < 0.9)
    for name, f1 in weak:
        print(f"  below 0.90: {name} F1 {f1:.3f}")
    ok = macro_f1 >= thresholds["intent_macro_f1"] and oos_recall >= thresholds["out_of_scope_recall"]
    print("NLU quality: OK" if ok else "NLU quality: BELOW THRESHOLD")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
