"""``python -m tests.benchmarks`` itself, cheaply: its percentile, its target checks, its report
writer, its answers to bad arguments, and one tiny end-to-end run of the bulk section."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.benchmarks import bench_report
from tests.benchmarks.bench_stats import percentile

ROOT = Path(__file__).resolve().parents[2]


def test_percentile_is_the_nearest_rank() -> None:
    ten = [float(v) for v in range(10, 0, -1)]  # unsorted on purpose
    assert percentile(ten, 50) == 5  # not the 6th value
    assert percentile(ten, 90) == 9
    assert percentile(ten, 95) == 10  # not the 9th value (that is p90)
    assert percentile(range(1, 21), 95) == 19
    assert percentile(range(1, 101), 7) == 7  # 7 * 100 / 100 exactly, not 7.000000000000001
    assert percentile([3.5], 50) == percentile([3.5], 100) == 3.5
    for bad in ((ten, 0), (ten, 101), ([], 50)):
        with pytest.raises(ValueError):
            percentile(*bad)


def _report(**changes: Any) -> dict[str, Any]:
    report: dict[str, Any] = {
        "bulk_track": {
            "messages": 1000,
            "bridge": {"seconds": 2.0, "crm_requests": 6, "mailbox_requests": 40},
            "baseline": {"seconds": 60.0, "crm_requests": 5200, "mailbox_requests": 2300},
            "ratio_time": 30.0,
            "ratio_crm_requests": 866.7,
        },
        "outbox": {
            "emails": 100,
            "poll_seconds": 30,
            "p50_seconds": 4.0,
            "p95_seconds": 14.5,
            "max_seconds": 20.0,
            "idle_crm_requests_per_hour": 120.0,
            "crm_requests_per_8h_day": 1000,
        },
        "push": {"ews": {"messages": 5, "p50_seconds": 0.2, "p95_seconds": 0.3}},
        "first_sync": {
            "messages": 20_000,
            "seconds": 3.0,
            "cpu_seconds": 2.5,
            "peak_rss_growth_mb": 0.1,
            "auto_tracked": 0,
            "mailbox_requests": 42,
        },
        "tray": {
            "startup_seconds": 1.2,
            "startup_seconds_no_tray": 11.9,
            "rss_mb_start": 126.0,
            "rss_mb_idle": 126.5,
            "uss_mb_idle": 83.0,
            "idle_cpu_percent": 0.1,
        },
        "machine": bench_report.machine([1.0, 1.0, 1.0], [2.0, 2.0, 2.0]),
    }
    report.update(changes)
    return report


def test_targets_are_met_missed_or_not_measured_with_the_figure() -> None:
    by_name = {t.name: t for t in bench_report.evaluate_targets(_report())}
    assert by_name["bulk_track.ratio_time"].met is True
    assert by_name["bulk_track.bridge.crm_requests"].met is True
    assert by_name["outbox.p95_seconds"].met is False
    assert by_name["outbox.p95_seconds"].figure == "14.5 s"
    # A smaller first sync is scaled to 100,000 and says so: 2.5 s for 20,000 is 12.5 s.
    first = by_name["first_sync.cpu_seconds"]
    assert (first.met, first.figure) == (False, "12.5 s (extrapolated)")
    assert "0.125 ms each" in first.note and "extrapolated" in first.note
    assert by_name["tray.startup_seconds_no_tray"].met is False
    assert by_name["tray.rss_mb_idle"].met is False
    assert by_name["push.graph.p95_seconds"].met is None  # no Graph figures in this report
    without_bulk = {t.name: t for t in bench_report.evaluate_targets(_report(bulk_track={}))}
    assert without_bulk["bulk_track.ratio_time"].met is None
    assert without_bulk["bulk_track.ratio_time"].figure == "not measured"


def test_a_missed_target_names_its_cause_and_a_met_one_does_not() -> None:
    by_name = {t.name: t for t in bench_report.evaluate_targets(_report())}
    assert "cause:" in by_name["tray.rss_mb_idle"].note  # missed in this report
    assert "Fix that remains" in by_name["tray.rss_mb_idle"].note
    assert "cause:" not in by_name["bulk_track.ratio_time"].note  # met: no excuse printed


def test_the_request_target_scales_per_started_thousand() -> None:
    small = _report()
    small["bulk_track"] = {**small["bulk_track"], "messages": 200, "bridge": {"crm_requests": 11}}
    [check] = [t for t in bench_report.evaluate_targets(small) if t.name == "bulk_track.bridge.crm_requests"]
    assert check.met is False and "at most 10" in check.note


def test_missing_fields_are_named() -> None:
    assert bench_report.missing_fields(_report()) == []
    report = _report(push={})
    del report["outbox"]["p95_seconds"]
    assert bench_report.missing_fields(report) == [
        "outbox.p95_seconds",
        "push.(any backend).messages",
        "push.(any backend).p50_seconds",
        "push.(any backend).p95_seconds",
    ]


def test_the_report_is_written_as_json_and_markdown(tmp_path: Path) -> None:
    report = _report(generated="2026-12-01 18:00 UTC", quick=True, latency_ms=20)
    report["method"] = {"bulk_track": "how it was measured"}
    targets = bench_report.finish(report)
    json_path, md_path = bench_report.write(report, tmp_path / "out")
    assert json.loads(json_path.read_text()) == report
    text = md_path.read_text()
    assert "nearest rank" in text and "--quick scale, 20 ms" in text
    assert "| **missed** `outbox.p95_seconds` | 14.5 s |" in text
    assert "| `bulk_track.baseline.crm_requests` | 5,200 |" in text
    assert "| `machine.load_average_after` | 2, 2, 2 |" in text
    assert "- **bulk_track**: how it was measured" in text
    assert len(targets) == len(report["targets"])


def _command(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tests.benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--latency-ms", "fast"], "'fast' is not a whole number of milliseconds"),
        (["--latency-ms", "-5"], "must be between 0 and 5000"),
        (["--only", "bulk,tray"], "unknown section bulk; choose from bulk_track"),
        (["--bulk-messages", "0"], "'0' must be 1 or more"),
        (["--fast"], "unrecognized arguments: --fast"),
    ],
)
def test_bad_arguments_are_answered_in_words(args: list[str], words: str) -> None:
    done = _command(*args)
    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_an_out_folder_that_is_a_file_is_answered_in_words(tmp_path: Path) -> None:
    taken = tmp_path / "report"
    taken.write_text("")
    done = _command("--quick", "--out", str(taken))
    assert done.returncode == 2
    assert f"--out {taken} is a file, not a folder" in done.stderr
    assert "Traceback" not in done.stderr


def test_help_names_the_reports_and_the_quick_scale() -> None:
    done = _command("--help")
    assert done.returncode == 0
    assert "report.json" in done.stdout and "--quick" in done.stdout and "--latency-ms" in done.stdout


@pytest.mark.benchmark
@pytest.mark.integration
def test_a_tiny_bulk_run_writes_every_bulk_field(tmp_path: Path) -> None:
    done = _command("--only", "bulk_track", "--bulk-messages", "3", "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "report.json").read_text())
    assert bench_report.missing_fields(report, ["bulk_track", "machine"]) == []
    bulk = report["bulk_track"]
    assert bulk["messages"] == 3
    # Three messages one at a time: at least a look-up, a create and a close each.
    assert bulk["baseline"]["crm_requests"] >= 9 > bulk["bridge"]["crm_requests"]
    assert "bulk_track.ratio_crm_requests" in done.stdout
    assert (tmp_path / "report.md").read_text().startswith("# CRM Bridge benchmark report")
