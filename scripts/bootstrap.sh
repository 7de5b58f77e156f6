#!/usr/bin/env bash
# Brings a fresh machine to what `make run` and `make test` need; every step is skipped when done already.
set -euo pipefail
cd "$(dirname "$0")/.."
want_browser="${1:-}"

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
stamp=.venv/.requirements.sha
sum=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$sum" ]; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
  echo "$sum" > "$stamp"
fi

npm_stamp=node_modules/.package.sha
npm_sum=$(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ "$(cat "$npm_stamp" 2>/dev/null)" != "$npm_sum" ]; then
  if [ -f package-lock.json ]; then npm ci --no-audit --no-fund --loglevel=error; else npm install --no-audit --no-fund --loglevel=error; fi
  echo "$npm_sum" > "$npm_stamp"
fi

# The browser tests drive a system Chromium: Playwright cannot download its own browser here. Debian and Ubuntu get
# it from apt, with CJK fonts (Korean, Japanese and Chinese screenshots show empty boxes without them); elsewhere the
# tests use CHROMIUM_PATH or a chromium/chrome on PATH (tests/e2e/test_browser_accept_invite.py).
have_chromium() {
  { [ -n "${CHROMIUM_PATH:-}" ] && [ -x "$CHROMIUM_PATH" ]; } \
    || command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 \
    || command -v google-chrome >/dev/null 2>&1
}
if [ "$want_browser" = "--browser" ]; then
  missing=()
  have_chromium || missing+=(chromium)
  if command -v dpkg >/dev/null 2>&1; then dpkg -s fonts-noto-cjk >/dev/null 2>&1 || missing+=(fonts-noto-cjk); fi
  if [ "${#missing[@]}" -gt 0 ] && ! command -v apt-get >/dev/null 2>&1; then
    echo "bootstrap: no apt-get on this machine, so Chromium is not installed and the browser tests will be skipped." >&2
    echo "bootstrap: to run them, install Chromium or Chrome and put it on PATH or set CHROMIUM_PATH=/path/to/chromium." >&2
  elif [ "${#missing[@]}" -gt 0 ]; then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi
