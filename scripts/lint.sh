#!/usr/bin/env bash
# `make lint`: ruff (lint and format check) and mypy on yibao/ and rasa_ext/, from their own virtualenv.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv-lint
LOCK=requirements/lint.txt
STAMP="$VENV/.installed-$(sha256sum "$LOCK" | cut -c1-16)"
if [ ! -f "$STAMP" ]; then
  echo "==> installing the linters into $VENV"
  [ -d "$VENV" ] || python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --no-deps -r "$LOCK"
  rm -f "$VENV"/.installed-*
  touch "$STAMP"
fi

"$VENV/bin/ruff" check yibao/ rasa_ext/
"$VENV/bin/ruff" format --check yibao/ rasa_ext/
"$VENV/bin/mypy" -p yibao -p rasa_ext
echo "lint: OK"
