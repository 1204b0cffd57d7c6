#!/usr/bin/env bash
# Starts the action server and Rasa (REST channel), or `rasa shell` with `run.sh shell`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
export RASA_TELEMETRY_ENABLED=false
RASA=.venv/bin/rasa
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
RASA_PORT="${RASA_PORT:-5005}"
mkdir -p logs

.venv/bin/python -m actions.server --actions actions --port "$ACTIONS_PORT" >logs/actions.log 2>&1 &
ACTIONS_PID=$!
trap 'kill $ACTIONS_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  curl -fs "http://localhost:$ACTIONS_PORT/health" >/dev/null 2>&1 && break
  kill -0 "$ACTIONS_PID" 2>/dev/null || { echo "action server failed to start, see logs/actions.log" >&2; exit 1; }
  sleep 0.5
done

.venv/bin/python scripts/credentials.py build/credentials.yml
# endpoints.yml names the default action server port; follow ACTIONS_PORT when it is changed.
sed "s#localhost:5055/webhook#localhost:$ACTIONS_PORT/webhook#" endpoints.yml > build/endpoints.yml

if [ "${1:-}" = "shell" ]; then
  "$RASA" shell --model models/yibao.tar.gz --endpoints build/endpoints.yml --port "$RASA_PORT"
  exit 0
fi

echo "==> 医保家庭助手 starting on http://localhost:$RASA_PORT (first answer after ~40 s of model loading)"
echo "    REST:  curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{\"sender\":\"me\",\"message\":\"亲情账户多久生效\"}'"
echo "    Web chat: http://localhost:$RASA_PORT/chat/"
echo "    shell: make shell"
"$RASA" run --model models/yibao.tar.gz --endpoints build/endpoints.yml --credentials build/credentials.yml \
  --port "$RASA_PORT" --cors "${CORS_ORIGINS:-http://localhost:$RASA_PORT}"
