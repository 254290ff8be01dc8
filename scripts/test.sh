#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh Debian/Ubuntu machine with Python 3.11+.
# Creates its own virtual environment (.venv-test), installs the system packages the
# tests need (as root, or through sudo), then runs lint, type checks and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-test}

# System packages (scripts/system-packages.txt, shared with demo.sh): Qt's runtime libraries,
# the xcb libraries, Xvfb, xwininfo and a tray panel for the tests that run a real X server.
./scripts/system-packages.sh test || echo "Continuing without them: the tests that need them will say so." >&2

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements-test.lock
"$VENV/bin/python" -m pip install -q --no-deps -e .

# The add-ons' JavaScript tests need office-addin-mock (pinned in tests/js/package-lock.json).
if command -v npm >/dev/null; then
    npm ci --prefix tests/js --no-audit --no-fund --loglevel=error \
        || echo "npm ci failed: the Outlook add-in's tests will say what is missing." >&2
fi

echo "== ruff"
"$VENV/bin/ruff" check .
"$VENV/bin/ruff" format --check .
echo "== mypy (strict on addin/)"
"$VENV/bin/mypy"
echo "== pytest"
set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ $status -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit $status
