"""``crm-bridge native-messaging register|remove|status``: the host manifest for Thunderbird."""

from __future__ import annotations

from typing import Any

from addin.cli_output import emit as _out
from addin.native.registration import HostRegistry, Registration


def _plain(reg: Registration) -> dict[str, str | None]:
    return {"manifest": str(reg.manifest), "launcher": str(reg.launcher), "registry_key": reg.registry_key}


def native_messaging(args: Any) -> int:
    registry = HostRegistry()
    if args.action == "register":
        reg = registry.register()
        where = reg.registry_key or str(reg.manifest)
        _out(
            args,
            _plain(reg),
            f"Registered the native host for Thunderbird: {where} (launcher {reg.launcher}).",
        )
        return 0
    if args.action == "remove":
        removed = registry.unregister()
        _out(args, {"removed": removed}, "Removed." if removed else "It was not registered.")
        return 0
    found = registry.status()
    if found is None:
        _out(args, {"registered": False}, "The native host is not registered for Thunderbird.")
        return 1
    _out(args, {"registered": True, **_plain(found)}, f"Registered: {found.registry_key or found.manifest}.")
    return 0
