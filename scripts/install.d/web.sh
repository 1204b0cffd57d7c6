#!/usr/bin/env bash
# The web chat widget, which `make run` serves at /chat/: web/node_modules from the committed
# web/package-lock.json (`npm ci`, only when missing or the lock changed; no install scripts run).
set -euo pipefail
cd "$(dirname "$0")/../.."

WEB=web
LOCK="$WEB/package-lock.json"
if [ -f "$LOCK" ]; then
  STAMP="$WEB/node_modules/.yibao-lock-$(sha256sum "$LOCK" | cut -c1-16)"
  if [ ! -f "$STAMP" ] || [ ! -f "$WEB/node_modules/rasa-webchat/lib/index.js" ]; then
    if command -v npm >/dev/null 2>&1; then
      echo "==> installing the web chat widget (npm ci in $WEB/)"
      (cd "$WEB" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
      rm -f "$WEB"/node_modules/.yibao-lock-*
      touch "$STAMP"
    else
      echo "npm not found: the web chat page (/chat/) needs Node.js and npm (apt-get install -y npm)" >&2
    fi
  fi
fi
exit 0
