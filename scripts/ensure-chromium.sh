#!/usr/bin/env bash
# Browser tests drive Debian's Chromium through Playwright (its own browser download does not work here).
set -euo pipefail
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" != "0" ]; then
  echo "Chromium is missing: install it with 'sudo apt-get install chromium' to run the browser tests." >&2
  exit 1
fi
echo "installing Chromium for the browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
