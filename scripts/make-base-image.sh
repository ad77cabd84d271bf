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

ROOTFS="$(mktemp -d /tmp/minigpt-rootfs.XXXXXX)"
trap 'rm -rf "$ROOTFS"' EXIT

log "debootstrap --variant=minbase --include=python3 $SUITE into $ROOTFS"
debootstrap --variant=minbase --include=python3 "$SUITE" "$ROOTFS" >&2

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
