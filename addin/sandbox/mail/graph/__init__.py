"""Microsoft Graph v1.0 mail endpoints of the sandbox Exchange, over the same MailStore as EWS.

One job per module: ``router`` (paths, auth, faults, throttling), ``http`` (request/response
values and Graph's error shape), ``odata`` (query options and ``$filter``), ``render``
(JSON of folders, messages, attachments), ``extprops`` (extended property ids), ``folders``,
``messages``, ``compose`` (drafts, send, attachments, upload sessions), ``delta``, ``batch``,
``categories``.
"""

from addin.sandbox.mail.graph.router import GraphApp

__all__ = ["GraphApp"]
