"""The benchmark report: the machine it ran on, the targets met or missed, report.json and report.md.

Only plain values go in (the scenarios' dicts); nothing here starts a server, so the writer and
the target checks are tested cheaply in the normal run (test_bench_command.py).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tests.benchmarks.bench_stats import PERCENTILE_DEFINITION

FIRST_SYNC_TARGET_MESSAGES = 100_000

# Every field issue 15 asks of the report ("push" holds these per backend).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    "bulk_track": (
        "messages",
        "bridge.seconds",
        "bridge.crm_requests",
        "bridge.mailbox_requests",
        "baseline.seconds",
        "baseline.crm_requests",
        "baseline.mailbox_requests",
        "ratio_time",
        "ratio_crm_requests",
    ),
    "outbox": (
        "emails",
        "poll_seconds",
        "p50_seconds",
        "p95_seconds",
        "max_seconds",
        "idle_crm_requests_per_hour",
        "crm_requests_per_8h_day",
    ),
    "push": ("messages", "p50_seconds", "p95_seconds"),
    "first_sync": (
        "messages",
        "seconds",
        "cpu_seconds",
        "peak_rss_growth_mb",
        "auto_tracked",
        "mailbox_requests",
    ),
    "tray": (
        "startup_seconds",
        "startup_seconds_no_tray",
        "rss_mb_start",
        "rss_mb_idle",
        "uss_mb_idle",
        "idle_cpu_percent",
    ),
    "machine": ("cores", "memory_mb", "python", "load_average_before", "load_average_after"),
}


def missing_fields(report: Mapping[str, Any], sections: Iterable[str] = REQUIRED_FIELDS) -> list[str]:
    """The required fields of ``sections`` that the report lacks or holds no value for."""
    missing: list[str] = []
    for section in sections:
        node = report.get(section)
        if section == "push":
            backends = node if isinstance(node, Mapping) and node else {"(any backend)": {}}
            missing += [
                f"push.{b}.{f}"
                for b, fields in backends.items()
                for f in REQUIRED_FIELDS["push"]
                if _get(fields, f) is None
            ]
            continue
        missing += [
            f"{section}.{f}" for f in REQUIRED_FIELDS[section] if _get(report, f"{section}.{f}") is None
        ]
    return missing


def _meminfo_mb() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    except OSError:
        return None
    return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def machine(load_before: list[float], load_after: list[float]) -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "memory_mb": _meminfo_mb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }


@dataclass(frozen=True)
class Target:
    name: str
    target: str
    figure: str
    met: bool | None  # None: not measured in this run (the section failed or was left out)
    note: str = ""


def _get(report: Mapping[str, Any], path: str) -> Any:
    node: Any = report
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def _num(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _check(
    name: str,
    target: str,
    value: Any,
    ok: Callable[[float], bool],
    fmt: str = "{:.2f}",
    note: str = "",
) -> Target:
    number = _num(value)
    if number is None:
        return Target(name, target, "not measured", None, note)
    return Target(name, target, fmt.format(number), ok(number), note)


# Power Platform request entitlement per paid user licence per 24 hours (Microsoft's "Requests
# limits and allocations"): Dynamics 365 Enterprise/Professional users 40,000; Team Members and
# Power Apps per-app users 6,000.
ENTITLEMENTS = {"a Dynamics 365 licence": 40_000, "a Team Member licence": 6_000}


def _entitlement_note(day: float | None) -> str:
    if day is None:
        return ""
    shares = ", ".join(
        f"{100 * day / limit:.1f}% of the {limit:,} of {name}" for name, limit in ENTITLEMENTS.items()
    )
    return f"per 24 h entitlement: {shares}"


# Why a target is missed when it is, and the fix that remains: found by profiling (py-spy,
# cProfile, /proc/PID/smaps) and kept here so every report that misses one says so.
KNOWN_CAUSES = {
    "bulk_track.ratio_time": (
        "cause: the bridge's own time is mostly exchangelib building and parsing objects for GetItem"
        " and UpdateItem, with GetItem chunks of 50 fetched one after another; the ratio falls when"
        " other work loads the machine (the bridge's share is CPU, the baseline's mostly waiting)."
        " Fix that remains: GetItem chunks in parallel on the account's connection pool"
    ),
    "outbox.crm_requests_per_8h_day": (
        "cause: an idle window measured inside the check's 5-minute fast period after the last send"
        " (idle_settle_seconds 0) is an upper bound; the check's token bucket caps any 8-hour day at"
        " 2,760 checks (+128 for the user context), and each send's own ~3 requests come on top."
        " Fix that remains: none for the checks; a Team Member licence should lower"
        " sending.checks_per_hour"
    ),
    "tray.rss_mb_idle": (
        "cause: libraries, not windows: the interpreter with the bridge's libraries is ~67 MB before"
        " any Qt (exchangelib ~29 MB of it, with cryptography, dnspython and pygments), PySide6 and"
        " the UI ~45 MB. Fix that remains: a lighter EWS client, or loading exchangelib's optional"
        " parts (NTLM, OAuth, DNS autodiscover) only when used; Graph and IMAP profiles already skip"
        " exchangelib"
    ),
}


def _with_cause(target: Target) -> Target:
    cause = KNOWN_CAUSES.get(target.name)
    if target.met is not False or not cause:
        return target
    return dataclasses.replace(target, note="; ".join(n for n in (target.note, cause) if n))


def evaluate_targets(report: Mapping[str, Any]) -> list[Target]:
    """Every target of issue 15 (and DESIGN §3 for push on Graph) against the report's figures;
    a missed one carries its known cause and the fix that remains."""
    return [_with_cause(t) for t in _evaluate(report)]


def _evaluate(report: Mapping[str, Any]) -> list[Target]:
    out: list[Target] = []
    messages = _num(_get(report, "bulk_track.messages"))
    allowed = 10 * max(1, math.ceil((messages or 0) / 1000))
    out += [
        _check(
            "bulk_track.ratio_time",
            ">= 25x less wall time than one at a time",
            _get(report, "bulk_track.ratio_time"),
            lambda v: v >= 25,
            "{:.1f}x",
        ),
        _check(
            "bulk_track.ratio_crm_requests",
            ">= 100x fewer CRM requests than one at a time",
            _get(report, "bulk_track.ratio_crm_requests"),
            lambda v: v >= 100,
            "{:.0f}x",
        ),
        _check(
            "bulk_track.bridge.crm_requests",
            "<= 10 CRM requests per 1,000 messages",
            _get(report, "bulk_track.bridge.crm_requests"),
            lambda v: v <= allowed,
            "{:.0f}",
            f"{messages or 0:.0f} messages: at most {allowed} (10 per started 1,000)",
        ),
        _check(
            "outbox.p95_seconds",
            "<= 12 s from Pending Send to the Sent Items copy (p95)",
            _get(report, "outbox.p95_seconds"),
            lambda v: v <= 12,
            "{:.1f} s",
        ),
        _check(
            "outbox.crm_requests_per_8h_day",
            "<= 3,000 CRM requests per user per 8-hour day",
            _get(report, "outbox.crm_requests_per_8h_day"),
            lambda v: v <= 3000,
            "{:.0f}",
            _entitlement_note(_num(_get(report, "outbox.crm_requests_per_8h_day"))),
        ),
    ]
    fs_messages = _num(_get(report, "first_sync.messages"))
    cpu = _num(_get(report, "first_sync.cpu_seconds"))
    if fs_messages and cpu is not None:
        at_target = cpu * FIRST_SYNC_TARGET_MESSAGES / fs_messages
        scaled = fs_messages != FIRST_SYNC_TARGET_MESSAGES
        note = (
            f"measured {cpu:.2f} s for {fs_messages:.0f} messages "
            f"({1000 * cpu / fs_messages:.3f} ms each), extrapolated linearly to 100,000"
            if scaled
            else f"measured on 100,000 messages ({1000 * cpu / fs_messages:.3f} ms each)"
        )
        out.append(
            Target(
                "first_sync.cpu_seconds",
                "<= 10 s of the bridge's CPU for a 100,000-message folder",
                f"{at_target:.1f} s" + (" (extrapolated)" if scaled else ""),
                at_target <= 10,
                note,
            )
        )
    else:
        out.append(
            Target(
                "first_sync.cpu_seconds",
                "<= 10 s of the bridge's CPU for a 100,000-message folder",
                "not measured",
                None,
            )
        )
    out += [
        _check(
            "first_sync.peak_rss_growth_mb",
            "<= 100 MB peak memory growth",
            _get(report, "first_sync.peak_rss_growth_mb"),
            lambda v: v <= 100,
            "{:.1f} MB",
        ),
        _check(
            "first_sync.auto_tracked",
            "nothing tracked retroactively",
            _get(report, "first_sync.auto_tracked"),
            lambda v: v == 0,
            "{:.0f}",
        ),
        _check(
            "tray.rss_mb_idle",
            "<= 120 MB resident when idle",
            _get(report, "tray.rss_mb_idle"),
            lambda v: v <= 120,
            "{:.1f} MB",
        ),
        _check(
            "tray.idle_cpu_percent",
            "<= 0.5% of a core when idle",
            _get(report, "tray.idle_cpu_percent"),
            lambda v: v <= 0.5,
            "{:.2f}%",
        ),
        _check(
            "tray.startup_seconds_no_tray",
            "first window within 2 s when there is no system tray",
            _get(report, "tray.startup_seconds_no_tray"),
            lambda v: v <= 2,
            "{:.2f} s",
        ),
        _check(
            "push.graph.p95_seconds",
            "category -> tracked p95 <= 30 s on Graph (DESIGN section 3)",
            _get(report, "push.graph.p95_seconds"),
            lambda v: v <= 30,
            "{:.1f} s",
        ),
    ]
    return out


def finish(report: dict[str, Any]) -> list[Target]:
    """Add the percentile definition and the targets to ``report``; return the targets."""
    targets = evaluate_targets(report)
    report["percentiles"] = PERCENTILE_DEFINITION
    report["targets"] = [asdict(t) for t in targets]
    return targets


def target_line(t: Target) -> str:
    verdict = {True: "met", False: "MISSED", None: "not measured"}[t.met]
    note = f" ({t.note})" if t.note else ""
    return f"{verdict:>12}  {t.name}: {t.figure}; target {t.target}{note}"


def write(report: Mapping[str, Any], out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "report.json", out_dir / "report.md"
    json_path.write_text(json.dumps(report, indent=2, sort_keys=False) + "\n")
    md_path.write_text(markdown(report))
    return json_path, md_path


def _cell(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:,.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, list):
        return ", ".join(_cell(v) for v in value)
    return str(value)


def _flatten(prefix: str, node: Any, rows: list[tuple[str, Any]]) -> None:
    if isinstance(node, Mapping):
        for key, value in node.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), value, rows)
    else:
        rows.append((prefix, node))


SECTIONS = ("bulk_track", "outbox", "push", "first_sync", "tray", "machine")


def markdown(report: Mapping[str, Any]) -> str:
    lines = [
        "# CRM Bridge benchmark report",
        "",
        f"Run: {report.get('generated', '?')}, "
        f"{'--quick' if report.get('quick') else 'full'} scale, "
        f"{report.get('latency_ms', '?')} ms injected latency per request on the sandboxes.",
        f"Percentiles: {report.get('percentiles', PERCENTILE_DEFINITION)}.",
        "",
        "## Targets",
        "",
        "| | Figure | Target | Note |",
        "|---|---|---|---|",
    ]
    for t in report.get("targets", []):
        verdict = {True: "met", False: "**missed**", None: "not measured"}[t["met"]]
        lines.append(f"| {verdict} `{t['name']}` | {t['figure']} | {t['target']} | {t['note']} |")
    for section in SECTIONS:
        if section not in report:
            continue
        lines += ["", f"## {section}", "", "| Field | Value |", "|---|---|"]
        rows: list[tuple[str, Any]] = []
        _flatten(section, report[section], rows)
        lines += [f"| `{name}` | {_cell(value)} |" for name, value in rows]
    errors = report.get("errors") or {}
    if errors:
        lines += ["", "## Sections that could not be measured", ""]
        lines += [f"- `{name}`: {why}" for name, why in errors.items()]
    method = report.get("method") or {}
    if method:
        lines += ["", "## How each figure was measured", ""]
        lines += [f"- **{name}**: {text}" for name, text in method.items()]
    return "\n".join(lines) + "\n"
