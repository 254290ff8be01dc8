"""A keyring back end in one JSON file, for tests that run the installed program as a process.

No Secret Service daemon runs on the test machines, and the in-memory keyring of
tests/conftest.py does not reach another process; keyring loads this one by name
(PYTHON_KEYRING_BACKEND=file_keyring.FileKeyring, with this folder on PYTHONPATH and the file
in CRM_BRIDGE_TEST_KEYRING).  Never used outside the tests.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError


class FileKeyring(KeyringBackend):
    priority = 1  # type: ignore[assignment]

    @property
    def path(self) -> Path:
        return Path(os.environ["CRM_BRIDGE_TEST_KEYRING"])

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        data: dict[str, str] = json.loads(self.path.read_text())
        return data

    def get_password(self, service: str, username: str) -> str | None:
        return self._load().get(f"{service}\n{username}")

    def set_password(self, service: str, username: str, password: str) -> None:
        data = self._load()
        data[f"{service}\n{username}"] = password
        self.path.write_text(json.dumps(data))

    def delete_password(self, service: str, username: str) -> None:
        data = self._load()
        if data.pop(f"{service}\n{username}", None) is None:
            raise PasswordDeleteError(username)
        self.path.write_text(json.dumps(data))
