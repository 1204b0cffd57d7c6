#!/usr/bin/env bash
# What only the tests need (`make test`, not `make run`). Idempotent and quick when everything is there:
#   - Debian's chromium for the headless browser tests (never `playwright install`, which downloads);
#   - a Chinese font (fonts-wqy-microhei, 1.6 MB) so headless screenshots show text, not boxes;
#   - tmux, which drives `rasa shell` in a terminal in tests/test_shell.py.
set -euo pipefail

apt_install() {
  # Installs Debian packages; refreshes the package lists only when a package is not known yet.
  command -v apt-get >/dev/null 2>&1 || { echo "apt-get not found: install $* by hand" >&2; return 0; }
  [ "$(id -u)" = 0 ] || { echo "not root: install $* by hand (apt-get install -y $*)" >&2; return 0; }
  local pkg
  for pkg in "$@"; do
    if [ -z "$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2}' | grep -v '(none)')" ]; then
      apt-get update -qq
      break
    fi
  done
  echo "==> apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v tmux >/dev/null 2>&1 || missing+=(tmux)
[ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
if [ "${#missing[@]}" -gt 0 ]; then
  apt_install "${missing[@]}" || echo "warning: could not install ${missing[*]} (needed only by the browser and shell tests)" >&2
fi
exit 0
