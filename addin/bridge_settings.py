"""The facade's part for settings, secrets and sign-in (mixed into :class:`addin.bridge.Bridge`).

A change reconnects only what it invalidates: the engine objects are built again from the
profile at their next use (:meth:`addin.bridge_engine.Engine.reset`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from addin import paths
from addin.compose import microsoft_sign_in, open_crm, open_profile_mailbox
from addin.config import Config, Profile
from addin.engine.profile_settings import pace_policy
from addin.errors import AuthError, ConfigError
from addin.mailbox.types import MailboxInfo
from addin.signin import SignInMethod
from addin.state import BridgeState

if TYPE_CHECKING:
    from addin.bridge_engine import Engine
    from addin.engine.poll_pace import PollPace
    from addin.engine.scheduler import Scheduler
    from addin.secrets import SecretStore

SECRET_KINDS = ("mailbox", "crm")
# Which job's interval each setting sets.
POLL_SETTINGS = {"mailbox": "tracking.poll_seconds", "outbox": "sending.poll_seconds"}


class SettingsFacade:
    profile: Profile
    config: Config | None
    secrets: SecretStore
    _engine: Engine
    _scheduler: Scheduler
    _outbox_pace: PollPace

    if TYPE_CHECKING:  # provided by the Bridge

        def sync_now(self) -> None: ...

    def settings(self) -> dict[str, Any]:
        return dict(self.profile.values)

    def update_settings(self, changes: dict[str, Any]) -> None:
        self.profile.update(changes)
        if self.config is not None:
            self.config.save()
        signin = any(k.startswith("auth.") for k in changes)  # shared by both sides
        self._reconnect(
            # sending.bcc_self is a mailbox option (the hidden copy is the backend's job).
            mailbox=signin or any(k.startswith("mailbox.") or k == "sending.bcc_self" for k in changes),
            crm=signin or any(k.startswith("crm.") for k in changes),
        )
        self.sync_now()

    def set_secret(self, kind: str, secret: str) -> None:
        if kind not in SECRET_KINDS:
            raise ConfigError(f"Unknown secret kind {kind!r}.")
        self.secrets.set(kind, secret)
        self._reconnect(mailbox=kind == "mailbox", crm=kind == "crm")
        if self._scheduler.state is BridgeState.CREDENTIALS_NEEDED:
            self._scheduler.resume()

    def sign_in(self, method: str | None = None, on_device_code: Callable[[str], None] | None = None) -> str:
        """Microsoft sign-in now (the Fix of "Sign-in needed"): browser or device code; the user name.

        One sign-in serves the CRM online and a Graph mailbox; the engine resumes afterwards.
        """
        sign_in = microsoft_sign_in(self.profile)
        if not sign_in.resources:
            raise ConfigError(
                "This profile uses no Microsoft sign-in (CRM sign-in method or mail server type).",
                title="Nothing to sign in to",
            )
        if on_device_code is not None:
            sign_in.on_device_code = on_device_code
        sign_in.sign_in(method=SignInMethod(method) if method else None)
        if self._scheduler.state is BridgeState.CREDENTIALS_NEEDED:
            self._scheduler.resume()
        return ", ".join(sign_in.accounts())

    def sign_out(self) -> None:
        """Forget the profile's Microsoft sign-in (the keyring's token cache is deleted)."""
        microsoft_sign_in(self.profile).sign_out()

    def auth_error(self) -> AuthError | None:
        """The sign-in problem that stopped the engine, if any (its ``fix_action`` says the fix)."""
        return self._scheduler.auth_error

    def _reconnect(self, *, mailbox: bool, crm: bool) -> None:
        """Drop what the changed settings invalidate; the next use rebuilds it from the profile."""
        self._engine.reset(mailbox=mailbox, crm=crm)
        for job in self._scheduler.jobs:
            job.interval = timedelta(seconds=int(self.profile.get(POLL_SETTINGS[job.name])))
        self._outbox_pace.policy = pace_policy(self.profile)

    def test_mailbox(self, values: dict[str, Any], secret: str | None = None) -> MailboxInfo:
        trial = Profile(self.profile.name, dict(self.profile.values))
        trial.update(values)
        source = secret or self.secrets.get("mailbox") or ""
        # A Graph mailbox is tested with a token from the profile's Microsoft sign-in.
        mailbox = open_profile_mailbox(trial.mailbox_settings(), trial, lambda: source)
        try:
            return mailbox.check()
        finally:
            mailbox.close()

    def test_crm(self, values: dict[str, Any], secret: str | None = None) -> str:
        trial = Profile(self.profile.name, dict(self.profile.values))
        trial.update(values)
        if not trial.crm_api_url:
            raise ConfigError("Enter the organisation URL first.")
        given = secret or self.secrets.get("crm") or ""

        def trial_secret() -> str:
            if not given:
                raise AuthError("Enter the CRM password or token first.", service="crm")
            return given

        crm = open_crm(trial, trial_secret, lambda: given or None, timeout=20)
        try:
            ctx = crm.context(refresh=True)
            return ctx.full_name or ctx.email
        finally:
            crm.close()

    def log_dir(self) -> Path:
        return paths.ensure_private_dir(paths.log_dir())
