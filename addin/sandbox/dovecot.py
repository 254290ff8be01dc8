"""Real mail servers on loopback for the IMAP backend's tests and demo.

:class:`DovecotServer` runs Debian's Dovecot (``dovecot-imapd`` + ``dovecot-lmtpd``) in
the foreground with a throw-away configuration: a free loopback port for IMAP, an LMTP
socket for delivery, Maildirs and state under a temporary folder, and users from a
passwd-file written here.  :class:`SubmissionServer` is an aiosmtpd submission server
(AUTH PLAIN/LOGIN) that hands every accepted message to that Dovecot's LMTP, so what is
"sent" really lands in the recipients' Dovecot mailboxes and can be counted there.

Dovecot refuses to access mail as root, so when run as root the mail belongs to the
``dovecot`` system user; otherwise everything runs as the current user.  Stopping
sends SIGTERM and, as Dovecot can take seconds to wind down, does not wait long.

Fault injection on the submission server: ``drop_after_data`` (deliver, then close
the connection without answering DATA: the lost answer of RFC 1047) and
``refuse_next`` (answer DATA with a temporary failure and deliver nothing).
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import os
import pwd
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import warnings
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from addin.errors import ConfigError
from addin.sandbox.dovecot_config import self_signed, write_config

INSTALL_HINT = (
    "Dovecot is not installed. On Debian or Ubuntu: "
    "sudo apt-get install dovecot-imapd dovecot-lmtpd (the tests and the IMAP demo start "
    "their own throw-away Dovecot; no system service is needed)."
)


def dovecot_binary() -> str | None:
    """The dovecot program; ``CRM_BRIDGE_DOVECOT`` names another one (a path that does not
    exist makes Dovecot count as missing, which tests of the missing case use)."""
    override = os.environ.get("CRM_BRIDGE_DOVECOT")
    if override is not None:
        return override if os.access(override, os.X_OK) else None
    for candidate in (shutil.which("dovecot"), "/usr/sbin/dovecot"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DovecotServer:
    """A throw-away Dovecot (IMAP on loopback, LMTP on a socket) with its own users."""

    def __init__(self, users: dict[str, str], *, root: Path | None = None, tls: bool = False) -> None:
        binary = dovecot_binary()
        if binary is None:
            raise ConfigError(INSTALL_HINT, title="Dovecot missing")
        self.binary = binary
        self.users = dict(users)
        self._own_root = root is None
        self.root = root or Path(tempfile.mkdtemp(prefix="crm-bridge-dovecot-"))
        self.port = 0
        # With tls: an implicit-TLS listener on tls_port, STARTTLS on port, and a self-signed
        # certificate in cert.pem (trust it, or connect without verification on loopback).
        self.tls = tls
        self.tls_port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def lmtp_socket(self) -> Path:
        return self.root / "lmtp"

    @property
    def url(self) -> str:
        return f"imap://{self.host}:{self.port}"

    def start(self) -> DovecotServer:
        if os.geteuid() == 0:
            user, group = "dovecot", "dovecot"
            ids = pwd.getpwnam("dovecot")
        else:
            ids = pwd.getpwuid(os.getuid())
            user = ids.pw_name
            group = user
            with contextlib.suppress(KeyError, ImportError):
                import grp

                group = grp.getgrgid(os.getgid()).gr_name
        self.root.chmod(0o755)  # Dovecot's unprivileged processes must traverse it
        for sub in ("run", "state", "mail"):
            (self.root / sub).mkdir(exist_ok=True)
        if os.geteuid() == 0:
            os.chown(self.root / "mail", ids.pw_uid, ids.pw_gid)
        self._write_users()
        self.port = free_port()
        if self.tls:
            self_signed(self.root)
            self.tls_port = free_port()
        conf = write_config(self.root, self.binary, self.port, user, group, self.tls_port)
        self._proc = subprocess.Popen(
            [self.binary, "-F", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = (self._proc.stderr.read() if self._proc.stderr else b"").decode(errors="replace")
                raise ConfigError(f"Dovecot did not start: {err.strip()[-500:]}", title="Dovecot failed")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=1):
                if self.lmtp_socket.exists():
                    return self
            time.sleep(0.02)
        self.stop()
        raise ConfigError("Dovecot did not open its IMAP port within 20 seconds.", title="Dovecot failed")

    def _write_users(self) -> None:
        lines = [f"{name}:{password}::::::\n" for name, password in self.users.items()]
        path = self.root / "users"
        path.write_text("".join(lines), encoding="utf-8")
        path.chmod(0o644)

    def add_user(self, name: str, password: str) -> None:
        """Users are read from the passwd-file on every login: no restart needed."""
        self.users[name] = password
        self._write_users()

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        if proc is not None and proc.stderr is not None:
            proc.stderr.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> DovecotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- server-side helpers (as "the outside world") ------------------------------------

    def lmtp_deliver(self, mail_from: str, recipients: list[str], data: bytes) -> None:
        """Deliver through LMTP, as a mail server would; raises on any refused recipient."""
        refused: dict[str, Any] = {}
        with smtplib.LMTP(str(self.lmtp_socket)) as lmtp:
            # One transaction per recipient: LMTP answers DATA once per recipient, and
            # smtplib reads only one answer.
            for rcpt in recipients:
                refused.update(lmtp.sendmail(mail_from, [rcpt], data))
        if refused:
            raise ConfigError(f"LMTP refused {sorted(refused)}")

    def append(self, user: str, folder: str, data: bytes) -> None:
        """File a message in a user's folder over IMAP, as another client would."""
        client = imaplib.IMAP4(self.host, self.port, timeout=10)
        try:
            client.login(user, self.users[user])
            client.append(folder, "(\\Seen)", None, data)
        finally:
            with contextlib.suppress(Exception):
                client.logout()

    def maildir_files(self, user: str, folder: str = "INBOX") -> list[Path]:
        """The message files of one folder, straight from disk (for counting copies)."""
        base = self.root / "mail" / user / "Maildir"
        if folder.upper() != "INBOX":
            base = base / ("." + folder.replace("/", "."))
        return sorted(p for sub in ("cur", "new") if (base / sub).is_dir() for p in (base / sub).iterdir())


class SubmissionServer:
    """aiosmtpd submission (AUTH PLAIN/LOGIN/XOAUTH2) delivering into Dovecot; plaintext on
    loopback, with ``tls`` STARTTLS required before AUTH, or with ``implicit_tls`` TLS from the
    start (both with Dovecot's self-signed certificate)."""

    def __init__(self, dovecot: DovecotServer, *, tls: bool = False, implicit_tls: bool = False) -> None:
        self.dovecot = dovecot
        self.tls = tls or implicit_tls
        self.implicit_tls = implicit_tls  # TLS from the first byte (smtps://, port 465 style)
        self.port = 0
        self.accepted = 0
        self.drop_after_data = 0
        self.refuse_next = 0
        # Behave like Gmail or Exchange Online: file a copy of what a user submits in their Sent.
        self.file_sent_copy = False
        # Bearer tokens accepted by AUTH XOAUTH2 (user -> token), as OAuth providers do.
        self.oauth_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._controller: Any = None

    def start(self) -> SubmissionServer:
        try:
            from aiosmtpd.controller import Controller
            from aiosmtpd.smtp import AuthResult, LoginPassword
        except ImportError:
            raise ConfigError(
                "The test SMTP server needs the aiosmtpd package (pip install aiosmtpd).",
                title="aiosmtpd missing",
            ) from None

        users = self.dovecot.users

        def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
            ok = isinstance(data, LoginPassword) and users.get(
                data.login.decode("utf-8", "replace")
            ) == data.password.decode("utf-8", "replace")
            return AuthResult(success=ok)

        outer = self

        class Handler:
            async def auth_XOAUTH2(self, server: Any, args: list[str]) -> Any:
                """SASL XOAUTH2: base64 of ``user=U^Aauth=Bearer T^A^A`` (Google/Microsoft)."""
                try:
                    text = base64.b64decode(args[1]).decode("utf-8")
                    fields = dict(p.split("=", 1) for p in text.split("\x01") if "=" in p)
                    user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
                except (IndexError, KeyError, ValueError):
                    return AuthResult(success=False, handled=False)
                ok = bool(token) and outer.oauth_tokens.get(user) == token
                # handled=False: aiosmtpd itself answers 535 to a refusal.
                return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                with outer._lock:
                    if outer.refuse_next > 0:
                        outer.refuse_next -= 1
                        return "451 4.3.0 Temporary failure, try again later"
                    drop = outer.drop_after_data > 0
                    if drop:
                        outer.drop_after_data -= 1
                content = envelope.original_content or envelope.content
                data = content if isinstance(content, bytes) else str(content).encode("utf-8")
                try:
                    outer.dovecot.lmtp_deliver(envelope.mail_from, list(envelope.rcpt_tos), data)
                except (OSError, smtplib.SMTPException, ConfigError) as exc:
                    return f"451 4.3.0 Local delivery failed: {exc}"[:200]
                if outer.file_sent_copy and envelope.mail_from in users:
                    outer.dovecot.append(envelope.mail_from, "Sent", data)
                with outer._lock:
                    outer.accepted += 1
                if drop:
                    # Delivered, but the client never hears "250": the answer is lost.
                    server.transport.abort()
                return "250 2.0.0 OK queued"

        self.port = free_port()
        # AUTH without TLS is deliberate (loopback only, throw-away passwords); aiosmtpd
        # warns about it on every connection, from its own thread.
        warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
        self._controller = self._make(Controller, Handler(), authenticate)
        self._controller.start()
        return self

    def _make(self, controller: Any, handler: Any, authenticate: Any) -> Any:
        tls: dict[str, Any] = {}
        if self.tls:
            if not self.dovecot.tls:
                raise ConfigError("A TLS submission server needs a Dovecot started with tls=True.")
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(self.dovecot.root / "cert.pem", self.dovecot.root / "key.pem")
            tls = (
                {"ssl_context": context}
                if self.implicit_tls
                else {"tls_context": context, "require_starttls": True}
            )
        return controller(
            handler,
            hostname="127.0.0.1",
            port=self.port,
            authenticator=authenticate,
            # With implicit TLS aiosmtpd does not know the session is encrypted; it is.
            auth_require_tls=self.tls and not self.implicit_tls,
            auth_required=True,
            **tls,
        )

    def stop(self) -> None:
        if self._controller is not None:
            with contextlib.suppress(Exception):
                self._controller.stop()
            self._controller = None

    def __enter__(self) -> SubmissionServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        return f"{'smtps' if self.implicit_tls else 'smtp'}://127.0.0.1:{self.port}"


def sample_message(sender: str, to: str, subject: str, body: str = "Hello.") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(body)
    return msg.as_bytes()
