#!/usr/bin/env bash
# Evaluates the trained model on the held-out set and fails below the thresholds.
set -euo pipefail
cd "$(dirname "$0")/.."
rm -rf results/nlu
.venv/bin/rasa test nlu --nlu tests/nlu/heldout.yml --model models/yibao.tar.gz --out results/nlu >results/nlu-eval.log 2>&1 || {
  cat results/nlu-eval.log >&2; exit 1; }
.venv/bin/python scripts/check_nlu_quality.py results/nlu/intent_report.json tests/quality_thresholds.yml
