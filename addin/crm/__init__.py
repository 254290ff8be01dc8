"""The CRM side: the CRM port (``port``, ``codes``), the Dataverse adapter behind it, the Web API
client, its authentication and OData helpers, and an in-memory CRM.

The client's names are exported lazily: importing the port (as the engine does) must not load
the Dataverse client, its HTTP stack or its sign-in.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from addin.crm.auth import (
        CrmAuth,
        KeyringTokenCache,
        MsalAuth,
        NtlmAuth,
        StaticTokenAuth,
        TokenCacheStore,
    )
    from addin.crm.batch import MAX_BATCH_REQUESTS, Batch, BatchResult, ChangeSet, first_error
    from addin.crm.batch_wire import BatchRequest
    from addin.crm.client import DataverseClient, Page, WhoAmI, service_root
    from addin.crm.retry import RetryPolicy, is_idempotent, parse_retry_after

_HOME = {
    "auth": ("CrmAuth", "KeyringTokenCache", "MsalAuth", "NtlmAuth", "StaticTokenAuth", "TokenCacheStore"),
    "batch": ("MAX_BATCH_REQUESTS", "Batch", "BatchResult", "ChangeSet", "first_error"),
    "batch_wire": ("BatchRequest",),
    "client": ("DataverseClient", "Page", "WhoAmI", "service_root"),
    "retry": ("RetryPolicy", "is_idempotent", "parse_retry_after"),
}
_MODULE_OF = {name: module for module, names in _HOME.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'addin.crm' has no attribute {name!r}")
    return getattr(importlib.import_module(f"addin.crm.{module}"), name)


__all__ = [
    "MAX_BATCH_REQUESTS",
    "Batch",
    "BatchRequest",
    "BatchResult",
    "ChangeSet",
    "CrmAuth",
    "DataverseClient",
    "KeyringTokenCache",
    "MsalAuth",
    "NtlmAuth",
    "Page",
    "RetryPolicy",
    "StaticTokenAuth",
    "TokenCacheStore",
    "WhoAmI",
    "first_error",
    "is_idempotent",
    "parse_retry_after",
    "service_root",
]
