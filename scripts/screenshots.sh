#!/usr/bin/env bash
# Save PNGs of the tray menu and every window of the demo, as a person would see them:
# a real X server (Xvfb) with Qt's xcb platform.  Needs the packages of scripts/system-packages.txt
# (./scripts/system-packages.sh test installs them).
#   scripts/screenshots.sh OUTDIR
# It prints only the files it wrote; everything else (Qt's and the tray host's messages) goes
# to OUTDIR/screenshots.log, which is shown only when a run fails.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:?usage: scripts/screenshots.sh OUTDIR}
PYTHON=${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || echo python3 )}
mkdir -p "$OUT"
if ! command -v xvfb-run >/dev/null; then
    echo "xvfb-run not found: run ./scripts/system-packages.sh test (it installs xvfb and the xcb libraries)" >&2
    exit 1
fi
# With trayer (an XEmbed tray host, in the package list) the icon itself is pictured in a
# panel too; without it only the windows and the menu are.
LOG="$OUT/screenshots.log"
: >"$LOG"
run() {
    local args="$*"
    xvfb-run -a -s "-screen 0 1366x768x24" bash -c '
        if command -v trayer >/dev/null; then
            trayer --edge top --align right --widthtype pixel --width 160 --height 32 \
                   --tint 0x303030 --transparent false >/dev/null 2>&1 &
            tray_pid=$!
            sleep 1
        fi
        QT_QPA_PLATFORM=xcb "$0" -m ui.screenshots '"$args"'
        status=$?
        [ -n "${tray_pid:-}" ] && kill "$tray_pid" 2>/dev/null
        exit $status
    ' "$PYTHON" 2>>"$LOG" || { cat "$LOG" >&2; return 1; }
}
# The screen is 1366×768, the smallest laptop screen still common: every window must fit it.
# Light (the desktop default) and dark palettes, each in its own X server.
run "$OUT"
run --dark "$OUT"
