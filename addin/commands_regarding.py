"""``crm-bridge regarding``: pin records so every mail client can track with them as Regarding."""

from __future__ import annotations

from typing import Any

from addin.bridge import Bridge
from addin.bridge_types import RecordRef
from addin.cli_output import emit as _out
from addin.cli_output import terminal_text
from addin.engine.tracker import parse_record_spec
from addin.errors import BridgeError, ConfigError


def _record(args: Any) -> RecordRef:
    if not args.record:
        raise ConfigError(
            f"'regarding {args.action}' needs a record, e.g. account:<guid>.", title="Record needed"
        )
    try:
        return parse_record_spec(args.record)
    except ValueError as exc:
        raise ConfigError(str(exc), title="Bad record") from None


def _sync(bridge: Bridge) -> tuple[dict[str, Any], str]:
    """Update the master list now; a mailbox or CRM problem is reported, not fatal (the running
    bridge retries at its next round)."""
    try:
        added, removed = bridge.refresh_regarding_categories()
    except BridgeError as exc:
        return {"error": exc.to_dict()}, f"The mailbox's category list was not updated yet: {exc.message}"
    parts = [f"added {', '.join(added)}" if added else "", f"removed {', '.join(removed)}" if removed else ""]
    text = terminal_text("; ".join(p for p in parts if p) or "already up to date")
    return {"added": added, "removed": removed}, f"Mailbox categories: {text}."


def regarding(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        if args.action == "list":
            rows = bridge.regarding_category_list()
            pins = bridge.pinned_regarding()
            listed = {c.record.to_spec() for c in rows}
            lines = [
                f"{terminal_text(c.category)}  [{c.state.value}{', pinned' if c.pinned else ''}]  "
                f"{c.record.to_spec()}"
                for c in rows
            ]
            lines += [
                f"(pinned, no category yet) {p.label}  {p.to_spec()}"
                for p in pins
                if p.to_spec() not in listed
            ]
            _out(
                args, {"categories": rows, "pinned": pins}, "\n".join(lines) or "No Regarding categories yet."
            )
            return 0
        if args.action == "sync":
            value, text = _sync(bridge)
            _out(args, value, text)
            return 1 if "error" in value else 0
        ref = _record(args)
        if args.action == "pin":
            ref = bridge.pin_regarding(ref)
            value, text = _sync(bridge)
            _out(args, {"pinned": ref, **value}, f"Pinned {terminal_text(ref.label)}. {text}")
            return 0
        removed = bridge.unpin_regarding(ref)
        value, text = _sync(bridge)
        _out(
            args, {"unpinned": removed, **value}, ("Unpinned. " if removed else "It was not pinned. ") + text
        )
        return 0
    finally:
        bridge.stop()
