"""The CRM side: a Dataverse Web API client, its authentication and OData helpers."""

from addin.crm.auth import CrmAuth, KeyringTokenCache, MsalAuth, NtlmAuth, StaticTokenAuth, TokenCacheStore
from addin.crm.batch import MAX_BATCH_REQUESTS, Batch, BatchResult, ChangeSet, first_error
from addin.crm.batch_wire import BatchRequest
from addin.crm.client import DataverseClient, Page, WhoAmI, service_root
from addin.crm.retry import RetryPolicy, is_idempotent, parse_retry_after

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
