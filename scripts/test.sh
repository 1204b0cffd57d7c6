#!/usr/bin/env bash
# `make test`: table check, data validation, NLU quality on both test sets, test conversations,
# Rasa test stories, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
export RASA_TELEMETRY_ENABLED=false
PY=.venv/bin/python
RASA=.venv/bin/rasa
mkdir -p results

echo "==> policy table check"
$PY -m yibao.policy_check

echo "==> lint (ruff, mypy)"
bash scripts/lint.sh

echo "==> rasa data validate"
$RASA data validate --fail-on-warnings >results/validate.log 2>&1 || { cat results/validate.log; exit 1; }
echo "data validation: OK"

echo "==> NLU evaluation: real test set and old held-out set"
bash scripts/nlu_eval.sh

echo "==> test conversations against the real servers (tests/real/conversations.yml)"
PYTHONWARNINGS=ignore $PY -m quality.conversations --json results/conversations.json >results/conversations.log 2>&1 || {
  tail -30 results/conversations.log; exit 1; }
grep -E "^conversations:" results/conversations.log
$PY -m quality.gate conversations results/conversations.json

echo "==> Rasa test stories (tests/stories)"
$PY -m rasa_ext test core --stories tests/stories --model models/yibao.tar.gz --endpoints endpoints.yml \
  --out results/stories --fail-on-prediction-errors >results/stories.log 2>&1 || {
  tail -50 results/stories.log; cat results/stories/failed_test_stories.yml 2>/dev/null; exit 1; }
grep -E "Correct|Accuracy|stories" results/stories.log | tail -3 || true
echo "test stories: OK"

echo "==> pytest"
$PY -m pytest tests
