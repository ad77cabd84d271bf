#!/usr/bin/env bash
# Make sure Debian's PostgreSQL is installed and a throwaway cluster of our own answers on
# 127.0.0.1, then print its SQLAlchemy URL on the last line of stdout (the service's
# `--database`). Idempotent: a cluster already answering on the port is used as it is.
# Loopback only, trust authentication, fsync off: for tests and trials, not for production.
#   POSTGRES_PORT (default 54329)   POSTGRES_DIR (default /var/lib/minigpt-grader-postgres)
#   POSTGRES_DB (default grader)
# As root the cluster runs as Debian's `postgres` user (initdb refuses root), so
# POSTGRES_DIR must be reachable by that user (not under a 0700 folder of root's).
set -euo pipefail

PORT="${POSTGRES_PORT:-54329}"
DIR="${POSTGRES_DIR:-/var/lib/minigpt-grader-postgres}"
DB="${POSTGRES_DB:-grader}"
WAIT_SECONDS=30

log() { echo "ensure-postgres: $*" >&2; }
bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

BIN="$(bindir)"
if [ -z "$BIN" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        log "PostgreSQL is missing and this script is not running as root."
        log "Install it (Debian: 'apt-get install postgresql') and run this again."
        exit 1
    fi
    log "PostgreSQL not found; installing Debian's postgresql"
    for attempt in 1 2 3; do
        if apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends postgresql; then
            break
        fi
        if [ "$attempt" -eq 3 ]; then
            log "ERROR: could not install postgresql"
            exit 1
        fi
        sleep $((attempt * 5))
    done
    BIN="$(bindir)"
fi

if [ "$(id -u)" -eq 0 ]; then
    OWNER=postgres
    as_owner() { runuser -u postgres -- "$@"; }
else
    OWNER="$(id -un)"
    as_owner() { "$@"; }
fi
URL="postgresql+psycopg://$OWNER@127.0.0.1:$PORT/$DB"

ready() { "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; }
make_db() {
    if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U "$OWNER" -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U "$OWNER" "$DB"
    fi
}

if ! ready; then
    if [ ! -s "$DIR/PG_VERSION" ]; then
        log "creating a cluster in $DIR"
        mkdir -p "$DIR"
        chmod 0700 "$DIR"
        [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
        as_owner "$BIN/initdb" -D "$DIR" -U "$OWNER" --auth=trust -E UTF8 --no-sync >/dev/null
    fi
    log "starting PostgreSQL on 127.0.0.1:$PORT (data and log in $DIR)"
    # run-detached.sh: the server keeps none of our caller's descriptors (a flock, say).
    as_owner bash "$(dirname "$0")/run-detached.sh" "$BIN/pg_ctl" -D "$DIR" \
        -l "$DIR/postgres.log" -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DIR \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start </dev/null >/dev/null
    for _ in $(seq 1 "$WAIT_SECONDS"); do
        ready && break
        sleep 1
    done
    if ! ready; then
        log "ERROR: PostgreSQL did not answer within ${WAIT_SECONDS}s. Last lines of its log:"
        tail -n 20 "$DIR/postgres.log" >&2 || true
        exit 1
    fi
    log "PostgreSQL is up"
fi
make_db
echo "$URL"
