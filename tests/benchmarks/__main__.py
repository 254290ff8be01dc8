"""``python -m tests.benchmarks [--quick] [--out DIR]``: every benchmark of the bridge in one run.

Outside the normal test run. Starts its own sandboxes (CRM and Exchange with injected latency;
Dovecot for IMAP; Xvfb and trayer for the tray) and writes ``report.json`` and ``report.md``.
Bulk tracking and the first sync run alone (their figures are CPU and wall time); the outbox,
push and tray scenarios then run side by side (their figures are waits, and the tray's own
process's memory and CPU), which keeps ``--quick`` under three minutes on two cores.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SECTIONS = ("bulk_track", "first_sync", "outbox", "push", "tray")


@dataclass(frozen=True)
class Scale:
    bulk_messages: int
    outbox_emails: int
    outbox_window_seconds: float
    outbox_idle_seconds: float
    outbox_settle_seconds: float
    push_messages: int
    first_sync_messages: int
    tray_idle_seconds: float
    tray_short_idle_seconds: float


def _fast_period_seconds() -> float:
    """How long the outbox check stays at its fast pace after activity (0 if it has none)."""
    try:
        from addin.engine.poll_pace import PacePolicy
    except ImportError:
        return 0.0
    return PacePolicy().active_for.total_seconds()


# The full run waits out the outbox's fast period (plus 30 s) before its idle window; --quick
# cannot, so its idle rate is the one right after sending (an upper bound).
FULL = Scale(1000, 100, 600, 300, _fast_period_seconds() + 30, 20, 100_000, 600, 60)
QUICK = Scale(200, 20, 15, 50, 0, 5, 20_000, 30, 5)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def _latency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of milliseconds") from None
    if not 0 <= value <= 5000:
        raise argparse.ArgumentTypeError(f"{text!r} must be between 0 and 5000 milliseconds")
    return value


def _sections(text: str) -> list[str]:
    chosen = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SECTIONS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown section {', '.join(unknown) or '(none given)'}; choose from {', '.join(SECTIONS)}"
        )
    return chosen


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m tests.benchmarks",
        description=(
            "Measure CRM Bridge against local sandboxes with injected latency and write report.json "
            "and report.md: bulk tracking against a real one-at-a-time baseline, the outbox's "
            "latency and CRM requests, category -> tracked by push (EWS, Graph, IMAP), the first "
            "sync of a big folder, and the tray's start, memory and idle CPU. Each target of "
            "issue 15 is printed as met or missed with its figure."
        ),
        epilog=(
            "Full run: about 30 minutes (1,000 messages, 100 e-mails, 100,000-message first sync, "
            "10 idle minutes of the tray). --quick: under 3 minutes on 2 cores (200, 20, 20,000, "
            "30 s). Run from the repository root with the test environment's Python."
        ),
    )
    p.add_argument("--quick", action="store_true", help="the small scale (under 3 minutes on 2 cores)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("benchmark-report"),
        metavar="DIR",
        help="folder for report.json and report.md (default: ./benchmark-report)",
    )
    p.add_argument(
        "--latency-ms",
        type=_latency,
        default=20,
        metavar="N",
        help="latency injected into every sandbox request, in ms (default 20)",
    )
    p.add_argument(
        "--only",
        type=_sections,
        default=list(SECTIONS),
        metavar="SECTIONS",
        help=f"comma-separated sections to run (default all: {','.join(SECTIONS)})",
    )
    sizes = p.add_argument_group("sizes (override the chosen scale; for trying things out)")
    sizes.add_argument("--bulk-messages", type=_positive_int, metavar="N")
    sizes.add_argument("--outbox-emails", type=_positive_int, metavar="N")
    sizes.add_argument("--push-messages", type=_positive_int, metavar="N")
    sizes.add_argument("--first-sync-messages", type=_positive_int, metavar="N")
    sizes.add_argument(
        "--idle-seconds", type=_positive_int, metavar="S", help="the tray's and outbox's idle window"
    )
    return p


def scale_of(args: argparse.Namespace) -> Scale:
    base = QUICK if args.quick else FULL
    idle = args.idle_seconds
    return Scale(
        bulk_messages=args.bulk_messages or base.bulk_messages,
        outbox_emails=args.outbox_emails or base.outbox_emails,
        outbox_window_seconds=base.outbox_window_seconds,
        outbox_idle_seconds=idle or base.outbox_idle_seconds,
        outbox_settle_seconds=base.outbox_settle_seconds,
        push_messages=args.push_messages or base.push_messages,
        first_sync_messages=args.first_sync_messages or base.first_sync_messages,
        tray_idle_seconds=idle or base.tray_idle_seconds,
        tray_short_idle_seconds=min(idle, base.tray_short_idle_seconds)
        if idle
        else base.tray_short_idle_seconds,
    )


def check_out_dir(out: Path) -> str | None:
    """Why ``out`` cannot take the reports, in words; None when it can."""
    if out.exists() and not out.is_dir():
        return f"--out {out} is a file, not a folder"
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return f"cannot write the reports into {out}: {exc.strerror or exc}"
    return None


def method(scale: Scale, latency_ms: int) -> dict[str, str]:
    return {
        "latency": f"{latency_ms} ms added to every request on the sandbox CRM and Exchange (not Dovecot).",
        "bulk_track": (
            f"{scale.bulk_messages} messages for the bridge and {scale.bulk_messages} others for the "
            "baseline, "
            "30% each with a 20 KB attachment, replies, unknown senders; the bridge's Track against a "
            "one-at-a-time add-in that reads, looks up, resolves each party, creates, uploads each "
            "attachment, closes and marks every message with its own requests (all really tracked)."
        ),
        "outbox": (
            f"{scale.outbox_emails} e-mails queued in the CRM at random moments over "
            f"{scale.outbox_window_seconds:.0f} s with the whole engine running on the default settings; "
            "latency = queued -> stamped Sent Items copy (crm_sent_* -> Sent in the CRM). Idle rate from "
            f"the CRM requests in {scale.outbox_idle_seconds:.0f} s, between the first and last arrival, "
            f"starting {scale.outbox_settle_seconds:.0f} s after the last send"
            + (
                " (inside the fast period after activity: an upper bound)"
                if not scale.outbox_settle_seconds
                else " (after the outbox check's fast period)"
            )
            + "; crm_requests_per_8h_day = the requests of the active and settle periods + the idle "
            "rate for the rest of 8 hours."
        ),
        "push": (
            "'Track in CRM' set by another EWS client (Outlook elsewhere), or on IMAP by another IMAP "
            "connection, at random moments; latency until the e-mail exists in the CRM, the bridge's "
            "poll left at its default; Graph waits up to one watch interval between samples."
        ),
        "first_sync": (
            f"{scale.first_sync_messages} messages from CRM contacts written straight into the sandbox's "
            "store; sandbox in its own process; a fresh bridge in a child process runs auto-track's first "
            "round; CPU = that process's CPU time, memory = peak resident growth (VmHWM reset before)."
        ),
        "tray": (
            "the real tray app started --minimized (as autostart does) in its own process on a bridge "
            "connected to the sandboxes; startup_seconds = launch -> icon docked in trayer on Xvfb; "
            "startup_seconds_no_tray = launch -> Track window on Xvfb without a panel; memory and idle CPU "
            f"from /proc of the tray-panel run after {scale.tray_idle_seconds:.0f} s idle "
            f"(the other desktops {scale.tray_short_idle_seconds:.0f} s); modes lists every desktop."
        ),
        "concurrency": (
            "bulk_track and first_sync ran alone; outbox, push and tray ran side by side, each with its own "
            "sandboxes; other people's work on this shared machine also ran (see the load averages)."
        ),
    }


def _run_section(name: str, work: Callable[[], Any], report: dict[str, Any], errors: dict[str, str]) -> None:
    started = time.monotonic()
    print(f"-- {name} ...", file=sys.stderr, flush=True)
    try:
        result = work()
    except Exception as exc:  # one section's trouble is reported; the others still run
        logging.getLogger(__name__).debug("section %s", name, exc_info=True)
        errors[name] = f"{type(exc).__name__}: {exc}"
        print(f"-- {name} could not be measured: {errors[name]}", file=sys.stderr, flush=True)
        return
    if isinstance(result, tuple):
        result, more = result
        errors.update(more)
    report[name] = result
    print(f"-- {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    from tests.benchmarks import bench_report

    scale = scale_of(args)
    latency = args.latency_ms
    report: dict[str, Any] = {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": bool(args.quick),
        "latency_ms": latency,
    }
    errors: dict[str, str] = {}
    load_before = bench_report.load_average()
    began = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="crm-bridge-bench-") as tmp:
        root = Path(tmp)
        if "bulk_track" in args.only:
            from tests.benchmarks import bench_bulk

            _run_section(
                "bulk_track",
                lambda: bench_bulk.run(root / "bulk", scale.bulk_messages, latency),
                report,
                errors,
            )
        if "first_sync" in args.only:
            from tests.benchmarks import bench_first_sync

            _run_section(
                "first_sync",
                lambda: bench_first_sync.run(root / "first-sync", scale.first_sync_messages, latency),
                report,
                errors,
            )
        side_by_side: list[tuple[str, Callable[[], Any]]] = []
        if "outbox" in args.only:
            from tests.benchmarks import bench_outbox

            side_by_side.append(
                (
                    "outbox",
                    lambda: bench_outbox.run(
                        root / "outbox",
                        scale.outbox_emails,
                        scale.outbox_window_seconds,
                        scale.outbox_idle_seconds,
                        latency,
                        scale.outbox_settle_seconds,
                    ),
                )
            )
        if "push" in args.only:
            from tests.benchmarks import bench_push

            side_by_side.append(("push", lambda: bench_push.run(root / "push", scale.push_messages, latency)))
        if "tray" in args.only:
            from tests.benchmarks import bench_tray

            side_by_side.append(
                (
                    "tray",
                    lambda: bench_tray.run(
                        root / "tray", scale.tray_idle_seconds, scale.tray_short_idle_seconds, latency
                    ),
                )
            )
        threads = [
            threading.Thread(target=_run_section, args=(name, work, report, errors), name=f"bench-{name}")
            for name, work in side_by_side
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    report["machine"] = bench_report.machine(load_before, bench_report.load_average())
    report["method"] = method(scale, latency)
    report["seconds"] = round(time.monotonic() - began, 1)
    missing = bench_report.missing_fields(report, [*(s for s in SECTIONS if s in args.only), "machine"])
    if missing:
        errors["fields"] = "no value for " + ", ".join(missing)
    if errors:
        report["errors"] = errors
    targets = bench_report.finish(report)
    json_path, md_path = bench_report.write(report, args.out)
    print(f"\nTargets ({'--quick' if args.quick else 'full'} run, {latency} ms latency):")
    for t in targets:
        print(bench_report.target_line(t))
    for name, why in errors.items():
        print(f"not measured: {name}: {why}")
    print(f"\nWrote {json_path} and {md_path} in {report['seconds']:.0f} s.")
    return 1 if errors else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)  # argparse answers bad arguments in words, exit status 2
    problem = check_out_dir(args.out)
    if problem is not None:
        print(f"python -m tests.benchmarks: {problem}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-session chatter
    try:
        return run(args)
    except KeyboardInterrupt:
        print("\nInterrupted: no report written.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
