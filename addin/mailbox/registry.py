"""Find mailbox backends through the ``crm_bridge.mailboxes`` entry point group."""

from __future__ import annotations

from importlib.metadata import entry_points

from addin.errors import ConfigError
from addin.mailbox.port import Mailbox
from addin.mailbox.types import MailboxSettings, SecretSource

ENTRY_POINT_GROUP = "crm_bridge.mailboxes"


def available_backends() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))


def backend_class(name: str) -> type[Mailbox]:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            cls = ep.load()
            if not (isinstance(cls, type) and issubclass(cls, Mailbox)):
                raise ConfigError(f"The mailbox plug-in {name!r} does not provide a Mailbox class.")
            return cls
    known = ", ".join(available_backends()) or "none"
    raise ConfigError(f"Unknown mailbox type {name!r} (installed: {known}).")


def open_mailbox(settings: MailboxSettings, secret: SecretSource) -> Mailbox:
    return backend_class(settings.backend).from_settings(settings, secret)
