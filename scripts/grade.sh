#!/usr/bin/env bash
# Quick start: grade one submission in the Docker sandbox, setting up what is missing.
#   bash scripts/grade.sh path/to/minigpt.py [grade options...]
# Set-up: .venv, the Docker engine (installed and started when run as root), the image.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$#" -lt 1 ]; then
    echo "usage: bash scripts/grade.sh SUBMISSION [grade options]" >&2
    exit 2
fi
bash "$ROOT/scripts/setup.sh"
if ! bash "$ROOT/scripts/ensure-docker.sh" >&2; then
    echo "grade.sh: no Docker engine; grading without isolation (--sandbox process)." >&2
    exec "$ROOT/.venv/bin/grade" --sandbox process "$@"
fi
"$ROOT/.venv/bin/grade" build-image --if-stale >&2
exec "$ROOT/.venv/bin/grade" "$@"
