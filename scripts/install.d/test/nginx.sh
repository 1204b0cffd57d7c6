#!/usr/bin/env bash
# nginx from Debian, the load balancer of the scale-out profile (deploy/, tests/test_scale_out.py).
# Idempotent: does nothing when nginx is already installed. Never starts the system service: the
# project runs nginx itself in the foreground with its own generated config (deploy/nginx.conf.template).
set -euo pipefail

command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "nginx is missing (needed only by the scale-out profile and its test): install Debian's nginx-light" >&2
  exit 0
fi

echo "==> installing nginx-light from Debian (scale-out profile load balancer)"
# Debian's maintainer scripts start a freshly installed service unless policy-rc.d says no (101).
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=0
if [ ! -e "$POLICY" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$POLICY"
  chmod 755 "$POLICY"
  ADDED_POLICY=1
fi
cleanup() { [ "$ADDED_POLICY" = 1 ] && rm -f "$POLICY"; return 0; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -q --no-install-recommends nginx-light >/tmp/nginx-install.log 2>&1; then
  apt-get update -q >/dev/null 2>&1 || true
  apt-get install -y -q --no-install-recommends nginx-light >/tmp/nginx-install.log 2>&1 || {
    cat /tmp/nginx-install.log >&2; exit 1; }
fi
echo "==> $(nginx -v 2>&1)"
