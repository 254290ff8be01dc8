"""The engine depends on the ports only: loading every engine module loads no concrete CRM or
mailbox class (nor their HTTP, EWS or sign-in libraries); addin.compose is where they are picked."""

from __future__ import annotations

import subprocess
import sys

CONCRETE = (
    "addin.compose",
    "addin.crm.client",
    "addin.crm.batch",
    "addin.crm.auth",
    "addin.crm.dataverse_port",
    "addin.crm.dataverse_rows",
    "addin.crm.memory",
    "addin.mailbox.ews",
    "addin.mailbox.graph",
    "addin.mailbox.imap",
    "addin.mailbox.smtp_submit",
    "addin.mailbox.memory",
    "addin.mailbox.registry",
    "addin.sandbox",
    "requests",
    "exchangelib",
    "msal",
    "imapclient",
)

SCRIPT = """
import importlib, pkgutil, sys
import addin.engine
for info in pkgutil.walk_packages(addin.engine.__path__, prefix="addin.engine."):
    importlib.import_module(info.name)
{probe}
print("\\n".join(sorted(sys.modules)))
"""


def _loaded(probe: str = "") -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(probe=probe)], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def _concrete(modules: set[str]) -> set[str]:
    return {m for m in modules if m in CONCRETE or m.startswith(tuple(c + "." for c in CONCRETE))}


def test_the_engine_loads_only_the_ports() -> None:
    loaded = _loaded()
    assert {"addin.engine.outbox", "addin.crm.port", "addin.mailbox.port"} <= loaded
    assert _concrete(loaded) == set()


def test_the_check_sees_a_concrete_class_when_one_is_loaded() -> None:
    """The guard above can fail: composing the app loads the adapter and its client."""
    assert {"addin.compose", "addin.crm.client", "requests"} <= _concrete(_loaded("import addin.compose"))
