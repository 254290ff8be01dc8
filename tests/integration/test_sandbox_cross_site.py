"""A web page open in the user's browser cannot reconfigure either sandbox (cross-site posts)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from addin.sandbox.crm import CrmSandbox
from addin.sandbox.mail import MailSandbox

pytestmark = pytest.mark.integration


def test_control_endpoints_refuse_posts_from_other_sites(tmp_path: Path) -> None:
    with CrmSandbox(tmp_path / "crm") as crm, MailSandbox(tmp_path / "mail") as mail:
        for origin in (crm.origin, mail.origin):
            forged = requests.post(
                f"{origin}/_sandbox/faults",
                json={"busy": 1},
                headers={"Origin": "https://evil.example"},
                timeout=10,
            )
            assert forged.status_code == 403
            # The sandbox's own origin, or a script (no Origin header), still may.
            own = requests.post(f"{origin}/_sandbox/faults", json={}, headers={"Origin": origin}, timeout=10)
            assert own.status_code == 200
            assert requests.post(f"{origin}/_sandbox/faults/clear", timeout=10).status_code == 200
        assert mail.faults.busy == 0
