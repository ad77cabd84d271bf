#!/usr/bin/env bash
# Make sure a Docker engine is reachable: install Debian's engine (docker.io)
# and start dockerd in the background if needed. Idempotent; safe to run when
# dockerd is already running or when a stale pid file is left behind.
set -euo pipefail

LOG=/var/log/dockerd.log
PIDFILE=/var/run/docker.pid
WAIT_SECONDS=60

log() { echo "ensure-docker: $*" >&2; }

docker_ok() { docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && docker_ok; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "Docker is not available and this script is not running as root."
    log "Install a Docker engine (Debian: 'apt-get install docker.io'), start it"
    log "('dockerd' or 'systemctl start docker') and give this user access to"
    log "/var/run/docker.sock (e.g. add it to the 'docker' group)."
    exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
    log "dockerd not found; installing Debian's docker.io"
    # A mirror hiccup should not fail a CI run: try a few times.
    for attempt in 1 2 3; do
        if apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io; then
            break
        fi
        if [ "$attempt" -eq 3 ]; then
            log "ERROR: could not install docker.io"
            exit 1
        fi
        sleep $((attempt * 5))
    done
fi

if ! command -v docker >/dev/null 2>&1; then
    log "no docker client on PATH after installing docker.io"
    exit 1
fi

# Already running (e.g. started by another process) but not yet answering?
pid=""
if [ -f "$PIDFILE" ]; then
    pid="$(cat "$PIDFILE" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null \
        && grep -qs dockerd "/proc/$pid/comm"; then
        log "dockerd already running (pid $pid); waiting for it"
    else
        log "removing stale $PIDFILE"
        rm -f "$PIDFILE"
        pid=""
    fi
fi

if [ -z "$pid" ]; then
    log "starting dockerd (log: $LOG)"
    # In a session of its own (it outlives the script), holding none of our caller's
    # descriptors (a flock, say) but its log.
    bash "$(dirname "$0")/run-detached.sh" nohup dockerd >>"$LOG" 2>&1 </dev/null &
    pid=$!
fi

for _ in $(seq 1 "$WAIT_SECONDS"); do
    if docker_ok; then
        log "docker engine is up"
        exit 0
    fi
    sleep 1
done

log "ERROR: docker engine did not come up within ${WAIT_SECONDS}s. Last lines of $LOG:"
tail -n 30 "$LOG" >&2 || true
exit 1
