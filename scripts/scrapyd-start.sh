#!/usr/bin/env bash
# Start Scrapyd for the marketplace crawler (README "Production on Scrapyd").
#
#   SCRAPYD_USERNAME=... SCRAPYD_PASSWORD=... MONGO_URI=... scripts/scrapyd-start.sh
#
# Scrapyd runs in its state folder SCRAPYD_HOME (default ~/scrapyd), where
# deploy/scrapyd.conf is linked as ./scrapyd.conf: eggs, dbs (queue and job
# history), logs, jobs (JOBDIRs) and the crawls' output are all in there.
# Arguments after the script's name go to Scrapyd (twistd), e.g.
# --logfile scrapyd.log.
#
# Environment:
#   SCRAPYD_USERNAME, SCRAPYD_PASSWORD  basic auth, required (Scrapyd reads them)
#   SCRAPYD_HOME       the state folder (default ~/scrapyd)
#   SCRAPYD_HTTP_PORT  instead of the config's http_port (6800)
#   PYTHON             the Python with requirements.txt installed (default:
#                      this checkout's .venv/bin/python, else python3)
#   MONGO_URI, MARKETPLACE_URL, CATEGORIES, CRAWLER_OUTPUT_DIR, ...: inherited
#                      by every crawl Scrapyd starts (crawler/settings.py)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-}"
if [[ -z "$python" ]]; then
    if [[ -x "$root/.venv/bin/python" ]]; then python="$root/.venv/bin/python"; else python=python3; fi
fi

if [[ -z "${SCRAPYD_USERNAME:-}" || -z "${SCRAPYD_PASSWORD:-}" ]]; then
    echo "scrapyd-start: set SCRAPYD_USERNAME and SCRAPYD_PASSWORD;" \
        "without them Scrapyd would accept anyone's requests." >&2
    exit 2
fi

home="${SCRAPYD_HOME:-$HOME/scrapyd}"
mkdir -p "$home"
home="$(cd "$home" && pwd)"
# Scrapyd and the crawls it starts read the nearest scrapy.cfg above their
# working folder: inside a checkout that would add a project named "default"
# and put the checkout's code before the deployed egg's.
dir="$home"
while true; do
    if [[ -e "$dir/scrapy.cfg" ]]; then
        echo "scrapyd-start: SCRAPYD_HOME $home is below $dir/scrapy.cfg;" \
            "choose a folder outside any Scrapy project." >&2
        exit 2
    fi
    [[ "$dir" == / ]] && break
    dir="$(dirname "$dir")"
done

ln -sfn "$root/deploy/scrapyd.conf" "$home/scrapyd.conf"
cd "$home"
exec "$python" -m scrapyd "$@"
