#!/usr/bin/env bash
# Set up CRM Bridge in its own virtual environment (.venv) and run the demo:
# both sandboxes seeded with demo data, plus the bridge (the tray when there is a display).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements.lock
"$VENV/bin/python" -m pip install -q --no-deps -e .
exec "$VENV/bin/crm-bridge" demo "$@"
