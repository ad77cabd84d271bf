#!/usr/bin/env bash
# Build a minimal Debian bookworm image with python3, offline from any image
# registry: debootstrap from Debian's mirror, then `docker import`.
# Usage: scripts/make-base-image.sh [NAME]   (default minigpt-grader-base:bookworm)
set -euo pipefail

NAME="${1:-minigpt-grader-base:bookworm}"
SUITE=bookworm

log() { echo "make-base-image: $*" >&2; }

if docker image inspect "$NAME" >/dev/null 2>&1; then
    log "$NAME already exists"
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "debootstrap needs root; run this script as root"
    exit 1
fi

if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap
fi

ROOTFS=""
trap 'if [ -n "$ROOTFS" ]; then rm -rf "$ROOTFS"; fi' EXIT

# The mirror sometimes drops a download; a fresh attempt usually gets through.
# Downloaded packages are kept between attempts so a retry only fetches what failed.
CACHE="$(mktemp -d /tmp/minigpt-debs.XXXXXX)"
trap 'if [ -n "$ROOTFS" ]; then rm -rf "$ROOTFS"; fi; rm -rf "$CACHE"' EXIT
for attempt in 1 2 3 4; do
    ROOTFS="$(mktemp -d /tmp/minigpt-rootfs.XXXXXX)"
    log "debootstrap --variant=minbase --include=python3 $SUITE into $ROOTFS (attempt $attempt)"
    if debootstrap --variant=minbase --include=python3 --cache-dir="$CACHE" \
            "$SUITE" "$ROOTFS" >&2; then
        break
    fi
    rm -rf "$ROOTFS"
    ROOTFS=""
    if [ "$attempt" -eq 4 ]; then
        log "ERROR: debootstrap failed 4 times; is Debian's mirror reachable?"
        exit 1
    fi
    sleep $((attempt * 5))
done

# Trim apt caches (no effect on behaviour, smaller image).
rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*

for tool in usr/bin/python3 usr/bin/setpriv; do
    if [ ! -x "$ROOTFS/$tool" ]; then
        log "ERROR: /$tool missing from the root filesystem"
        exit 1
    fi
done

log "importing into docker as $NAME"
tar -C "$ROOTFS" -c . | docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["python3"]' \
    - "$NAME" >/dev/null

log "checking the image"
docker run --rm --network none "$NAME" sh -c 'python3 --version && setpriv --version' >&2
log "done: $NAME"
