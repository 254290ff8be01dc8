"""``crm-bridge demo --headless --json`` on each mailbox backend: both flows, no duplicates, nothing lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("backend", ["ews", "graph"])
def test_headless_demo_reports_no_duplicates_and_nothing_lost(backend: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "addin", "demo", "--mailbox", backend, "--headless", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["mailbox_backend"] == backend
    assert report["duplicates"] == 0 and report["lost"] == 0
    assert report["sent"] == 3 and report["sent_items_copies"] == 3
    assert report["tracked_selected"] > 0 and report["tracked_by_category"] == 1
    assert report["tracked_automatically"] >= 1 and report["private_tracked"] == 0
    assert report["reply_correlated"] is True and report["ok"] is True
