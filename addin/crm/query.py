"""Query strings for the Web API: system query options, percent-encoded the strict way.

``requests``' own encoding turns spaces into ``+``; the Web API docs ask for ``%20``-style
encoding of filter values (``+`` as %2B, ``@`` as %40, ``&`` as %26), so the query string is
built here and passed to requests ready-made.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from urllib.parse import quote

# Characters left readable in values: OData punctuation that is legal in a query component.
_SAFE = "(),'$*"


def encode_query(params: Mapping[str, str]) -> str:
    return "&".join(f"{quote(k, safe='$@')}={quote(str(v), safe=_SAFE)}" for k, v in params.items())


def query_params(
    *,
    select: Sequence[str] | None = None,
    filter: str | None = None,
    orderby: str | None = None,
    expand: str | None = None,
    top: int | None = None,
    count: bool = False,
) -> dict[str, str]:
    params: dict[str, str] = {}
    if select:
        params["$select"] = ",".join(select)
    if filter:
        params["$filter"] = filter
    if orderby:
        params["$orderby"] = orderby
    if expand:
        params["$expand"] = expand
    if top is not None:
        if top <= 0:
            raise ValueError("top must be positive")
        params["$top"] = str(top)
    if count:
        params["$count"] = "true"
    return params
