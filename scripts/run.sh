#!/usr/bin/env bash
# Starts the action server and Rasa (REST channel), or `rasa shell` with `run.sh shell`.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
export RASA_TELEMETRY_ENABLED=false
# Rasa through the project's launcher: version guard and patches (rasa_ext/), warnings to logs/warnings.log.
RASA=(.venv/bin/python -m rasa_ext)
ACTIONS_PORT="${ACTIONS_PORT:-5055}"
RASA_PORT="${RASA_PORT:-5005}"
mkdir -p logs

# Security (docs/security.md): Rasa's HTTP API only on request, and then only with a token.
API_ARGS=()
if [ "${RASA_ENABLE_API:-0}" = "1" ]; then
  if [ -z "${RASA_AUTH_TOKEN:-}" ]; then
    echo "RASA_ENABLE_API=1 需要 RASA_AUTH_TOKEN（例如 export RASA_AUTH_TOKEN=\$(openssl rand -hex 32)），未启动。" >&2
    echo "RASA_ENABLE_API=1 needs RASA_AUTH_TOKEN (e.g. export RASA_AUTH_TOKEN=\$(openssl rand -hex 32)); not started." >&2
    exit 2
  fi
  API_ARGS=(--enable-api --auth-token "$RASA_AUTH_TOKEN")
fi
# CORS: only the origins in CORS_ORIGINS (space or comma separated), by default the server's own.
IFS=', ' read -r -a CORS_ARGS <<< "${CORS_ORIGINS:-http://localhost:$RASA_PORT}"
for origin in "${CORS_ARGS[@]}"; do  # Sanic-Cors treats these as unanchored regexes (CVE-2026-37737)
  case "$origin" in
    '*') ;;
    *'*'* | *'\'* | *']'* | *'?'*) echo "CORS_ORIGINS: '$origin' is a pattern; list exact origins such as https://chat.example.org" >&2; exit 2 ;;
  esac
done
# The tracker store and lock store of endpoints.yml must answer before anything starts (exit 2).
.venv/bin/python scripts/preflight.py --endpoints endpoints.yml

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
  "${RASA[@]}" shell --model models/yibao.tar.gz --endpoints build/endpoints.yml --port "$RASA_PORT"
  exit 0
fi

echo "==> 医保家庭助手 starting on http://localhost:$RASA_PORT (first answer after ~15 s of model loading)"
echo "    REST:  curl -s localhost:$RASA_PORT/webhooks/rest/webhook -d '{\"sender\":\"me\",\"message\":\"亲情账户多久生效\"}'"
echo "    Web chat: http://localhost:$RASA_PORT/chat/"
echo "    shell: make shell"
"${RASA[@]}" run --model models/yibao.tar.gz --endpoints build/endpoints.yml --credentials build/credentials.yml \
  --port "$RASA_PORT" --cors "${CORS_ARGS[@]}" ${API_ARGS[@]+"${API_ARGS[@]}"}
