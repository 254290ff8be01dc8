"""Microsoft Graph v1.0 mail endpoints of the sandbox Exchange, over the same MailStore as EWS.

One job per module: ``router`` (paths, auth, faults, throttling), ``http`` (request/response
values and Graph's error shape), ``odata`` (query options and ``$filter``), ``render``
(JSON of folders, messages, attachments), ``extprops`` (extended property ids), ``folders``,
``messages``, ``compose`` (drafts, send, attachments), ``uploads`` (upload sessions),
``outbox`` (asynchronous sends), ``delta``, ``batch``, ``categories``. The store's extra
queries are in ``addin/sandbox/mail/store_graph.py``.
"""

from addin.sandbox.mail.graph.router import GraphApp

__all__ = ["GraphApp"]
