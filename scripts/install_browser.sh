#!/usr/bin/env bash
# Debian's Chromium for the browser tests (tests/web) and benchmarks/editor_frames.py, driven by Playwright
# through its executable path: no browser download. Idempotent: apt runs only when `chromium` is missing,
# and a failure never fails the run by itself (the browser tests then skip with the reason).
set -u
if command -v chromium >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install_browser: no apt-get here; install Chromium yourself to run the browser tests" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo -n"; else
    echo "install_browser: not root and no sudo; the browser tests will skip" >&2
    exit 0
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium >/dev/null \
  || echo "install_browser: apt-get install chromium failed; the browser tests will skip" >&2
exit 0
