#!/usr/bin/env bash
# Scale-out demo on one machine: M action servers and N Rasa replicas behind nginx, conversations in
# PostgreSQL, conversation locks in Redis (endpoints.scale.yml). Runs in the foreground until Ctrl-C.
#
#   bash deploy/scale-out.sh [--rasa N] [--actions M] [--port 8080]
#
# Every variable of endpoints.scale.yml can be set to point elsewhere; the defaults below are the
# PostgreSQL and Redis of this machine. SANIC_WORKERS > 1 runs several Rasa processes per replica
# (Rasa allows it because the lock store is Redis); each one loads the model (~1.1 GB resident).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD"
export RASA_TELEMETRY_ENABLED=false TF_CPP_MIN_LOG_LEVEL=3 SQLALCHEMY_SILENCE_UBER_WARNING=1
export PYTHONWARNINGS=ignore::DeprecationWarning

export TRACKER_DB_HOST="${TRACKER_DB_HOST:-127.0.0.1}" TRACKER_DB_PORT="${TRACKER_DB_PORT:-5432}"
export TRACKER_DB_NAME="${TRACKER_DB_NAME:-yibao}" TRACKER_DB_USER="${TRACKER_DB_USER:-postgres}"
export TRACKER_DB_PASSWORD="${TRACKER_DB_PASSWORD:-}" TRACKER_DB_LOGIN_DB="${TRACKER_DB_LOGIN_DB:-postgres}"
export REDIS_HOST="${REDIS_HOST:-127.0.0.1}" REDIS_PORT="${REDIS_PORT:-6379}" REDIS_PASSWORD="${REDIS_PASSWORD:-}"
export REDIS_LOCK_DB="${REDIS_LOCK_DB:-1}" REDIS_KEY_PREFIX="${REDIS_KEY_PREFIX:-yibao}"
export SANIC_WORKERS="${SANIC_WORKERS:-1}"

command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || bash scripts/install.d/test/nginx.sh
[ -f models/yibao.tar.gz ] || { echo "no model: run \`make train\` first" >&2; exit 1; }
exec .venv/bin/python -m deploy.cluster "$@"
