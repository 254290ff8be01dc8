"""The sandbox Exchange: an EWS SOAP stand-in that unmodified exchangelib accepts."""

from addin.sandbox.mail.sandbox import MailSandbox

__all__ = ["MailSandbox"]
