"""The Mailbox port and its backends.

The engine talks to a mailbox only through :class:`addin.mailbox.port.Mailbox` and the
value types in :mod:`addin.mailbox.types`; backends (EWS, Graph, IMAP, third-party
plug-ins) register through the entry point group ``crm_bridge.mailboxes``.
"""
