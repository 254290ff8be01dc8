"""Handlers of the everyday ``crm-bridge`` subcommands, all on the facade; each has ``--json``."""

from __future__ import annotations

import getpass
import json
import signal
import sys
import threading
from dataclasses import asdict, is_dataclass
from datetime import datetime
from enum import Enum
from typing import Any

from addin.bridge import Bridge
from addin.bridge_types import RecordRef
from addin.config import Config
from addin.engine.tracker import parse_record_spec
from addin.errors import ConfigError
from addin.mailbox.types import FolderKind
from addin.settings_schema import BY_KEY


def _plain(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return {k: _plain(v) for k, v in asdict(value).items()}
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def _out(args: Any, value: Any, text: str) -> None:
    if getattr(args, "json", False):
        print(json.dumps(_plain(value), indent=None, sort_keys=True))
    else:
        print(text)


def _regarding(args: Any) -> RecordRef | None:
    spec = getattr(args, "regarding", None)
    if not spec:
        return None
    try:
        return parse_record_spec(spec)
    except ValueError as exc:
        raise ConfigError(str(exc), title="Bad --regarding") from None


def run(args: Any) -> int:
    from addin.logging_setup import setup_logging

    setup_logging(console=not args.json)
    bridge = Bridge.open(args.profile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    bridge.subscribe(lambda event: print(json.dumps(_plain(event)) if args.json else event, flush=True))
    bridge.start()
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        bridge.stop()
    return 0


def status(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        s = bridge.status()
        lines = [
            f"Profile:   {s.profile}",
            f"Mailbox:   {s.mailbox}",
            f"CRM:       {s.crm_url}",
            f"Outbox:    {s.outbox_queued} in progress, {s.outbox_failed} failed",
            f"Queued:    {s.track_queue} track request(s) waiting",
            f"Issues:    {s.issues}",
        ]
        _out(args, s, "\n".join(lines))
    finally:
        bridge.stop()
    return 0


def track(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        ids = list(args.item_id or [])
        mailbox = bridge.mailbox
        folders = [mailbox.folder(FolderKind.INBOX), mailbox.folder(FolderKind.SENT)]
        for mid in args.message_id or []:
            for folder in folders:
                ids += [m.id for m in mailbox.find_by_message_id(folder.id, mid)]
        if args.search:
            for folder in folders:
                ids += [
                    m.id for m in mailbox.list_messages(folder.id, limit=args.limit, text=args.search).items
                ]
        if not ids:
            raise ConfigError(
                "No message matched; give --message-id, --item-id or --search.", title="Nothing to track"
            )
        results = bridge.track(ids, _regarding(args))
        _out(
            args,
            results,
            "\n".join(f"{r.outcome.value:>16}  {r.subject or r.item_id}  {r.message}" for r in results),
        )
        return 0 if all(r.outcome.value != "failed" for r in results) else 1
    finally:
        bridge.stop()


def untrack(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        results = bridge.untrack(args.item_id, delete_activity=args.delete)
        _out(args, results, "\n".join(f"untracked  {r.subject or r.item_id}" for r in results))
    finally:
        bridge.stop()
    return 0


def outbox(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        if args.retry:
            bridge.retry_outbox(args.retry)
        items = bridge.outbox()
        text = "\n".join(f"{i.state.value:>10}  {i.subject}  {', '.join(i.to)}  {i.reason}" for i in items)
        _out(args, items, text or "The CRM outbox is empty.")
    finally:
        bridge.stop()
    return 0


def log(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        entries = bridge.recent_activity(args.limit, args.filter)
        text = "\n".join(
            f"{e.at:%Y-%m-%d %H:%M}  {e.action:<12} {'ok ' if e.ok else 'ERR'} {e.subject}  {e.detail}"
            for e in entries
        )
        _out(args, entries, text or "Nothing yet.")
    finally:
        bridge.stop()
    return 0


def config(args: Any) -> int:
    cfg = Config.load()
    name = args.profile or cfg.active
    if args.action == "show":
        profile = cfg.profile(name)
        _out(
            args,
            {"profile": name, "settings": profile.values},
            "\n".join(f"{k} = {v!r}" for k, v in sorted(profile.values.items())),
        )
        return 0
    if args.action == "set":
        changes: dict[str, Any] = {}
        for pair in args.values:
            key, sep, value = pair.partition("=")
            if not sep or key.strip() not in BY_KEY:
                raise ConfigError(f"{pair!r}: use KEY=VALUE with a known key (see 'crm-bridge config keys').")
            changes[key.strip()] = value
        profile = cfg.add_profile(name, changes)
        if args.activate:
            cfg.active = profile.name
        cfg.save()
        _out(
            args,
            {"profile": name, "changed": sorted(changes)},
            f"Saved {len(changes)} setting(s) in {name!r}.",
        )
        return 0
    if args.action == "keys":
        _out(
            args,
            [s.key for s in BY_KEY.values()],
            "\n".join(f"{s.key:<30} {s.label}" for s in BY_KEY.values()),
        )
        return 0
    if args.action == "secret":
        from addin.credentials import CredentialStore

        if args.kind not in ("mailbox", "crm"):
            raise ConfigError("The secret kind is 'mailbox' or 'crm'.")
        value = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else getpass.getpass(f"{args.kind} password or token for {name!r}: ")
        )
        if not value:
            raise ConfigError("Nothing entered; the keyring was not changed.")
        CredentialStore(name).set(args.kind, value)
        _out(
            args,
            {"profile": name, "stored": args.kind},
            f"Stored the {args.kind} secret in the system keyring.",
        )
        return 0
    if args.action == "import-thunderbird":
        return import_thunderbird(args, cfg, name)
    raise ConfigError(f"Unknown config action {args.action!r}.")


def import_thunderbird(args: Any, cfg: Config, name: str) -> int:
    """List a Thunderbird profile's accounts, or copy one's settings (never its password)."""
    from pathlib import Path

    from addin.thunderbird import read_accounts

    folder, found = read_accounts(Path(args.profile_dir) if args.profile_dir else None)
    if args.account is None:
        lines = [f"Accounts in {folder}:"]
        for number, acct in enumerate(found, 1):
            if not acct.usable:
                state = f"cannot be used: {acct.reason}"
            else:
                state = f"ready ({acct.note})" if acct.note else "ready"
            lines.append(f"  {number}. {acct.label} — {state}")
        lines.append("Import one with: crm-bridge config import-thunderbird --account N")
        _out(args, {"profile_dir": str(folder), "accounts": found}, "\n".join(lines))
        return 0
    if not 1 <= args.account <= len(found):
        raise ConfigError(f"There is no account {args.account}; the profile has {len(found)}.")
    values = found[args.account - 1].settings()
    profile = cfg.add_profile(name, values)
    if args.activate:
        cfg.active = profile.name
    cfg.save()
    _out(
        args,
        {"profile": name, "imported": values},
        f"Imported {found[args.account - 1].label} into profile {name!r}.\n"
        + (f"{found[args.account - 1].note}\n" if found[args.account - 1].note else "")
        + "Thunderbird's password is not copied: store yours with 'crm-bridge config secret mailbox'.",
    )
    return 0
