"""A local Dataverse Web API stand-in (``/api/data/v9.2/``) for tests and the demo."""

from __future__ import annotations

from addin.sandbox.crm.sandbox import CrmSandbox
from addin.sandbox.crm.seed import (
    ALEX_EMAIL,
    ALEX_ID,
    DEMO_ACCOUNTS,
    DEMO_COLLEAGUES,
    DEMO_CONTACTS,
    DEMO_LEADS,
    DEMO_USER,
)

__all__ = [
    "ALEX_EMAIL",
    "ALEX_ID",
    "DEMO_ACCOUNTS",
    "DEMO_COLLEAGUES",
    "DEMO_CONTACTS",
    "DEMO_LEADS",
    "DEMO_USER",
    "CrmSandbox",
]
