#!/usr/bin/env bash
# Make sure redis-server is installed and one instance answers on 127.0.0.1
# (the broker of `grade serve --broker` / `grade worker`). Idempotent: does
# nothing when it already answers. Loopback only, never another interface.
#   REDIS_PORT (default 6379)     REDIS_DIR (default /var/lib/minigpt-grader-redis)
# The service tests start their own redis-server on a free port; they only
# need the binary this script installs.
set -euo pipefail

PORT="${REDIS_PORT:-6379}"
DIR="${REDIS_DIR:-/var/lib/minigpt-grader-redis}"
WAIT_SECONDS=20

log() { echo "ensure-redis: $*" >&2; }

redis_ok() { redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null | grep -q PONG; }

if command -v redis-cli >/dev/null 2>&1 && redis_ok; then
    exit 0
fi

if ! command -v redis-server >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        log "redis-server is missing and this script is not running as root."
        log "Install it (Debian: 'apt-get install redis-server') and run this again."
        exit 1
    fi
    log "redis-server not found; installing Debian's redis-server"
    for attempt in 1 2 3; do
        if apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends redis-server; then
            break
        fi
        if [ "$attempt" -eq 3 ]; then
            log "ERROR: could not install redis-server"
            exit 1
        fi
        sleep $((attempt * 5))
    done
fi

# Debian's package may have started its own instance on the default port.
if redis_ok; then
    exit 0
fi

mkdir -p "$DIR"
log "starting redis-server on 127.0.0.1:$PORT (data and log in $DIR)"
# appendonly: a queued job survives a broker restart; protected-mode stays on.
# run-detached.sh: the daemon keeps none of our caller's descriptors (a flock, say).
bash "$(dirname "$0")/run-detached.sh" redis-server --bind 127.0.0.1 --port "$PORT" \
    --dir "$DIR" --appendonly yes --daemonize yes --pidfile "$DIR/redis.pid" \
    --logfile "$DIR/redis.log" </dev/null

for _ in $(seq 1 "$WAIT_SECONDS"); do
    if redis_ok; then
        log "redis is up"
        exit 0
    fi
    sleep 1
done
log "ERROR: redis did not answer within ${WAIT_SECONDS}s. Last lines of $DIR/redis.log:"
tail -n 20 "$DIR/redis.log" >&2 || true
exit 1
