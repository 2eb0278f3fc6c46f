#!/usr/bin/env bash
# A local MongoDB for trying the pipeline: SecantusDB's MongoDB wire-protocol
# server (secantusd-py, installed into .venv by requirements.txt; the server the
# tests use) on 127.0.0.1, in the background. It waits until the server listens,
# then prints the lines to evaluate:
#
#   eval "$(scripts/mongo-start.sh)"    # export MONGO_URI=mongodb://127.0.0.1:PORT, MONGO_PID
#   scrapy crawl products ...           # the pipeline upserts into it
#   kill "$MONGO_PID"                   # stop it; its data stays for the next start
#
# MONGO_PORT: the port (default 0: a free one, read from the server's log);
# MONGO_DATA_DIR: its data and log (default .mongo-data/ here, ignored by git).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SERVER="$ROOT/.venv/bin/secantusd-py"
if [ ! -x "$SERVER" ]; then
    SERVER=$(command -v secantusd-py) || {
        echo "secantusd-py is not installed: run 'make setup' first" >&2
        exit 1
    }
fi
DATA=${MONGO_DATA_DIR:-$ROOT/.mongo-data}
mkdir -p "$DATA"
LOG="$DATA/secantusd.log"
: >"$LOG"
"$SERVER" --host 127.0.0.1 --port "${MONGO_PORT:-0}" --storage-path "$DATA/db" \
    --log-level INFO >>"$LOG" 2>&1 </dev/null &
PID=$!
# ready when the log says where it listens (at most 30 s), gone if the process ends
address=""
for _ in $(seq 300); do
    address=$(sed -n 's/.* listening on \(127\.0\.0\.1:[0-9]*\).*/\1/p' "$LOG" | head -n 1)
    [ -n "$address" ] && break
    if ! kill -0 "$PID" 2>/dev/null; then
        echo "secantusd-py did not start; its log ($LOG):" >&2
        tail -n 20 "$LOG" >&2
        exit 1
    fi
    sleep 0.1
done
if [ -z "$address" ]; then
    kill "$PID" 2>/dev/null || true
    echo "secantusd-py did not listen within 30 s; its log ($LOG):" >&2
    tail -n 20 "$LOG" >&2
    exit 1
fi
echo "MongoDB (secantusd-py, pid $PID) on $address, data in $DATA; stop it with: kill $PID" >&2
echo "export MONGO_URI=mongodb://$address"
echo "export MONGO_PID=$PID"
