"""The keyring wrapper: secrets, sharded blobs, refusal of unsafe backends, redaction."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import keyring
import keyring.backends.fail
import keyring.backends.null
import keyring.errors
import pytest

from addin.credentials import (
    MASK,
    SHARD_BYTES,
    WINDOWS_BLOB_LIMIT,
    CredentialStore,
    DamagedSecretError,
    RedactingFilter,
    forget_secret,
    redact,
    register_secret,
    service_name,
    split_for_keyring,
)
from addin.errors import CredentialStoreError


def _entries(backend, service: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {user: value for (svc, user), value in backend.store.items() if svc == service}


def test_secret_round_trip_under_the_profile_service_name(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore("work")
    assert store.backend_name().endswith(".MemoryKeyring")
    assert store.get("imap") is None
    store.set("imap", "hunter2-password", name="anna@contoso.com")
    assert memory_keyring.store[("crm-bridge:work:imap", "anna@contoso.com")] == "hunter2-password"
    assert store.get("imap", name="anna@contoso.com") == "hunter2-password"
    assert store.delete("imap", name="anna@contoso.com") is True
    assert store.delete("imap", name="anna@contoso.com") is False
    assert store.get("imap", name="anna@contoso.com") is None


def test_names_cannot_smuggle_separators() -> None:
    assert service_name("default", "msal-cache") == "crm-bridge:default:msal-cache"
    with pytest.raises(ValueError):
        service_name("a:b", "x")
    with pytest.raises(ValueError):
        CredentialStore("")


def test_a_secret_too_big_for_windows_is_refused_not_truncated(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(CredentialStoreError, match="set_blob"):
        CredentialStore().set("token", "x" * 1281)  # 2,562 UTF-16 bytes
    assert memory_keyring.store == {}


def test_small_blob_is_one_entry(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore()
    store.set_blob("msal-cache", '{"AccessToken": {}}')
    assert len(_entries(memory_keyring, "crm-bridge:default:msal-cache")) == 1
    assert store.get_blob("msal-cache") == '{"AccessToken": {}}'


def test_large_blob_is_sharded_under_the_windows_limit(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    # Mixed widths: ASCII, BMP (2 bytes in UTF-16) and astral characters (4 bytes, surrogate pairs).
    value = ("token-" * 2000) + ("é" * 900) + ("\U0001f600" * 700) + "end"
    store = CredentialStore()
    store.set_blob("msal-cache", value)
    entries = _entries(memory_keyring, "crm-bridge:default:msal-cache")
    assert len(entries) > 5
    assert all(len(v.encode("utf-16-le")) <= WINDOWS_BLOB_LIMIT for v in entries.values())
    assert store.get_blob("msal-cache") == value
    # Rewriting replaces the shards instead of piling them up.
    store.set_blob("msal-cache", value[::-1])
    again = _entries(memory_keyring, "crm-bridge:default:msal-cache")
    assert len(again) == len(entries)
    assert store.get_blob("msal-cache") == value[::-1]
    # Shrinking to a single entry removes every shard.
    store.set_blob("msal-cache", "small")
    assert len(_entries(memory_keyring, "crm-bridge:default:msal-cache")) == 1
    assert store.delete_blob("msal-cache") is True
    assert _entries(memory_keyring, "crm-bridge:default:msal-cache") == {}
    assert store.get_blob("msal-cache") is None


def test_blob_version_changes_with_every_rewrite_and_reads_one_entry(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore()
    assert store.blob_version("msal-cache") is None
    seen = set()
    for value in ("small", "x" * 9000, "y" * 9000, "x" * 9000, "small"):
        store.set_blob("msal-cache", value)
        seen.add(store.blob_version("msal-cache"))
    # A sharded rewrite with equal content still gets a new generation, hence a new version.
    assert len(seen) == 4
    reads: list[str] = []
    original = memory_keyring.get_password
    monkeypatch.setattr(memory_keyring, "get_password", lambda s, u: reads.append(u) or original(s, u))
    store.set_blob("msal-cache", "z" * 9000)
    reads.clear()
    store.blob_version("msal-cache")
    assert reads == ["blob"]  # the manifest only, not the shards
    store.delete_blob("msal-cache")
    assert store.blob_version("msal-cache") is None


def test_split_never_breaks_a_surrogate_pair() -> None:
    value = "a" + "\U0001f600" * 5000
    pieces = split_for_keyring(value, limit=SHARD_BYTES)
    assert "".join(pieces) == value
    assert all(len(p.encode("utf-16-le")) <= SHARD_BYTES for p in pieces)
    assert split_for_keyring("") == [""]


def test_interrupted_rewrite_keeps_the_old_value(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore()
    old = "old-" * 3000
    store.set_blob("msal-cache", old)
    writes = {"n": 0}
    real_set = memory_keyring.set_password

    def failing_set(service: str, username: str, password: str) -> None:
        writes["n"] += 1
        if writes["n"] == 3:
            raise keyring.errors.PasswordSetError("disk full")
        real_set(service, username, password)

    monkeypatch.setattr(memory_keyring, "set_password", failing_set)
    with pytest.raises(CredentialStoreError):
        store.set_blob("msal-cache", "new-" * 3000)
    monkeypatch.setattr(memory_keyring, "set_password", real_set)
    assert store.get_blob("msal-cache") == old


def test_damaged_shards_are_detected(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore()
    store.set_blob("msal-cache", "v" * 5000)
    shard = next(k for k in memory_keyring.store if "#" in k[1])
    memory_keyring.store[shard] = memory_keyring.store[shard][:-1] + "X"
    with pytest.raises(DamagedSecretError, match="damaged"):
        store.get_blob("msal-cache")
    del memory_keyring.store[shard]
    with pytest.raises(DamagedSecretError, match="missing"):
        store.get_blob("msal-cache")


@pytest.mark.parametrize("backend", [keyring.backends.fail.Keyring(), keyring.backends.null.Keyring()])
def test_fail_and_null_backends_are_refused(backend, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    keyring.set_keyring(backend)
    store = CredentialStore()
    with pytest.raises(CredentialStoreError, match="No secure system keyring"):
        store.backend_name()
    with pytest.raises(CredentialStoreError, match="No secure system keyring"):
        store.set("imap", "secret-value")
    with pytest.raises(CredentialStoreError):
        store.get("imap")
    with pytest.raises(CredentialStoreError):
        store.set_blob("msal-cache", "x" * 10_000)
    # No plaintext fallback: nothing was written anywhere under the test's home.
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_locked_keyring_gives_a_clear_error(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def locked(*args: object) -> None:
        raise keyring.errors.KeyringLocked("locked")

    monkeypatch.setattr(memory_keyring, "get_password", locked)
    with pytest.raises(CredentialStoreError, match="locked"):
        CredentialStore().get("imap")


def test_concurrent_blob_writers_never_leave_a_torn_value(memory_keyring) -> None:  # type: ignore[no-untyped-def]
    store = CredentialStore()
    values = [chr(ord("a") + i) * 6000 for i in range(4)]
    errors: list[BaseException] = []

    def work(value: str) -> None:
        try:
            for _ in range(20):
                store.set_blob("msal-cache", value)
                assert store.get_blob("msal-cache") in values
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(v,)) for v in values]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.get_blob("msal-cache") in values
    # Old generations were cleaned up: one manifest plus one generation of shards.
    shards = [k for k in memory_keyring.store if "#" in k[1]]
    assert len({k[1].split("#")[1].split(".")[0] for k in shards}) == 1


# -- redaction -------------------------------------------------------------------------------------


def test_redact_masks_given_and_registered_secrets() -> None:
    register_secret("reg-secret-123")
    try:
        text = "token=abc sent reg-secret-123 and my-own-pass to the server"
        out = redact(text, ["my-own-pass"])
        assert "reg-secret-123" not in out and "my-own-pass" not in out
        assert out.count(MASK) == 2
    finally:
        forget_secret("reg-secret-123")
    assert "reg-secret-123" in redact("reg-secret-123")


def test_redact_masks_secret_shapes_without_registration() -> None:
    samples = {
        "Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.abc-def_ghi": "eyJ0eXAi",
        "headers={'Authorization': 'Bearer sandbox-token'}": "sandbox-token",
        "https://anna:P%40ssw0rd@crm.contoso.com/api": "P%40ssw0rd",
        "POST /token grant_type=refresh_token&refresh_token=0.AAAA-bbb&client_id=x": "0.AAAA-bbb",
        "GET /cb?code=SplxlOBeZQQYbYS6WxSbIA&state=1": "SplxlOBeZQQYbYS6WxSbIA",
        "login with password=hunter2 failed": "hunter2",
    }
    for text, secret in samples.items():
        assert secret not in redact(text), text


def test_logging_filter_masks_message_args_and_traceback(caplog: pytest.LogCaptureFixture) -> None:
    token = "tok-" + "q" * 40
    flt = RedactingFilter([token])
    caplog.handler.addFilter(flt)
    logger = logging.getLogger("addin.test.redaction")
    try:
        with caplog.at_level(logging.DEBUG, logger="addin.test.redaction"):
            logger.info("sending %s with header %r", "request", {"Authorization": f"Bearer {token}"})
            try:
                raise RuntimeError(f"server echoed {token}")
            except RuntimeError:
                logger.exception("failed")
    finally:
        caplog.handler.removeFilter(flt)
    assert token not in caplog.text
    assert "sending request" in caplog.text
    assert "RuntimeError: server echoed ***" in caplog.text


def test_chained_keyrings_never_fall_through_to_plaintext(memory_keyring, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from keyring.backends.chainer import ChainerBackend

    class PlaintextKeyring(type(memory_keyring)):  # type: ignore[misc]
        """Stands in for keyrings.alt.file.PlaintextKeyring (same module and class name)."""

    PlaintextKeyring.__module__ = "keyrings.alt.file"
    plaintext = PlaintextKeyring()

    class Locked(type(memory_keyring)):  # type: ignore[misc]
        def set_password(self, service: str, username: str, password: str) -> None:
            raise keyring.errors.KeyringLocked("locked")

    chain = [Locked(), plaintext]
    monkeypatch.setattr(ChainerBackend, "backends", chain)
    keyring.set_keyring(ChainerBackend())
    with pytest.raises(CredentialStoreError, match="locked"):
        CredentialStore().set("imap", "never-in-a-file")
    assert plaintext.store == {}
    monkeypatch.setattr(ChainerBackend, "backends", [plaintext])
    with pytest.raises(CredentialStoreError, match="No secure system keyring"):
        CredentialStore().set("imap", "never-in-a-file")
    assert plaintext.store == {}


def test_redact_masks_whole_secrets_only_and_never_a_word() -> None:
    from addin.credentials import is_maskable

    register_secret("sandbox")  # the demo token is a word: not a secret, never masked
    register_secret("Tr0ub4dor&3")
    try:
        assert not is_maskable("sandbox")
        assert redact("The sandbox injected a 503 failure") == "The sandbox injected a 503 failure"
        assert redact("password is Tr0ub4dor&3.") == "password is ***."
        assert redact("(Tr0ub4dor&3)") == "(***)"
        # Part of a longer token is that token, not the secret.
        assert redact("xTr0ub4dor&3y") == "xTr0ub4dor&3y"
    finally:
        forget_secret("Tr0ub4dor&3")


def test_an_unloadable_keyring_backend_is_a_clear_error(tmp_path: Path) -> None:
    """keyring imports the backend PYTHON_KEYRING_BACKEND names as is; one that does not exist is
    the user's to fix, said in words (exit 2), never an internal error."""
    import json
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "PYTHON_KEYRING_BACKEND": "no_such_module.Keyring",
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "addin", "--json", "config", "secret", "mailbox"],
        input="pw\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    error = json.loads(done.stdout)["error"]
    assert "PYTHON_KEYRING_BACKEND" in error["message"] and "Traceback" not in done.stderr
