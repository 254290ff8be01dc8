#!/usr/bin/env bash
# Per-user install of CRM Bridge on Linux: no root, nothing outside the user's home.
#
#   installer/linux/install.sh [--autostart]
#
# Puts a virtual environment (pinned by requirements.lock) under
# $XDG_DATA_HOME/crm-bridge, a `crm-bridge` command in ~/.local/bin, an application
# menu entry and icon, and an uninstaller next to the environment. With --autostart the
# tray starts at login (the app's Settings can switch that off again).
set -euo pipefail

here=$(cd "$(dirname "$0")/../.." && pwd)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
config_home=${XDG_CONFIG_HOME:-$HOME/.config}
bin_dir=${CRM_BRIDGE_BIN_DIR:-$HOME/.local/bin}
prefix="$data_home/crm-bridge"
python=${PYTHON:-python3}
autostart=0
for arg in "$@"; do
    case "$arg" in
        --autostart) autostart=1 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $arg" >&2; exit 2 ;;
    esac
done

"$python" - <<'PY' || { echo "CRM Bridge needs Python 3.11 or newer." >&2; exit 1; }
import sys
raise SystemExit(0 if sys.version_info >= (3, 11) else 1)
PY

echo "Installing CRM Bridge into $prefix"
mkdir -p "$prefix" "$bin_dir" "$data_home/applications" "$data_home/icons/hicolor/256x256/apps"
"$python" -m venv --clear "$prefix/venv"
"$prefix/venv/bin/python" -m pip install -q --upgrade pip
"$prefix/venv/bin/python" -m pip install -q -r "$here/requirements.lock"
"$prefix/venv/bin/python" -m pip install -q --no-deps "$here"

ln -sfn "$prefix/venv/bin/crm-bridge" "$bin_dir/crm-bridge"
cp "$here/resources/icons/crm-bridge-256.png" "$data_home/icons/hicolor/256x256/apps/crm-bridge.png"
cat > "$data_home/applications/crm-bridge.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=CRM Bridge
Comment=Track mail in your CRM and send CRM e-mail from your own mailbox
Exec=$prefix/venv/bin/crm-bridge
Icon=crm-bridge
Terminal=false
Categories=Office;Email;
DESKTOP

if [ "$autostart" -eq 1 ]; then
    mkdir -p "$config_home/autostart"
    sed 's|^Exec=.*|&  --minimized|' "$data_home/applications/crm-bridge.desktop" \
        > "$config_home/autostart/crm-bridge.desktop"
fi

cat > "$prefix/uninstall.sh" <<UNINSTALL
#!/usr/bin/env bash
# Removes CRM Bridge's program files. Settings, the journal and keyring entries stay,
# so a reinstall picks up where it left off; delete $config_home/crm-bridge and
# $data_home/crm-bridge/profiles by hand to remove those too.
set -eu
rm -f "$bin_dir/crm-bridge" "$data_home/applications/crm-bridge.desktop" \
      "$data_home/icons/hicolor/256x256/apps/crm-bridge.png" "$config_home/autostart/crm-bridge.desktop"
rm -rf "$prefix/venv"
rm -f "$prefix/uninstall.sh"
echo "CRM Bridge removed."
UNINSTALL
chmod +x "$prefix/uninstall.sh"

"$bin_dir/crm-bridge" --version
echo "Done. Start it from the application menu or run: crm-bridge"
echo "To remove it: $prefix/uninstall.sh"
