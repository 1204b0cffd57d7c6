#!/usr/bin/env bash
# `make nlu-eval`: the trained model on both test sets, failing below tests/quality_thresholds.yml:
# the real test set (tests/real/: public questions with their URLs, chat-style questions) and the old
# held-out set (tests/nlu/heldout.yml, written together with the training data). Each message goes
# through the NLU and the dialogue state, as the assistant acts on it (python -m quality.single).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD" RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 PYTHONWARNINGS=ignore
mkdir -p results
.venv/bin/python -m quality.single --json results/real-nlu.json >results/real-nlu.log 2>&1 || {
  cat results/real-nlu.log >&2; exit 1; }
grep -E "^(real|  public|  chat|old held-out)" results/real-nlu.log
status=0
.venv/bin/python -m quality.gate real results/real-nlu.json || status=1
.venv/bin/python -m quality.gate heldout results/real-nlu.json || status=1
exit $status
