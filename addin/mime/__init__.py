"""The one reading of Internet mail (RFC 5322/2045/2047/2231/6532) for the whole product.

Every path that meets raw MIME calls this package: a dropped ``.eml`` file
(``addin.engine.mime``), a mailbox backend that reads MIME (IMAP, Graph), and the sandbox
Exchange when it files delivered mail.  So one message reads the same everywhere:

- ``read_mime(data) -> MimeMessage`` never raises; it reads leniently and warns.
- ``refusal(data)`` says why bytes are not a message (``EMPTY_REASON``/``NO_HEADERS_REASON``).
- ``parse_address_list(text)`` and ``header_text(value)`` for header text from elsewhere
  (an Outlook file's transport headers).

Attachments are ``addin.mailbox.types.Attachment`` values, counted as Exchange counts them
(see ``addin.mime.parts``).
"""

from addin.mime.headers import addresses, header_text, parse_address_list
from addin.mime.reader import EMPTY_REASON, NO_HEADERS_REASON, MimeMessage, parse_bytes, read_mime, refusal

__all__ = [
    "EMPTY_REASON",
    "NO_HEADERS_REASON",
    "MimeMessage",
    "addresses",
    "header_text",
    "parse_address_list",
    "parse_bytes",
    "read_mime",
    "refusal",
]
