"""A local Dataverse Web API stand-in (``/api/data/v9.2/``) for tests and the demo.

Python API::

    with CrmSandbox(data_dir=None, seed="demo", latency_ms=0, throttle=None) as crm:
        crm.base_url            # http://127.0.0.1:PORT/api/data/v9.2/ (token: "Bearer sandbox")
        crm.origin, crm.headers # http://127.0.0.1:PORT; the headers a Web API client sends
        crm.faults, crm.stats   # FaultPlan / Stats from addin.sandbox.common
        crm.db.get("emails", id); crm.db.query("contacts", lambda r: ...); crm.db.insert(...)
        crm.create("emails", {...})          # validated like a POST (binds, deep insert)
        crm.queue_email(to, subject, body, regarding=("opportunities", id))  # Pending Send for Alex

Demo data: ``DEMO_USER`` (Alex Wilber, alex@contoso.example), ``DEMO_COLLEAGUES``,
``DEMO_ACCOUNTS``, ``DEMO_CONTACTS``, ``DEMO_LEADS`` (ids, names, addresses).
"""

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
