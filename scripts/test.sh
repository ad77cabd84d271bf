#!/usr/bin/env bash
# Quick start: run every test of the grader, Docker ones included, setting up what is missing.
#   bash scripts/test.sh [pytest options...]
# Docker tests must run here: GRADER_REQUIRE_DOCKER=1 turns a skip into a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/ensure-docker.sh
bash scripts/ensure-redis.sh  # the service tests start their own redis-server from it
# PostgreSQL: installed and a cluster started (its URL on stdout); the service tests start
# clusters of their own with the same script, on free ports.
bash scripts/ensure-postgres.sh >/dev/null
bash scripts/ensure-chromium.sh  # the class report's browser tests (tests/test_report.py)
.venv/bin/grade build-image --if-stale
echo "== lint: ruff, mypy" >&2
.venv/bin/ruff check grader tests reference student_template benchmarks
.venv/bin/ruff format --check grader tests reference student_template benchmarks
.venv/bin/mypy
.venv/bin/mypy --strict student_template/engine.py student_template/nn.py
MYPYPATH=student_template .venv/bin/mypy --strict reference/minigpt.py
echo "== tests" >&2
GRADER_REQUIRE_DOCKER=1 .venv/bin/python -m pytest "$@"
