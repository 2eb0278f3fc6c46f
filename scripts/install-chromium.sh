#!/usr/bin/env bash
# Debian's Chromium for the dashboard spider (scrapy-playwright drives it through
# PLAYWRIGHT_LAUNCH_OPTIONS' executable_path; `playwright install` is never needed).
# Installs it only when /usr/bin/chromium is missing; safe to run again.
set -euo pipefail
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium
test -x "$CHROMIUM"
