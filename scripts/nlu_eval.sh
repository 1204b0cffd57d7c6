#!/usr/bin/env bash
# `make nlu-eval`: the trained model on both test sets, failing below tests/quality_thresholds.yml.
#  1. the real test set (tests/real/: public questions with their URLs, chat-style questions), through the
#     NLU and the dialogue state, as the assistant acts on each message (python -m quality.single);
#  2. the old held-out set (tests/nlu/heldout.yml), written together with the training data (rasa test nlu).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
mkdir -p results
.venv/bin/python -m quality.single --json results/real-nlu.json >results/real-nlu.log 2>&1 || {
  cat results/real-nlu.log >&2; exit 1; }
grep -E "^(real|  public|  chat|old held-out)" results/real-nlu.log
rm -rf results/nlu
.venv/bin/rasa test nlu --nlu tests/nlu/heldout.yml --model models/yibao.tar.gz --out results/nlu >results/nlu-eval.log 2>&1 || {
  cat results/nlu-eval.log >&2; exit 1; }
.venv/bin/python scripts/check_nlu_quality.py results/nlu/intent_report.json tests/quality_thresholds.yml
.venv/bin/python -m quality.gate real results/real-nlu.json
