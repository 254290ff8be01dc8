#!/usr/bin/env bash
# Build the frozen (one-folder) CRM Bridge with PyInstaller: OUTDIR/crm-bridge/.
#
#   installer/build-frozen.sh OUTDIR [--tarball]
#
# By default a clean build environment is made under OUTDIR/.build (requirements.lock,
# installer/requirements-build.txt and this tree, not editable), so nothing from the
# machine's own Python leaks into the program.  PYTHON=/path/to/python uses an existing
# environment instead, which must already have the app's dependencies and PyInstaller
# (the test suite does this with its own environment).  --tarball also writes
# OUTDIR/crm-bridge-VERSION-linux-ARCH.tar.gz (Linux) of the folder.
# The same spec (installer/crm-bridge.spec) builds on Windows and macOS.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
outdir=""
tarball=0
for arg in "$@"; do
    case "$arg" in
        --tarball) tarball=1 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        -*) echo "build-frozen.sh: unknown option $arg" >&2; exit 2 ;;
        *) outdir=$arg ;;
    esac
done
[ -n "$outdir" ] || { echo "usage: installer/build-frozen.sh OUTDIR [--tarball]" >&2; exit 2; }
mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)

if [ -n "${PYTHON:-}" ]; then
    py=$PYTHON
else
    venv="$outdir/.build/venv"
    base=${BUILD_PYTHON:-python3}
    [ -x "$venv/bin/python" ] || "$base" -m venv "$venv"
    py="$venv/bin/python"
    "$py" -m pip install -q -r "$here/requirements.lock" -r "$here/installer/requirements-build.txt"
    "$py" -m pip install -q --no-deps --force-reinstall "$here"
fi
"$py" -c "import PyInstaller" 2>/dev/null || {
    echo "build-frozen.sh: PyInstaller is missing in $py; pip install -r installer/requirements-build.txt" >&2
    exit 1
}

rm -rf "$outdir/crm-bridge"
# Build from the tree itself: the spec puts it first on the path (and the metadata of an
# editable install is found relative to it).
cd "$here"
"$py" -m PyInstaller --noconfirm --log-level WARN \
    --distpath "$outdir" --workpath "$outdir/.build/work" \
    "$here/installer/crm-bridge.spec"

if [ "$(uname -s)" = Linux ]; then
    # Unpacked from the tarball, `crm-bridge/install.sh` installs the folder it sits in.
    cp "$here/installer/linux/install.sh" "$outdir/crm-bridge/install.sh"
fi
version=$("$outdir/crm-bridge/crm-bridge" --version | awk '{print $2}')
echo "Built $outdir/crm-bridge (crm-bridge $version, $(du -sh "$outdir/crm-bridge" | cut -f1))"
if [ "$tarball" -eq 1 ]; then
    name="crm-bridge-$version-linux-$(uname -m).tar.gz"
    tar -C "$outdir" -czf "$outdir/$name" crm-bridge
    echo "Tarball $outdir/$name"
fi
