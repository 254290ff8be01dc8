"""Secrets in the OS keyring, and nowhere else.

``CredentialStore(profile)`` keeps small secrets (a password, a client secret) and large blobs
(the MSAL token cache) under keyring service names ``crm-bridge:<profile>:<kind>``.  Windows
Credential Manager refuses values over 2,560 bytes (UTF-16), so blobs are split into shards of
that size plus a manifest entry.  A rewrite stores the new shards under a fresh generation
first and only then switches the manifest, so a crash in between leaves the old value intact.

There is no plaintext fallback: when the keyring is missing, locked, or is one of the
"fail"/"null"/plaintext-file backends, every call raises ``CredentialStoreError``.

``redact()`` and ``RedactingFilter`` mask registered secrets (and bearer tokens, passwords in
URLs) in text and log records; values read from or written to the store are registered
automatically.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import secrets as _secrets
import threading
from collections import OrderedDict
from collections.abc import Iterable
from typing import Any

import keyring
import keyring.errors
from keyring.backends.chainer import ChainerBackend

from addin.errors import CredentialStoreError

SERVICE_PREFIX = "crm-bridge"
# CRED_MAX_CREDENTIAL_BLOB_SIZE on Windows; values are stored as UTF-16, so count bytes that way.
WINDOWS_BLOB_LIMIT = 2560
# Leave headroom: some backends add their own framing to the stored value.
SHARD_BYTES = 2400
_MANIFEST_PREFIX = "crm-bridge-shards/1 "
_RAW_PREFIX = "crm-bridge-raw/1 "
MASK = "***"

_lock = threading.RLock()
log = logging.getLogger(__name__)


class DamagedSecretError(CredentialStoreError):
    """A sharded value is incomplete or fails its checksum (the keyring itself works)."""

    title = "Saved data is damaged"


# Backends that would store secrets unencrypted or not at all.
_REFUSED_BACKENDS = {
    ("keyring.backends.fail", "Keyring"),
    ("keyring.backends.null", "Keyring"),
    ("keyrings.alt.file", "PlaintextKeyring"),
}


# Where a person learns what to install; the wording matches docs/CONNECT.md's keyring section.
KEYRING_HINT = (
    "Install or unlock a keyring service (on a Linux desktop: GNOME Keyring, or KeePassXC with "
    "Secret Service integration on; see docs/CONNECT.md). Secrets are never stored in plain files."
)


def service_name(profile: str, kind: str) -> str:
    for part in (profile, kind):
        if not part or ":" in part:
            raise ValueError(f"invalid credential profile/kind {part!r}")
    return f"{SERVICE_PREFIX}:{profile}:{kind}"


def _backend() -> Any:
    try:
        backend = keyring.get_keyring()
    except keyring.errors.KeyringError as exc:
        raise CredentialStoreError(f"The system keyring could not be opened: {exc}. {KEYRING_HINT}") from exc
    except (ImportError, AttributeError, ValueError) as exc:
        # keyring imports the backend named in PYTHON_KEYRING_BACKEND (or its config file) as is.
        raise CredentialStoreError(
            "The keyring backend chosen in PYTHON_KEYRING_BACKEND or keyringrc.cfg cannot be loaded "
            f"({type(exc).__name__}). Fix: unset it or name an installed backend. {KEYRING_HINT}"
        ) from exc
    if isinstance(backend, ChainerBackend):
        # The chainer falls through to the next backend when one fails, which could be a
        # plaintext file: use its best acceptable backend directly so a failure stays a failure.
        chained = [b for b in backend.backends if _ident(b) not in _REFUSED_BACKENDS]
        if not chained:
            raise CredentialStoreError(f"No secure system keyring is available. {KEYRING_HINT}")
        return chained[0]
    ident = _ident(backend)
    if ident in _REFUSED_BACKENDS:
        log.info("refused keyring backend %s.%s", *ident)
        raise CredentialStoreError(f"No secure system keyring is available. {KEYRING_HINT}")
    return backend


def has_secure_keyring() -> bool:
    """False when no acceptable keyring exists at all (so none can hold this app's secrets)."""
    try:
        with _lock:
            _backend()
    except CredentialStoreError:
        return False
    return True


def _ident(backend: object) -> tuple[str, str]:
    return (type(backend).__module__, type(backend).__name__)


def _convert(exc: Exception, action: str) -> CredentialStoreError:
    if isinstance(exc, keyring.errors.KeyringLocked):
        return CredentialStoreError(f"The system keyring is locked; unlock it to {action}.")
    if isinstance(exc, keyring.errors.NoKeyringError):
        return CredentialStoreError(f"No system keyring is available to {action}.")
    return CredentialStoreError(f"The system keyring refused to {action} ({type(exc).__name__}).")


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le"))


def split_for_keyring(value: str, limit: int = SHARD_BYTES) -> list[str]:
    """Split ``value`` into pieces whose UTF-16 size is at most ``limit`` bytes each."""
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for ch in value:
        width = 4 if ord(ch) > 0xFFFF else 2
        if size + width > limit and current:
            pieces.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += width
    if current or not pieces:
        pieces.append("".join(current))
    return pieces


class CredentialStore:
    """Secrets of one profile (``default`` unless the user has several CRM/mailbox setups)."""

    def __init__(self, profile: str = "default") -> None:
        service_name(profile, "check")
        self.profile = profile

    @staticmethod
    def backend_name() -> str:
        """The keyring in use (for Settings and diagnostics); CredentialStoreError if unusable."""
        with _lock:
            backend = _backend()
        return f"{type(backend).__module__}.{type(backend).__name__}"

    # -- small secrets ---------------------------------------------------------------------
    def get(self, kind: str, name: str = "secret") -> str | None:
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                value: str | None = backend.get_password(service, name)
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "read a saved secret") from exc
        if value is not None:
            register_secret(value)
        return value

    def set(self, kind: str, value: str, name: str = "secret") -> None:
        if _utf16_len(value) > WINDOWS_BLOB_LIMIT:
            raise CredentialStoreError(
                f"The {kind} secret is too large for a single keyring entry; store it with set_blob()."
            )
        register_secret(value)
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                backend.set_password(service, name, value)
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "save a secret") from exc

    def delete(self, kind: str, name: str = "secret") -> bool:
        """Remove a secret; False if there was none."""
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                if backend.get_password(service, name) is None:
                    return False
                backend.delete_password(service, name)
            except keyring.errors.PasswordDeleteError:
                return False
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "delete a secret") from exc
        return True

    # -- blobs of any size -----------------------------------------------------------------
    def get_blob(self, kind: str, name: str = "blob") -> str | None:
        """Read a blob stored by ``set_blob``; raises CredentialStoreError if it is damaged."""
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                head = backend.get_password(service, name)
                if head is None:
                    return None
                if head.startswith(_RAW_PREFIX):
                    return str(head[len(_RAW_PREFIX) :])
                if not head.startswith(_MANIFEST_PREFIX):
                    raise DamagedSecretError(f"The saved {kind} data is not in a known format.")
                generation, count, digest = _parse_manifest(head, kind)
                parts = []
                for index in range(count):
                    part = backend.get_password(service, _shard_name(name, generation, index))
                    if part is None:
                        raise DamagedSecretError(f"Part of the saved {kind} data is missing.")
                    parts.append(part)
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "read saved data") from exc
        value = "".join(parts)
        if _digest(value) != digest:
            raise DamagedSecretError(f"The saved {kind} data is damaged.")
        return value

    def blob_version(self, kind: str, name: str = "blob") -> str | None:
        """A short fingerprint that changes whenever the blob is rewritten; one keyring read."""
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                head = backend.get_password(service, name)
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "read saved data") from exc
        return None if head is None else _digest(head)

    def set_blob(self, kind: str, value: str, name: str = "blob") -> None:
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                old_head = backend.get_password(service, name)
                if _utf16_len(_RAW_PREFIX + value) <= SHARD_BYTES:
                    backend.set_password(service, name, _RAW_PREFIX + value)
                else:
                    pieces = split_for_keyring(value)
                    generation = _secrets.token_hex(4)
                    for index, piece in enumerate(pieces):
                        backend.set_password(service, _shard_name(name, generation, index), piece)
                    # The manifest is written last: until then readers still see the old value.
                    manifest = f"{_MANIFEST_PREFIX}{generation} {len(pieces)} {_digest(value)}"
                    backend.set_password(service, name, manifest)
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "save data") from exc
            self._drop_shards(backend, service, name, old_head, kind)

    def delete_blob(self, kind: str, name: str = "blob") -> bool:
        service = service_name(self.profile, kind)
        with _lock:
            backend = _backend()
            try:
                head = backend.get_password(service, name)
                if head is None:
                    return False
                backend.delete_password(service, name)
            except keyring.errors.PasswordDeleteError:
                return False
            except keyring.errors.KeyringError as exc:
                raise _convert(exc, "delete saved data") from exc
            self._drop_shards(backend, service, name, head, kind)
        return True

    @staticmethod
    def _drop_shards(backend: Any, service: str, name: str, head: str | None, kind: str) -> None:
        """Best-effort removal of an old generation's shards (a leftover only wastes space)."""
        if not head or not head.startswith(_MANIFEST_PREFIX):
            return
        try:
            generation, count, _ = _parse_manifest(head, kind)
        except DamagedSecretError:
            return
        for index in range(count):
            try:
                backend.delete_password(service, _shard_name(name, generation, index))
            except keyring.errors.KeyringError:
                log.debug("could not remove an old %s shard", kind)


def _shard_name(name: str, generation: str, index: int) -> str:
    return f"{name}#{generation}.{index}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]


def _parse_manifest(head: str, kind: str) -> tuple[str, int, str]:
    try:
        generation, count_text, digest = head[len(_MANIFEST_PREFIX) :].split(" ")
        count = int(count_text)
    except ValueError:
        raise DamagedSecretError(f"The saved {kind} data is damaged.") from None
    if count < 1 or count > 10_000:
        raise DamagedSecretError(f"The saved {kind} data is damaged.")
    return generation, count, digest


# -- redaction -------------------------------------------------------------------------------

_MAX_REGISTERED = 512
_MIN_SECRET_LEN = 4
_registered: OrderedDict[str, None] = OrderedDict()
_registered_lock = threading.Lock()
_WORD = re.compile(r"[a-z]{1,16}")


@functools.lru_cache(maxsize=1024)
def _whole(value: str) -> re.Pattern[str]:
    """``value`` where it is not glued to letters or digits on either side."""
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])")


_PATTERNS = [
    # Authorization headers and bearer tokens wherever they appear.
    (re.compile(r"(?i)\b(bearer|basic|ntlm|negotiate)\s+[A-Za-z0-9\-._~+/]+=*"), r"\1 " + MASK),
    (re.compile(r"(?i)(authorization['\"]?\s*[:=]\s*['\"]?)[^'\"\r\n,}]+"), r"\1" + MASK),
    # user:password@host in URLs.
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # Secrets passed as query or form parameters.
    (
        re.compile(
            r"(?i)\b(access_token|refresh_token|id_token|client_secret|password|passwd|pwd|code|"
            r"device_code|assertion)=([^&\s'\"]+)"
        ),
        r"\1=" + MASK,
    ),
]


def is_maskable(value: str | None) -> bool:
    """Whether ``value`` can be masked without masking ordinary words.

    A value of only lower-case letters ("sandbox", the well-known demo token) reads as a
    word: masking it would turn "The sandbox injected a 503" into "The *** injected a 503"
    while protecting nothing, so it is not treated as a secret.
    """
    return bool(value) and len(value or "") >= _MIN_SECRET_LEN and not _WORD.fullmatch(value or "")


def register_secret(value: str | None) -> None:
    """Remember a secret so that ``redact`` and ``RedactingFilter`` mask it from now on."""
    if value is None or not is_maskable(value):
        return
    with _registered_lock:
        _registered[value] = None
        _registered.move_to_end(value)
        while len(_registered) > _MAX_REGISTERED:
            _registered.popitem(last=False)


def forget_secret(value: str) -> None:
    with _registered_lock:
        _registered.pop(value, None)


def redact(text: str, secrets: Iterable[str] | None = None) -> str:
    """Mask ``secrets`` (plus every registered secret) and well-known secret shapes in ``text``."""
    with _registered_lock:
        known = list(_registered)
    if secrets is not None:
        known.extend(s for s in secrets if is_maskable(s))
    # Longest first, so a secret containing another one is masked as a whole.  Only whole
    # occurrences: a secret that is part of a longer word or token is that token, not the secret.
    for value in sorted(set(known), key=len, reverse=True):
        if value in text:
            text = _whole(value).sub(MASK, text)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in the message, its arguments and the traceback.

    Attach it to *handlers* (filters on a logger do not see records propagated from child
    loggers); ``install_redaction()`` does that for the root logger's handlers.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._extra = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not kill logging
            message = str(record.msg)
        record.msg = redact(message, self._extra)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._extra)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._extra)
        return True
