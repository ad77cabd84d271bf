#!/usr/bin/env bash
# Make sure Debian's headless chromium and its chromedriver are installed (the class report's
# browser tests use them). Idempotent: does nothing when both are already on PATH.
set -euo pipefail

log() { echo "ensure-chromium: $*" >&2; }

have() { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }

if have; then
    exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
    log "chromium and chromedriver are missing and this script is not running as root."
    log "Install them (Debian: 'apt-get install chromium chromium-driver') and re-run."
    exit 1
fi

log "installing Debian's chromium and chromium-driver"
# A mirror hiccup should not fail a CI run: try a few times.
for attempt in 1 2 3; do
    if apt-get update -q \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            chromium chromium-driver fonts-dejavu-core; then
        break
    fi
    if [ "$attempt" -eq 3 ]; then
        log "ERROR: could not install chromium"
        exit 1
    fi
    sleep $((attempt * 5))
done

if ! have; then
    log "ERROR: chromium or chromedriver still not on PATH after installing"
    exit 1
fi
log "$(chromium --version 2>/dev/null || echo chromium installed)"
