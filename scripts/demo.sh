#!/usr/bin/env bash
# Set up CRM Bridge in its own virtual environment (.venv) and run the demo:
# both sandboxes seeded with demo data, plus the bridge (the tray when there is a display).
# On Debian/Ubuntu the system packages in scripts/system-packages.txt ("app") are installed
# first, as root or through sudo; where that is impossible the demo stops before starting
# anything, naming the missing packages and the command that installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}

./scripts/system-packages.sh app

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
# Install only when the pinned requirements or the project changed since the last install.
stamp="$VENV/.crm-bridge-demo-install"
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)-$(pwd)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    "$VENV/bin/python" -m pip install -q --upgrade pip
    "$VENV/bin/python" -m pip install -q -r requirements.lock
    "$VENV/bin/python" -m pip install -q --no-deps -e .
    echo "$want" > "$stamp"
fi

# With a display, `crm-bridge demo` asks the dynamic loader (not Qt's misleading message) whether
# the tray can load, and stops before starting anything, naming the missing library and package.
exec "$VENV/bin/crm-bridge" demo "$@"
