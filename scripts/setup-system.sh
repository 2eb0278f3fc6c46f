#!/usr/bin/env bash
# Debian packages the project needs, installed only when missing (apt-get: as
# root, or through sudo). Chromium, which only the dashboard spider and its
# tests use (about 350 MB), is not among them: scripts/install-chromium.sh,
# which `make test` runs (`make browser`).
set -euo pipefail
need=()
command -v python3 >/dev/null || need+=(python3)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# Redis for distributed crawls and their tests (tests/support/servers.py starts its own)
command -v redis-server >/dev/null || need+=(redis-server)
if ((${#need[@]})); then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "${need[@]}"
fi
