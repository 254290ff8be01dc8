"""The throw-away configuration of the sandbox Dovecot: ``dovecot.conf`` for Dovecot 2.3
or 2.4 (their syntax differs), and a self-signed certificate for its implicit-TLS port.

Everything lives under one temporary folder: Maildirs, state, the LMTP socket and the
passwd-file of users; IMAP listens on a free loopback port.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


def dovecot_version(binary: str) -> tuple[int, int]:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
    parts = (out.split() or ["2.3"])[0].split(".")
    try:
        return int(parts[0]), int(parts[1])
    except (IndexError, ValueError):
        return 2, 3


def _ssl_23(root: Path, tls_port: int) -> str:
    if not tls_port:
        return "ssl = no"
    return f"ssl = yes\nssl_cert = <{root}/cert.pem\nssl_key = <{root}/key.pem"


def _ssl_24(root: Path, tls_port: int) -> str:
    if not tls_port:
        return "ssl = no"
    return f"ssl = yes\nssl_server_cert_file = {root}/cert.pem\nssl_server_key_file = {root}/key.pem"


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A one-day self-signed certificate for 127.0.0.1 (cert.pem, key.pem)."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            # 127.0.0.1 only, so a connection to "localhost" shows a host name mismatch.
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


def config_23(root: Path, port: int, user: str, group: str, tls_port: int) -> str:
    return f"""\
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{_ssl_23(root, tls_port)}
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:{root}/mail/%u/Maildir
mail_uid = {user}
mail_gid = {group}
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
mail_plugins = $mail_plugins
imap_capability = +SPECIAL-USE
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users
}}
userdb {{
  driver = static
  args = home={root}/mail/%u allow_all_users=yes
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@localhost
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {tls_port}
  }}
}}
service lmtp {{
  unix_listener {root}/lmtp {{
    mode = 0666
  }}
}}
"""


def config_24(root: Path, port: int, user: str, group: str, tls_port: int) -> str:
    return f"""\
dovecot_config_version = 2.4.1
dovecot_storage_version = 2.4.1
protocols = imap lmtp
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
{_ssl_24(root, tls_port)}
auth_allow_cleartext = yes
auth_mechanisms = plain login
mail_driver = maildir
mail_path = {root}/mail/%{{user}}/Maildir
mail_uid = {user}
mail_gid = {group}
first_valid_uid = 1
first_valid_gid = 1
default_internal_user = {user}
default_internal_group = {group}
default_login_user = {user}
passdb passwd-file {{
  passwd_file_path = {root}/users
  default_password_scheme = PLAIN
}}
userdb static {{
  fields {{
    home = {root}/mail/%{{user}}
  }}
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Sent {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \\Trash
    auto = subscribe
  }}
}}
protocol lmtp {{
  postmaster_address = postmaster@localhost
}}
service imap-login {{
  inet_listener imap {{
    listen = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    listen = 127.0.0.1
    port = {tls_port}
  }}
}}
service lmtp {{
  unix_listener {root}/lmtp {{
    mode = 0666
  }}
}}
"""


def write_config(root: Path, binary: str, port: int, user: str, group: str, tls_port: int) -> Path:
    """Write ``root/dovecot.conf`` for the installed Dovecot's version; its path."""
    template = config_24 if dovecot_version(binary) >= (2, 4) else config_23
    conf = root / "dovecot.conf"
    conf.write_text(template(root, port, user, group, tls_port), encoding="utf-8")
    return conf
