#!/usr/bin/env bash
# Pack OUTDIR/"CRM Bridge.app" (made by installer/build-frozen.sh on macOS) into
# OUTDIR/crm-bridge-VERSION-macos.dmg with an Applications link to drag it onto.
# Runs on macOS only (hdiutil).  Notarisation, when wanted, follows with `xcrun notarytool`.
set -euo pipefail
outdir=${1:?usage: installer/macos/make-dmg.sh OUTDIR}
app="$outdir/CRM Bridge.app"
[ -d "$app" ] || { echo "make-dmg.sh: $app is missing; run installer/build-frozen.sh $outdir first" >&2; exit 1; }
version=$(/usr/libexec/PlistBuddy -c "Print :CFBundleShortVersionString" "$app/Contents/Info.plist")
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp -R "$app" "$stage/"
ln -s /Applications "$stage/Applications"
hdiutil create -volname "CRM Bridge" -srcfolder "$stage" -ov -format UDZO "$outdir/crm-bridge-$version-macos.dmg"
