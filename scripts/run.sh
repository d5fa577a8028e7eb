#!/usr/bin/env bash
# Set up (a virtualenv in .venv with litmon) and run the main job once: every feed in feeds/
# is searched on PubMed, new studies are stored in ./data/litmon.db, judged, and their digest
# is written to ./data/outbox (or mailed when LITMON_SMTP_HOST is set). Arguments go to
# `litmon run`, e.g. scripts/run.sh --since 2024-01-01
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e .
exec .venv/bin/litmon run "$@"
