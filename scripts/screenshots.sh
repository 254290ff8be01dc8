#!/usr/bin/env bash
# Save PNGs of the tray menu and every window of the demo, as a person would see them:
# a real X server (Xvfb) with Qt's xcb platform.  Needs: xvfb libxcb-icccm4 libxcb-keysyms1.
#   scripts/screenshots.sh OUTDIR
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/screenshots.sh OUTDIR}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p "$OUT"
if ! command -v xvfb-run >/dev/null; then
    echo "xvfb-run not found: apt-get install -y xvfb libxcb-icccm4 libxcb-keysyms1" >&2
    exit 1
fi
# Light (the desktop default) and dark palettes, each in its own X server.
xvfb-run -a -s "-screen 0 1280x900x24" env QT_QPA_PLATFORM=xcb "$PYTHON" -m ui.screenshots "$OUT"
xvfb-run -a -s "-screen 0 1280x900x24" env QT_QPA_PLATFORM=xcb "$PYTHON" -m ui.screenshots --dark "$OUT"
echo "Screenshots in $OUT"
