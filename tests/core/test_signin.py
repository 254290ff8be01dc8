"""Microsoft sign-in wiring that cannot run on this machine: the Windows broker (WAM).

MSAL's broker needs Windows and pymsalruntime, so MSAL itself is replaced here by a recorder of
the arguments the bridge passes; the real MSAL flows run in tests/integration/test_msal_signin.py.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from addin.credentials import CredentialStore
from addin.errors import ConfigError
from addin.signin import (
    GRAPH_MAIL_SCOPES,
    KeyringTokenCache,
    MicrosoftSignIn,
    SignInConfig,
    broker_wanted,
    dataverse_scopes,
    resource_of,
)


class RecordingApp:
    CONSOLE_WINDOW_HANDLE = object()

    def __init__(self, client_id: str, **kwargs: Any) -> None:
        self.client_id = client_id
        self.kwargs = kwargs
        self.interactive: list[dict[str, Any]] = []

    def acquire_token_interactive(self, scopes: list[str], **kwargs: Any) -> dict[str, Any]:
        self.interactive.append({"scopes": scopes, **kwargs})
        return {"access_token": "at-" + "x" * 40}


def make(config: SignInConfig, window: int | None = None) -> tuple[MicrosoftSignIn, list[RecordingApp]]:
    apps: list[RecordingApp] = []

    def factory(client_id: str, **kwargs: Any) -> RecordingApp:
        apps.append(RecordingApp(client_id, **kwargs))
        return apps[-1]

    signin = MicrosoftSignIn(
        config, KeyringTokenCache(CredentialStore("work")), app_factory=factory, window_handle=window
    )
    return signin, apps


def test_broker_only_on_windows_and_only_when_enabled() -> None:
    on = SignInConfig(client_id="app")
    off = SignInConfig(client_id="app", broker=False)
    assert broker_wanted(on, "win32") and not broker_wanted(off, "win32")
    assert not broker_wanted(on, "linux") and not broker_wanted(on, "darwin")


def test_on_windows_the_broker_is_requested_with_a_parent_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    signin, apps = make(SignInConfig(client_id="app-id", tenant="contoso.com"), window=4242)
    signin.register(GRAPH_MAIL_SCOPES)
    signin.register(dataverse_scopes("https://contoso.crm.dynamics.com"))
    signin.sign_in()
    (app,) = apps
    assert app.client_id == "app-id"
    assert app.kwargs["enable_broker_on_windows"] is True
    assert app.kwargs["authority"] == "https://login.microsoftonline.com/contoso.com"
    assert "instance_discovery" not in app.kwargs  # Microsoft's own authority is validated
    (call,) = app.interactive
    assert call["parent_window_handle"] == 4242 and call["scopes"] == list(GRAPH_MAIL_SCOPES)
    assert call["extra_scopes_to_consent"] == ["https://contoso.crm.dynamics.com/user_impersonation"]


def test_the_console_window_is_the_parent_without_a_gui(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "win32")
    signin, apps = make(SignInConfig(client_id="app-id"))
    signin.sign_in(GRAPH_MAIL_SCOPES)
    assert apps[0].interactive[0]["parent_window_handle"] is RecordingApp.CONSOLE_WINDOW_HANDLE


def test_elsewhere_no_broker_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "platform", "linux")
    signin, apps = make(SignInConfig(client_id="app-id"))
    signin.sign_in(GRAPH_MAIL_SCOPES)
    assert "enable_broker_on_windows" not in apps[0].kwargs
    assert "parent_window_handle" not in apps[0].interactive[0]


def test_scopes_name_one_resource_each() -> None:
    assert dataverse_scopes("https://contoso.crm4.dynamics.com/api/data/v9.2/") == (
        "https://contoso.crm4.dynamics.com/user_impersonation",
    )
    assert resource_of(GRAPH_MAIL_SCOPES) == "https://graph.microsoft.com"
    assert {s.rsplit("/", 1)[1] for s in GRAPH_MAIL_SCOPES} == {
        "Mail.ReadWrite",
        "Mail.Send",
        "MailboxSettings.ReadWrite",
        "User.Read",
    }
    with pytest.raises(ConfigError, match="https"):
        dataverse_scopes("http://crm.contoso.local/org")


def test_a_national_cloud_authority_and_no_client_id() -> None:
    cfg = SignInConfig(client_id="app", authority_host="https://login.microsoftonline.us/", tenant="")
    assert cfg.authority == "https://login.microsoftonline.us/organizations"
    with pytest.raises(ConfigError, match="application \\(client\\) id"):
        SignInConfig(client_id=" ").check()
    with pytest.raises(ConfigError, match="https"):
        SignInConfig(client_id="app", authority_host="http://login.example").check()
