"""Where the facade gets the mailbox and CRM secrets: the OS keyring, or memory for the demo."""

from __future__ import annotations

from typing import Protocol

from addin.credentials import CredentialStore


class SecretStore(Protocol):
    def get(self, kind: str) -> str | None: ...

    def set(self, kind: str, value: str) -> None: ...


class KeyringSecrets:
    """The profile's secrets in the system keyring (``kind`` is "mailbox" or "crm")."""

    def __init__(self, store: CredentialStore) -> None:
        self._store = store

    def get(self, kind: str) -> str | None:
        value = self._store.get(kind)
        return str(value) if value else None

    def set(self, kind: str, value: str) -> None:
        self._store.set(kind, value)


class MemorySecrets:
    """Secrets held in memory only (the demo's well-known sandbox passwords; tests)."""

    def __init__(self, values: dict[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def get(self, kind: str) -> str | None:
        return self._values.get(kind)

    def set(self, kind: str, value: str) -> None:
        self._values[kind] = value
