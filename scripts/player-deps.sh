#!/usr/bin/env bash
# Install the browser player the player tests serve to headless Chromium: hls.js, exactly the
# version pinned in tests/player/package-lock.json, into tests/player/node_modules (npm ci).
# Safe to run repeatedly; does nothing when the locked version is already installed.
set -euo pipefail
cd "$(dirname "$0")/../tests/player"

locked=$(sed -n '/"node_modules\/hls.js"/,/}/s/.*"version": *"\([^"]*\)".*/\1/p' package-lock.json)
installed=""
if [ -f node_modules/hls.js/package.json ] && [ -f node_modules/hls.js/dist/hls.min.js ]; then
  installed=$(sed -n 's/^  "version": *"\([^"]*\)".*/\1/p' node_modules/hls.js/package.json)
fi
if [ -n "$locked" ] && [ "$installed" = "$locked" ]; then
  exit 0
fi

if ! command -v npm >/dev/null 2>&1; then
  echo "installing: nodejs npm" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq >/dev/null
  $SUDO apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

echo "installing hls.js ${locked:-?} into tests/player/node_modules" >&2
npm ci --no-audit --no-fund --ignore-scripts --loglevel=error
