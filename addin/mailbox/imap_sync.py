"""One round of IMAP incremental sync (see :mod:`addin.mailbox.imap` for the state's meaning).

State (JSON): ``v`` UIDVALIDITY, ``u`` the last UID reported as created, ``m`` the
HIGHESTMODSEQ up to which flag changes were reported.  Each round SELECTs the folder (STATUS
on the selected folder can answer from a stale view), reports flag changes of messages up
to ``u`` by CONDSTORE first, then new UIDs, never more than ``max_changes``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from imapclient import IMAPClient

from addin.errors import MailboxError
from addin.mailbox.imap_conn import Connection
from addin.mailbox.types import Change, ChangeKind, MessageSummary, SyncPage

Summaries = Callable[[IMAPClient, str, int, list[int]], list[MessageSummary]]


def sync_page(
    conn: Connection,
    client: IMAPClient,
    folder_id: str,
    sync_state: str | None,
    max_changes: int,
    summaries: Summaries,
) -> SyncPage:
    condstore = conn.has("CONDSTORE")
    # SELECT, not STATUS: STATUS on the selected folder may answer from a stale view.
    info = conn.select(folder_id)
    validity = int(info[b"UIDVALIDITY"])
    highest = int(info.get(b"HIGHESTMODSEQ", 0) or 0)
    if condstore and not highest:
        condstore = False  # the folder has no mod-sequences (e.g. NOMODSEQ)
    if sync_state is None:
        uids = client.search(["ALL"]) if b"UIDNEXT" not in info else []
        uidnext = int(info.get(b"UIDNEXT", (max(uids) + 1) if uids else 1))
        state = {"v": validity, "u": uidnext - 1, "m": highest}
        return SyncPage(changes=(), sync_state=json.dumps(state), more=False)
    state = _load_state(sync_state)
    if state["v"] != validity:
        raise MailboxError(
            "The server renumbered this folder (UIDVALIDITY changed); sync again from the start.",
            title="Mailbox sync restarted",
        )
    changes: list[Change] = []
    more = False
    mod = state["m"]
    if condstore and state["u"] > 0 and mod < highest:
        uids = client.search(["UID", f"1:{state['u']}", "MODSEQ", str(mod + 1)])
        changed = client.fetch(uids, ["UID", "MODSEQ"]) if uids else {}
        order = sorted((int(d[b"MODSEQ"][0]), uid) for uid, d in changed.items() if uid <= state["u"])
        take = order[:max_changes]
        if len(order) > max_changes:
            cutoff = take[-1][0]
            take = [t for t in take if t[0] < cutoff] or [t for t in order if t[0] == cutoff]
            mod = take[-1][0]
            more = True
        else:
            mod = highest
        found = summaries(client, folder_id, validity, [uid for _, uid in take])
        changes += [Change(ChangeKind.UPDATED, s.id, s) for s in found]
    elif condstore:
        mod = highest
    last = state["u"]
    budget = max_changes - len(changes)
    if not more and budget > 0:
        new = sorted(uid for uid in client.search(["UID", f"{state['u'] + 1}:*"]) if uid > state["u"])
        take_new = new[:budget]
        more = len(new) > budget
        if take_new:
            last = take_new[-1]
        found = summaries(client, folder_id, validity, take_new)
        changes += [Change(ChangeKind.CREATED, s.id, s) for s in found]
    elif budget <= 0:
        more = True
    new_state = {"v": validity, "u": last, "m": mod}
    return SyncPage(changes=tuple(changes), sync_state=json.dumps(new_state), more=more)


def _load_state(text: str) -> dict[str, int]:
    try:
        raw = json.loads(text)
        return {"v": int(raw["v"]), "u": int(raw["u"]), "m": int(raw.get("m", 0))}
    except (ValueError, KeyError, TypeError):
        raise MailboxError(
            "The saved sync state of this folder is not an IMAP state; sync again from the start.",
            title="Mailbox sync restarted",
        ) from None
