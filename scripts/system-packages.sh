#!/usr/bin/env bash
# Install the system packages listed in scripts/system-packages.txt (Debian/Ubuntu), as root or
# through sudo.  Usage: scripts/system-packages.sh app|test
#   app   what the demo and the tray app need
#   test  that plus what the test suite needs
# Exit 0 when everything is there (or this is not a dpkg system); exit 1 with one sentence naming
# the missing packages and the command that installs them when they cannot be installed here.
set -euo pipefail
cd "$(dirname "$0")/.."
group=${1:-app}
command -v dpkg-query >/dev/null || exit 0

wanted=()
while read -r pkg grp rest; do
    case "$pkg" in ''|'#'*) continue ;; esac
    [ "$group" = test ] || [ "$grp" = app ] || continue
    # "cmd=NAME": the package is only a way to get the command NAME; where NAME already runs
    # (e.g. Node.js and npm from another source), Debian's package is not wanted and may conflict.
    case "$rest" in cmd=*) cmd=${rest#cmd=}; cmd=${cmd%% *}; command -v "$cmd" >/dev/null && continue ;; esac
    wanted+=("$pkg")
done < scripts/system-packages.txt

missing=()
for pkg in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
fi
if [ "$SUDO" != none ] && command -v apt-get >/dev/null; then
    echo "Installing system packages: ${missing[*]}"
    if $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null; then
        exit 0
    fi
fi
echo "Missing system packages: ${missing[*]} — install them with: sudo apt-get install -y ${missing[*]}" >&2
exit 1
