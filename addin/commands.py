"""Handlers of the everyday ``crm-bridge`` subcommands, all on the facade; each has ``--json``."""

from __future__ import annotations

import getpass
import json
import signal
import sys
import threading
from typing import Any

from addin import cli_render as render
from addin.bridge import Bridge
from addin.bridge_types import RecordRef, TrackOutcome
from addin.cli_output import emit, quoted, terminal_text, to_plain
from addin.config import Config
from addin.engine.tracker import parse_record_spec
from addin.errors import ConfigError
from addin.settings_schema import BY_KEY


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

    # The console gets the one-line-per-event report below; warnings still go to the log file.
    setup_logging(console=False)
    from addin.headless_signin import HeadlessSignIn

    bridge = Bridge.open(args.profile)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    printer = render.RunPrinter()
    lock = threading.Lock()  # events come from several worker threads: keep lines whole

    def show(event: Any) -> None:
        text = json.dumps(to_plain(render.event_document(event))) if args.json else printer.line(event)
        if text:
            with lock:
                print(text, flush=True)

    bridge.subscribe(show)
    # No tray to click "Sign in…": a Microsoft sign-in is offered as a device code on stderr.
    headless = HeadlessSignIn(bridge, lambda text: print(text, file=sys.stderr, flush=True))
    bridge.subscribe(headless.on_event)
    bridge.start()
    if not args.json:
        print(f"Running for profile {bridge.profile.name!r}; press Ctrl-C to stop.", flush=True)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        headless.close()
        bridge.stop()
    if not args.json:
        print("Stopped.", flush=True)
    return 0


def status(args: Any) -> int:
    config = Config.load()
    profile = config.profile(args.profile)
    if profile.missing():
        # Not an error: "nothing set up yet" is the honest state, with the next step.
        emit(
            args,
            {
                "profile": profile.name,
                "state": "not_set_up",
                "missing": profile.missing(),
                "next": render.SETUP_COMMAND,
            },
            render.not_set_up_text(profile.name),
        )
        return 0
    bridge = Bridge.open(args.profile)
    try:
        s = bridge.engine_status()
        emit(args, s, render.status_text(s))
    finally:
        bridge.stop()
    return 0


def track(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        ids = list(args.item_id or [])
        for mid in args.message_id or []:
            ids += bridge.find_items(mid)
        if args.search:
            ids += bridge.search_items(args.search, limit=args.limit)
        if not ids:
            raise ConfigError(
                "No message matched; give --message-id, --item-id or --search.", title="Nothing to track"
            )
        results = bridge.track(ids, _regarding(args))
        emit(args, results, render.track_text(results))
        return 0 if all(r.outcome is not TrackOutcome.FAILED for r in results) else 1
    finally:
        bridge.stop()


def untrack(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        results = bridge.untrack(args.item_id, delete_activity=args.delete)
        emit(args, results, render.untrack_text(results))
    finally:
        bridge.stop()
    return 0 if all(r.outcome is not TrackOutcome.FAILED for r in results) else 1


def outbox(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        retried = None
        if args.retry:
            bridge.retry_outbox(args.retry)
        items = bridge.outbox()
        if args.retry:
            match = next((i for i in items if i.activity_id == args.retry), None)
            retried = quoted(match.subject) if match else args.retry
        emit(args, items, render.outbox_text(items, retried))
    finally:
        bridge.stop()
    return 0


def log(args: Any) -> int:
    bridge = Bridge.open(args.profile)
    try:
        entries = bridge.recent_activity(args.limit, args.filter)
        emit(args, entries, render.log_text(entries))
    finally:
        bridge.stop()
    return 0


def sign_in(args: Any) -> int:
    """Microsoft sign-in for the profile, without the engine: the tokens go to the keyring cache."""
    from addin.compose import microsoft_sign_in
    from addin.signin import SignInMethod

    profile = Config.load().profile(args.profile)
    signin = microsoft_sign_in(profile)
    if not signin.resources:
        raise ConfigError(
            "This profile uses no Microsoft sign-in: set crm.auth=oauth with crm.url, "
            "or mailbox.backend=graph with mailbox.auth=oauth.",
            title="Nothing to sign in to",
        )
    if args.sign_out:
        signin.sign_out()
        emit(args, {"profile": profile.name, "accounts": []}, "Signed out; the saved sign-in was deleted.")
        return 0
    if not args.status:
        # The device-code instructions go to the terminal even with --json (on stderr then).
        signin.on_device_code = lambda message: print(message, file=sys.stderr if args.json else sys.stdout)
        signin.sign_in(method=SignInMethod.DEVICE_CODE if args.device_code else None)
    accounts = signin.accounts()
    emit(
        args,
        {"profile": profile.name, "accounts": accounts},
        f"Signed in as {terminal_text(', '.join(accounts))}." if accounts else "Not signed in.",
    )
    return 0 if accounts else 1


def config(args: Any) -> int:
    cfg = Config.load()
    name = args.profile or cfg.active
    if args.action == "show":
        profile = cfg.profile(name)
        emit(
            args,
            {
                "profile": name,
                "active": name == cfg.active,
                "settings": profile.values,
                "problems": profile.problems(cfg.path),
            },
            render.config_show_text(
                name, name == cfg.active, profile.values, BY_KEY, profile.problems(cfg.path)
            ),
        )
        return 0
    if args.action == "set":
        changes: dict[str, Any] = {}
        for pair in args.values:
            key, sep, value = pair.partition("=")
            if not sep or key.strip() not in BY_KEY:
                raise ConfigError(
                    f"{pair!r}: use KEY=VALUE with a known key (see 'crm-bridge config keys').",
                    title="Unknown setting",
                )
            changes[key.strip()] = value
        if not changes:
            raise ConfigError(
                "Give at least one KEY=VALUE (see 'crm-bridge config keys').", title="Nothing to set"
            )
        profile = cfg.add_profile(name, changes)
        if args.activate:
            cfg.active = profile.name
        cfg.save()
        active = " It is now the active profile." if args.activate else ""
        emit(
            args,
            {"profile": name, "changed": sorted(changes), "active": cfg.active == name},
            f"Saved {len(changes)} setting{'s' if len(changes) != 1 else ''} in profile {name!r}.{active}",
        )
        return 0
    if args.action == "keys":
        emit(
            args,
            [
                {
                    "key": s.key,
                    "label": s.label,
                    "kind": s.kind.value,
                    "default": s.default,
                    "choices": [v for v, _ in s.choices],
                }
                for s in BY_KEY.values()
            ],
            render.config_keys_text(list(BY_KEY.values())),
        )
        return 0
    if args.action == "secret":
        from addin.credentials import CredentialStore

        if args.kind not in ("mailbox", "crm"):
            raise ConfigError(
                "Say which secret: 'crm-bridge config secret mailbox' or '... secret crm'.",
                title="Which secret?",
            )
        value = (
            sys.stdin.readline().rstrip("\n")
            if not sys.stdin.isatty()
            else getpass.getpass(f"{args.kind} password or token for {name!r}: ")
        )
        if not value:
            raise ConfigError("Nothing entered; the keyring was not changed.", title="No secret given")
        CredentialStore(name).set(args.kind, value)
        emit(
            args,
            {"profile": name, "stored": args.kind},
            f"Stored the {args.kind} password or token for profile {name!r} in the system keyring.",
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
            lines.append(f"  {number}. {terminal_text(acct.label)} — {terminal_text(state)}")
        lines.append("Import one with: crm-bridge config import-thunderbird --account N")
        emit(args, {"profile_dir": str(folder), "accounts": found}, "\n".join(lines))
        return 0
    if not 1 <= args.account <= len(found):
        raise ConfigError(f"There is no account {args.account}; the profile has {len(found)}.")
    values = found[args.account - 1].settings()
    profile = cfg.add_profile(name, values)
    if args.activate:
        cfg.active = profile.name
    cfg.save()
    emit(
        args,
        {"profile": name, "imported": values},
        f"Imported {terminal_text(found[args.account - 1].label)} into profile {name!r}.\n"
        + (f"{terminal_text(found[args.account - 1].note)}\n" if found[args.account - 1].note else "")
        + "Thunderbird's password is not copied: store yours with 'crm-bridge config secret mailbox'.",
    )
    return 0
