#!/usr/bin/env bash
# Per-user install of CRM Bridge on Linux: no root, nothing outside the user's home.
#
#   install.sh [--frozen DIR|TARBALL] [--source] [--autostart]   install or upgrade in place
#   install.sh --uninstall [--purge] [--yes]                      remove
#
# Installs the frozen program (a folder made by installer/build-frozen.sh, its tarball, or
# the folder this script sits in when it came inside the tarball) under
# $XDG_DATA_HOME/crm-bridge/app, or from source (--source, the default in a source tree) as a
# virtual environment pinned by requirements.lock under $XDG_DATA_HOME/crm-bridge/venv.
# Either way: a `crm-bridge` command in ~/.local/bin, an application menu entry and icon,
# and $XDG_DATA_HOME/crm-bridge/uninstall.sh.  --autostart turns start at login on (the
# app's own entry; Settings can switch it off).  Running it again upgrades in place: a
# running tray is asked to quit first; settings, the journal, keyring entries and the
# start-at-login choice stay.  --uninstall removes the program and keeps all of those;
# --uninstall --purge lists the profiles, then removes them with their keyring entries,
# settings, journal and logs too (asks first unless --yes).
set -euo pipefail

script_dir=$(cd "$(dirname "$0")" && pwd)
data_home=${XDG_DATA_HOME:-$HOME/.local/share}
config_home=${XDG_CONFIG_HOME:-$HOME/.config}
bin_dir=${CRM_BRIDGE_BIN_DIR:-$HOME/.local/bin}
prefix="$data_home/crm-bridge"
python=${PYTHON:-python3}
icon_path="$data_home/icons/hicolor/256x256/apps/crm-bridge.png"
menu_entry="$data_home/applications/crm-bridge.desktop"

mode="" frozen_src="" autostart=0 uninstall=0 purge=0 yes=0
while [ $# -gt 0 ]; do
    case "$1" in
        --frozen) frozen_src=${2:?--frozen needs a folder or a tarball}; mode=frozen; shift ;;
        --source) mode=source ;;
        --autostart) autostart=1 ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        --yes|-y) yes=1 ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
if [ "$purge" -eq 1 ] && [ "$uninstall" -eq 0 ]; then
    echo "install.sh: --purge goes with --uninstall" >&2
    exit 2
fi

installed_command() {
    # The program this script installed last time, if any.
    if [ -x "$prefix/app/crm-bridge" ]; then
        echo "$prefix/app/crm-bridge"
    elif [ -x "$prefix/venv/bin/crm-bridge" ]; then
        echo "$prefix/venv/bin/crm-bridge"
    fi
}

quit_running() {
    # Through the app's single-instance channel, so the tray stops cleanly (journal closed).
    local cmd
    cmd=$(installed_command)
    if [ -n "$cmd" ]; then
        # A program from before --quit existed cannot be asked: it picks up the new one at its next start.
        "$cmd" --quit 2>/dev/null || echo "A running CRM Bridge could not be asked to quit; restart it to use the new version." >&2
    fi
}

autostart_off() {
    # Through the app when it can (it knows its entry); a program from before
    # `crm-bridge autostart` existed wrote the XDG entry this script knows.
    if [ -z "$1" ] || ! "$1" autostart off >/dev/null 2>&1; then
        rm -f "$config_home/autostart/crm-bridge.desktop"
    fi
}

remove_program() {
    rm -f "$bin_dir/crm-bridge" "$menu_entry" "$icon_path"
    rm -rf "$prefix/app" "$prefix/app.new" "$prefix/venv"
    rm -f "$prefix/uninstall.sh" "$prefix/install.sh"
    # The folder also holds the profiles; it goes only when nothing else is left in it.
    rmdir "$prefix" 2>/dev/null || true
}

if [ "$uninstall" -eq 1 ]; then
    cmd=$(installed_command)
    quit_running
    if [ "$purge" -eq 1 ]; then
        if [ -z "$cmd" ]; then
            echo "install.sh: CRM Bridge is not installed, so its profiles cannot be listed; install it again, then use --uninstall --purge." >&2
            exit 1
        fi
        echo "These profiles, their keyring entries, settings, journal and logs will be removed:"
        "$cmd" purge
        if [ "$yes" -eq 0 ]; then
            if [ ! -t 0 ]; then
                echo "install.sh: nothing removed; add --yes to confirm without a terminal." >&2
                exit 1
            fi
            read -r -p "Remove them? [y/N] " answer
            case "$answer" in y|Y|yes|YES) ;; *) echo "Nothing removed."; exit 1 ;; esac
        fi
        # Start at login is the app's own entry: switch it off before the app goes.
        autostart_off "$cmd"
        "$cmd" purge --yes
    else
        # The app's own login entry would point at a program that is gone.
        autostart_off "$cmd"
    fi
    remove_program
    if [ "$purge" -eq 1 ]; then
        echo "CRM Bridge and all its data removed."
    else
        echo "CRM Bridge removed. Settings, the journal and keyring entries were kept;"
        echo "a new install picks them up. To remove them too: install.sh --uninstall --purge"
    fi
    exit 0
fi

# -- install or upgrade -------------------------------------------------------------------
if [ -z "$mode" ]; then
    if [ -x "$script_dir/crm-bridge" ] && [ -d "$script_dir/_internal" ]; then
        mode=frozen frozen_src=$script_dir  # this script came inside the frozen folder
    else
        mode=source
    fi
fi

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
if [ "$mode" = frozen ]; then
    if [ -f "$frozen_src" ]; then
        tar -C "$workdir" -xzf "$frozen_src"
        frozen_src="$workdir/crm-bridge"
    fi
    if [ ! -x "$frozen_src/crm-bridge" ] || [ ! -d "$frozen_src/_internal" ]; then
        echo "install.sh: $frozen_src is not a frozen CRM Bridge folder (installer/build-frozen.sh makes one)." >&2
        exit 1
    fi
    "$frozen_src/crm-bridge" --version >/dev/null || { echo "install.sh: the frozen program does not start here." >&2; exit 1; }
    icon_src="$frozen_src/_internal/resources/icons/crm-bridge-256.png"
else
    source_tree=$(cd "$script_dir/../.." && pwd)
    [ -f "$source_tree/pyproject.toml" ] || { echo "install.sh: no source tree at $source_tree" >&2; exit 1; }
    "$python" - <<'PY' || { echo "CRM Bridge needs Python 3.11 or newer." >&2; exit 1; }
import sys
raise SystemExit(0 if sys.version_info >= (3, 11) else 1)
PY
    icon_src="$source_tree/resources/icons/crm-bridge-256.png"
fi

previous=$(installed_command)
autostart_was_on=0
if [ -n "$previous" ]; then
    echo "Upgrading CRM Bridge in $prefix (was: $("$previous" --version 2>/dev/null || echo unknown))"
    login_entry="$config_home/autostart/crm-bridge.desktop"
    status=$("$previous" autostart status 2>/dev/null) || status=""
    if [ "$status" = "Start at login is on." ]; then
        autostart_was_on=1
    elif [ -z "$status" ] && [ -f "$login_entry" ] \
        && ! grep -qiE '^(Hidden=true|X-GNOME-Autostart-enabled=false)' "$login_entry"; then
        autostart_was_on=1  # written by an older installer, which the old program cannot report
    fi
    quit_running
else
    echo "Installing CRM Bridge into $prefix"
fi
mkdir -p "$prefix" "$bin_dir" "$data_home/applications" "$(dirname "$icon_path")"

if [ "$mode" = frozen ]; then
    # Copied beside, then swapped: an interrupted upgrade leaves the old program working.
    rm -rf "$prefix/app.new"
    cp -a "$frozen_src" "$prefix/app.new"
    rm -rf "$prefix/app" "$prefix/venv"
    mv "$prefix/app.new" "$prefix/app"
    cmd="$prefix/app/crm-bridge"
else
    # An existing environment is upgraded in place (pip changes only what the lock changed).
    if [ ! -x "$prefix/venv/bin/python" ]; then
        "$python" -m venv "$prefix/venv"
    fi
    "$prefix/venv/bin/python" -m pip install -q --upgrade pip
    "$prefix/venv/bin/python" -m pip install -q -r "$source_tree/requirements.lock"
    "$prefix/venv/bin/python" -m pip install -q --no-deps --force-reinstall "$source_tree"
    rm -rf "$prefix/app"
    cmd="$prefix/venv/bin/crm-bridge"
fi

ln -sfn "$cmd" "$bin_dir/crm-bridge"
cp "$icon_src" "$icon_path"
cat > "$menu_entry" <<DESKTOP
[Desktop Entry]
Type=Application
Name=CRM Bridge
Comment=Track mail in your CRM and send CRM e-mail from your own mailbox
Exec="$cmd"
Icon=crm-bridge
Terminal=false
Categories=Office;Email;
DESKTOP

# Start at login is the app's own entry (it points at the program that wrote it), so an
# upgrade asks the new program to write it again.
if [ "$autostart" -eq 1 ] || [ "$autostart_was_on" -eq 1 ]; then
    "$cmd" autostart on >/dev/null
fi

cp "$0" "$prefix/install.sh" 2>/dev/null || true
chmod +x "$prefix/install.sh"
cat > "$prefix/uninstall.sh" <<UNINSTALL
#!/usr/bin/env bash
# Removes CRM Bridge's program; settings, the journal and keyring entries stay.
# --purge also removes those (the profiles are listed first).
exec bash "$prefix/install.sh" --uninstall "\$@"
UNINSTALL
chmod +x "$prefix/uninstall.sh"

"$cmd" --version
echo "Done. Start it from the application menu or run: crm-bridge"
echo "To remove it: $prefix/uninstall.sh [--purge]"
