#!/usr/bin/env bash
# Set up (a virtualenv in .venv with litmon and its test tools) and run every check:
# ruff, mypy on the pure core, and the pytest suite on SQLite and PostgreSQL.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not postgres" -k pipeline
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test]'
echo "== ruff"
.venv/bin/ruff check monitor tests benchmarks
echo "== mypy (pure core)"
.venv/bin/mypy monitor/records.py monitor/pubmed/parse.py monitor/classify monitor/config.py monitor/feeds.py
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
