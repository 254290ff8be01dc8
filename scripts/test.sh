#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh Debian/Ubuntu machine with Python 3.11+.
# Creates its own virtual environment (.venv-test), installs the system packages the
# tests need (as root, or through sudo), then runs lint, type checks and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-test}

# System packages: Qt's runtime libraries (offscreen tests), Xvfb and the xcb libraries
# (screenshot runs), binutils (PyInstaller's objdump, the frozen build's test).
apt_packages=(libegl1 libgl1 libxkbcommon0 libxkbcommon-x11-0 libfontconfig1 libdbus-1-3
              libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 xvfb python3-venv binutils)
missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "Installing system packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -r requirements-test.lock
"$VENV/bin/python" -m pip install -q --no-deps -e .

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
