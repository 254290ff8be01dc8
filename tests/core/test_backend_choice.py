"""The wizard's backend choice: Graph for Exchange Online, EWS on premises, with the reason."""

from __future__ import annotations

import pytest

from addin.mailbox.choose import choose_backend


@pytest.mark.parametrize(
    "ews_url",
    [
        "https://outlook.office365.com/EWS/Exchange.asmx",
        "https://OUTLOOK.OFFICE.COM/ews/exchange.asmx",
        "https://outlook.office365.us/EWS/Exchange.asmx",
    ],
)
def test_autodiscover_pointing_to_exchange_online_picks_graph(ews_url: str) -> None:
    choice = choose_backend("alex@contoso.com", ews_url)
    assert choice.backend == "graph" and choice.certain
    assert "Exchange Online" in choice.reason and "Graph" in choice.reason


def test_an_organisation_server_picks_ews_and_names_it() -> None:
    choice = choose_backend("alex@contoso.com", "https://mail.contoso.com/EWS/Exchange.asmx")
    assert choice.backend == "ews" and choice.certain
    assert "mail.contoso.com" in choice.reason


def test_without_autodiscover_the_domain_decides_or_ews_is_a_default_to_confirm() -> None:
    online = choose_backend("alex@contoso.onmicrosoft.com")
    assert online.backend == "graph" and online.certain
    unknown = choose_backend("alex@contoso.com")
    assert unknown.backend == "ews" and not unknown.certain
    assert "Microsoft Graph" in unknown.reason
