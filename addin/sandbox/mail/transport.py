"""The sandbox Exchange's mail transport: one queue for everything sent through EWS and Graph.

Exchange keeps a submitted message in the sender's Outbox until its transport takes it; the
Sent Items copy is filed and the recipients get it only then.  Normally that is instant, and
the sandbox sends at once.  Two fault knobs (addin/sandbox/common.py) make it lag or stop:

- ``transport_delay_seconds`` (``--transport-delay``; ``sent_copy_delay_seconds`` is the older
  Graph-only name of the same knob): each message waits that long in Outbox;
- ``transport_outage``: nothing leaves Outbox until the switch is turned off.

Every send path uses this queue: EWS ``CreateItem``/``UpdateItem`` with SendOnly or
SendAndSaveCopy and ``SendItem``; Graph ``/send`` and ``/sendMail``.  A held message is a real
item in Outbox (no longer a draft, stamp and Message-ID kept), visible through both protocols;
it moves to Sent Items (or is removed, without a copy) and is delivered in one store
transaction, so it is never in two folders or in none.  Messages leave in the order they were
submitted: one that is not due yet holds back the ones behind it, as a queue does.  Deleting a
held item from Outbox cancels its send (Exchange behaves the same while the message waits).

The queue lives in memory: a sandbox restarted with messages in Outbox leaves them there.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from addin.sandbox.mail.mime import AttachmentTuple
from addin.sandbox.mail.soap import EwsError
from addin.sandbox.mail.store import Folder, Item

if TYPE_CHECKING:
    from addin.sandbox.mail.context import Ctx
    from addin.sandbox.mail.server import MailServer

log = logging.getLogger(__name__)

# How often a waiting queue looks at the outage switch again (it is a plain flag).
RECHECK_SECONDS = 0.2


@dataclass(frozen=True)
class Held:
    user: str
    item_id: str
    outbox_id: str
    save_folder_id: str | None
    keep_id: bool  # Graph: the Sent Items copy keeps the draft's immutable id
    from_fields: bool  # built from its fields when sent (a draft has no MIME of its own)
    due: float  # time.monotonic()


class Transport:
    def __init__(self, server: MailServer) -> None:
        self._server = server
        self._cond = threading.Condition()
        self._queue: deque[Held] = deque()
        self._closed = False
        self._thread: threading.Thread | None = None
        # One message leaves at a time, from the worker or from flush(), in queue order.
        self._leaving = threading.Lock()

    # -- state ------------------------------------------------------------------------------------

    def holding(self) -> bool:
        """Does a send made now wait in Outbox?  (Also when earlier ones still wait: order.)"""
        faults = self._server.faults
        with self._cond:
            waiting = bool(self._queue)
        return waiting or faults.transport_outage or faults.transport_delay_seconds > 0

    def waiting(self) -> int:
        with self._cond:
            return len(self._queue)

    # -- sending ----------------------------------------------------------------------------------

    def send_new(
        self,
        ctx: Ctx,
        data: dict[str, Any],
        atts: list[AttachmentTuple],
        mime: bytes | None,
        save_folder: Folder | None,
    ) -> None:
        """Send a message composed in this request (CreateItem, sendMail)."""
        from addin.sandbox.mail.ops_items import send_fields

        if not self.holding():
            send_fields(ctx, data, atts, mime, save_folder)
            return
        _check_recipients(data)
        held = dict(data)
        held["is_draft"] = False
        if mime is None:
            held["size"] = 0
        outbox = self._outbox(ctx)
        item = ctx.store.insert_item(ctx.user, outbox.id, held, mime, atts)
        self._hold(ctx.user, item.id, outbox.id, save_folder, keep_id=False, from_fields=mime is None)

    def send_stored(self, ctx: Ctx, item: Item, save_folder: Folder | None, keep_id: bool = False) -> None:
        """Send an item already in the mailbox (a draft: SendItem, UpdateItem, Graph /send)."""
        from addin.sandbox.mail.ops_items import send_existing

        with ctx.store.tx():
            # Two requests sending one draft at once: the first sends it, the second finds it
            # gone (or no longer a draft) inside this transaction and is refused, as Exchange
            # refuses a second send.  Checked under the store's lock, not before it.
            current = ctx.store.item(item.id)
            if (
                current is None
                or current.folder_id != item.folder_id
                or bool(current.data.get("is_draft")) != bool(item.data.get("is_draft"))
            ):
                raise EwsError("ErrorInvalidOperation", "The item was sent or moved meanwhile.")
            if not self.holding():
                send_existing(ctx, item, save_folder, keep_id=keep_id)
                return
            _check_recipients(item.data)
            from_fields = bool(item.data.get("is_draft"))
            item.data["is_draft"] = False
            outbox = self._outbox(ctx)
            ctx.store.save_item(item, "update")
            ctx.store.move_item(item, outbox.id)
            self._hold(ctx.user, item.id, outbox.id, save_folder, keep_id=keep_id, from_fields=from_fields)

    def flush(self) -> int:
        """Send every waiting message now, in order (delay and outage ignored); returns how many."""
        count = 0
        while self._leave_head(force=True):
            count += 1
        return count

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._queue.clear()
            self._cond.notify_all()

    # -- the queue --------------------------------------------------------------------------------

    @staticmethod
    def _outbox(ctx: Ctx) -> Folder:
        folder = ctx.store.distinguished(ctx.user, "outbox")
        if folder is None:
            raise EwsError("ErrorFolderNotFound", "The mailbox has no Outbox folder.")
        return folder

    def _hold(
        self,
        user: str,
        item_id: str,
        outbox_id: str,
        save: Folder | None,
        *,
        keep_id: bool,
        from_fields: bool,
    ) -> None:
        due = time.monotonic() + max(0.0, self._server.faults.transport_delay_seconds)
        with self._cond:
            held = Held(user, item_id, outbox_id, save.id if save else None, keep_id, from_fields, due)
            self._queue.append(held)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="sandbox-transport", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _due(self) -> bool:
        """The head of the queue may leave now (call with the condition held)."""
        if not self._queue or self._server.faults.transport_outage:
            return False
        return self._queue[0].due <= time.monotonic()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._closed and not self._due():
                    if not self._queue:
                        self._cond.wait()
                        continue
                    left = self._queue[0].due - time.monotonic()
                    if self._server.faults.transport_outage:
                        left = RECHECK_SECONDS
                    self._cond.wait(max(0.01, min(left, RECHECK_SECONDS)))
                if self._closed:
                    return
            self._leave_head(force=False)

    def _leave_head(self, *, force: bool) -> bool:
        """Send the first waiting message; False when there is none (or it is not due)."""
        from addin.sandbox.mail.ops_items import send_existing

        # Taking and sending under one lock keeps the order when flush() and the worker race.
        with self._leaving:
            with self._cond:
                if self._closed or not self._queue or not (force or self._due()):
                    return False
                held = self._queue.popleft()
            store = self._server.store
            try:
                item = store.item(held.item_id)
                if item is None or item.folder_id != held.outbox_id:
                    return True  # deleted from (or moved out of) Outbox while waiting: never sent
                save = store.folder(held.save_folder_id) if held.save_folder_id else None
                if held.from_fields:
                    item.data["is_draft"] = True  # rebuilt from its fields, as a draft is sent
                send_existing(self._server.ctx(held.user), item, save, keep_id=held.keep_id)
            except Exception:  # the sandbox is stopping, or the item became unsendable
                log.debug("held message %s did not leave", held.item_id, exc_info=True)
            return True


def _check_recipients(data: dict[str, Any]) -> None:
    """Refuse at submission what the transport would refuse later (as send_fields does)."""
    for box in (data.get("to") or []) + (data.get("cc") or []) + (data.get("bcc") or []):
        if (box.get("email") or "").strip():
            return
    raise EwsError("ErrorInvalidRecipients", "At least one recipient isn't valid.")
