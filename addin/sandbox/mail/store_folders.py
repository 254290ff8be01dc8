"""Folder rows of the sandbox store: the well-known folder tree every Exchange mailbox has, and the
folder operations beyond create/rename/delete (move, empty, size).

The tree is the one Exchange 2019 provisions for a mailbox (FindFolder Deep from the root): the
IPM subtree under "Top of Information Store" with the mail, calendar, contacts, tasks, notes and
journal folders, and the non-IPM folders under the root (Recoverable Items, Common Views, Finder,
...). Folders that mail clients add when they first open a mailbox (Outlook's Sync Issues, RSS
Feeds and Archive) are not there until a client creates them. Folders whose items are not a mail
bridge's business (calendar, contacts, tasks ...) exist and stay empty: the sandbox refuses those
item types.
"""

from __future__ import annotations

import re
import sqlite3
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, NamedTuple

from addin.sandbox.mail.store_records import FOLDER_ID_PREFIX, Folder, new_id

_HEX_ID = re.compile(r"[0-9A-F]{32}")


class WellKnown(NamedTuple):
    key: str  # unique within a mailbox; the distinguished id where Exchange has one
    name: str
    folder_class: str | None
    parent: str | None
    distinguished: bool = True


# Parents come before their children. Classes are those Exchange gives the folders (none where
# Exchange sets none: the root, the IPM subtree root and the system folders).
WELL_KNOWN_FOLDERS: tuple[WellKnown, ...] = (
    WellKnown("root", "root", None, None),
    WellKnown("msgfolderroot", "Top of Information Store", None, "root"),
    WellKnown("inbox", "Inbox", "IPF.Note", "msgfolderroot"),
    WellKnown("sentitems", "Sent Items", "IPF.Note", "msgfolderroot"),
    WellKnown("drafts", "Drafts", "IPF.Note", "msgfolderroot"),
    WellKnown("deleteditems", "Deleted Items", "IPF.Note", "msgfolderroot"),
    WellKnown("outbox", "Outbox", "IPF.Note", "msgfolderroot"),
    WellKnown("junkemail", "Junk Email", "IPF.Note", "msgfolderroot"),
    WellKnown("calendar", "Calendar", "IPF.Appointment", "msgfolderroot"),
    WellKnown("contacts", "Contacts", "IPF.Contact", "msgfolderroot"),
    WellKnown("galcontacts", "GAL Contacts", "IPF.Contact.GalContacts", "contacts", False),
    WellKnown(
        "organizationalcontacts",
        "Organizational Contacts",
        "IPF.Contact.OrganizationalContacts",
        "contacts",
        False,
    ),
    WellKnown("recipientcache", "Recipient Cache", "IPF.Contact.RecipientCache", "contacts"),
    WellKnown("tasks", "Tasks", "IPF.Task", "msgfolderroot"),
    WellKnown("notes", "Notes", "IPF.StickyNote", "msgfolderroot"),
    WellKnown("journal", "Journal", "IPF.Journal", "msgfolderroot"),
    WellKnown("conversationhistory", "Conversation History", None, "msgfolderroot"),
    WellKnown(
        "conversationsettings", "Conversation Action Settings", "IPF.Configuration", "msgfolderroot", False
    ),
    WellKnown("quickstepsettings", "Quick Step Settings", "IPF.Configuration", "msgfolderroot", False),
    WellKnown("externalcontacts", "ExternalContacts", "IPF.Contact", "msgfolderroot", False),
    WellKnown("personmetadata", "PersonMetadata", "IPF.Contact", "msgfolderroot", False),
    WellKnown("recoverableitemsroot", "Recoverable Items", None, "root"),
    WellKnown("audits", "Audits", None, "recoverableitemsroot", False),
    WellKnown("calendarlogging", "Calendar Logging", None, "recoverableitemsroot", False),
    WellKnown("recoverableitemsdeletions", "Deletions", None, "recoverableitemsroot"),
    WellKnown("recoverableitemspurges", "Purges", None, "recoverableitemsroot"),
    WellKnown("recoverableitemsversions", "Versions", None, "recoverableitemsroot"),
    WellKnown("commonviews", "Common Views", None, "root", False),
    WellKnown("deferredaction", "Deferred Action", None, "root", False),
    WellKnown("exchangesyncdata", "ExchangeSyncData", None, "root", False),
    WellKnown("searchfolders", "Finder", None, "root"),
    WellKnown("freebusydata", "Freebusy Data", None, "root", False),
    WellKnown("location", "Location", None, "root", False),
    WellKnown("mailboxassociations", "MailboxAssociations", None, "root", False),
    WellKnown("reminders", "Reminders", "Outlook.Reminder", "root", False),
    WellKnown("schedule", "Schedule", None, "root", False),
    WellKnown("shortcuts", "Shortcuts", None, "root", False),
    WellKnown("spoolerqueue", "Spooler Queue", None, "root", False),
    WellKnown("system", "System", None, "root", False),
    WellKnown("todosearch", "To-Do Search", "IPF.Task", "root"),
    WellKnown("views", "Views", None, "root", False),
    WellKnown("workingset", "Working Set", None, "root", False),
    WellKnown("parkedmessages", "ParkedMessages", None, "root", False),
    WellKnown("sharing", "Sharing", "IPF.Note", "root", False),
    WellKnown("mycontactsextended", "MyContactsExtended", "IPF.Note", "root", False),
    WellKnown("peopleconnect", "PeopleConnect", None, "root"),
)


def folder_element(folder_class: str | None) -> str:
    """The t: element Exchange answers a folder as (FolderType's subtypes)."""
    cls = folder_class or ""
    if cls.startswith("IPF.Appointment"):
        return "CalendarFolder"
    if cls.startswith("IPF.Contact"):
        return "ContactsFolder"
    if cls.startswith("IPF.Task"):
        return "TasksFolder"
    return "Folder"


def is_folder_id(value: str) -> bool:
    """Shaped like a folder id the server issues (whether or not the folder still exists)."""
    return (
        value.startswith(FOLDER_ID_PREFIX) and _HEX_ID.fullmatch(value[len(FOLDER_ID_PREFIX) :]) is not None
    )


def ensure_well_known_folders(db: sqlite3.Connection, address: str) -> None:
    """Create the well-known folders a mailbox lacks (new mailboxes, and data folders written by
    older sandboxes, whose root was called "Root")."""
    rows = db.execute(
        "SELECT distinguished, id, parent_id, name FROM folders WHERE mailbox=?", (address,)
    ).fetchall()
    ids: dict[str, str] = {str(r[0]): str(r[1]) for r in rows if r[0]}
    names = {(r[2], str(r[3]).lower()) for r in rows}
    by_name = {(r[2], str(r[3]).lower()): str(r[1]) for r in rows}
    for wk in WELL_KNOWN_FOLDERS:
        parent_id = ids.get(wk.parent) if wk.parent else None
        if wk.key in ids:
            continue
        if not wk.distinguished and (parent_id, wk.name.lower()) in names:
            ids[wk.key] = by_name[(parent_id, wk.name.lower())]
            continue
        fid = new_id(FOLDER_ID_PREFIX)
        ids[wk.key] = fid
        db.execute(
            "INSERT INTO folders(id, mailbox, parent_id, distinguished, name, folder_class) "
            "VALUES(?,?,?,?,?,?)",
            (fid, address, parent_id, wk.key if wk.distinguished else None, wk.name, wk.folder_class),
        )
    db.execute("UPDATE folders SET name='root' WHERE mailbox=? AND distinguished='root'", (address,))
    db.execute(
        "UPDATE folders SET folder_class=NULL WHERE mailbox=? AND distinguished='msgfolderroot'", (address,)
    )


class FolderRows:
    """Mixed into MailStore, whose connection, lock, transactions and change log it uses."""

    _lock: threading.RLock
    _db: sqlite3.Connection
    tx: Callable[[], AbstractContextManager[sqlite3.Connection]]
    _log: Callable[[sqlite3.Connection, str, str, str], None]
    folder: Callable[[str], Folder | None]
    children: Callable[[str], list[Folder]]
    delete_folder: Callable[[Folder], None]
    folder_items: Callable[..., list[Any]]
    delete_item: Callable[[Any], None]

    def move_folder(self, folder: Folder, to: Folder) -> Folder:
        """Move a folder (and its sub-folders) under another; a new change key, the same id."""
        with self.tx() as db:
            for sibling in self.children(to.id):
                if sibling.id != folder.id and sibling.name.lower() == folder.name.lower():
                    raise FileExistsError(folder.name)
            db.execute("UPDATE folders SET parent_id=?, version=version+1 WHERE id=?", (to.id, folder.id))
            self._log(db, f"hierarchy:{folder.mailbox}", folder.id, "update")
        moved = self.folder(folder.id)
        assert moved is not None
        return moved

    def is_below(self, folder: Folder, ancestor: Folder) -> bool:
        current: Folder | None = folder
        while current is not None:
            if current.id == ancestor.id:
                return True
            current = self.folder(current.parent_id) if current.parent_id else None
        return False

    def empty_folder(self, folder: Folder, delete_sub_folders: bool) -> None:
        """Delete a folder's items (logged as deleted), and its sub-folders when asked."""
        with self.tx():
            for item in self.folder_items(folder.id):
                self.delete_item(item)
            if delete_sub_folders:
                for child in self.children(folder.id):
                    self.delete_folder(child)

    def set_folder_class(self, folder: Folder, folder_class: str) -> Folder:
        with self.tx() as db:
            db.execute(
                "UPDATE folders SET folder_class=?, version=version+1 WHERE id=?", (folder_class, folder.id)
            )
            self._log(db, f"hierarchy:{folder.mailbox}", folder.id, "update")
        changed = self.folder(folder.id)
        assert changed is not None
        return changed

    def _props_table(self) -> None:
        # Folder properties beyond the folders table (a table of their own keeps older data
        # folders readable without a migration).
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS folder_props(folder_id TEXT PRIMARY KEY, permission_set BLOB)"
        )

    def permission_set(self, folder_id: str) -> bytes | None:
        """The folder's t:PermissionSet as the client last set it (XML), or None."""
        with self._lock:
            self._props_table()
            row = self._db.execute(
                "SELECT permission_set FROM folder_props WHERE folder_id=?", (folder_id,)
            ).fetchone()
            return bytes(row[0]) if row and row[0] is not None else None

    def set_permission_set(self, folder: Folder, xml: bytes) -> Folder:
        with self.tx() as db:
            self._props_table()
            db.execute(
                "INSERT INTO folder_props(folder_id, permission_set) VALUES(?,?) "
                "ON CONFLICT(folder_id) DO UPDATE SET permission_set=excluded.permission_set",
                (folder.id, xml),
            )
            db.execute("UPDATE folders SET version=version+1 WHERE id=?", (folder.id,))
            self._log(db, f"hierarchy:{folder.mailbox}", folder.id, "update")
        changed = self.folder(folder.id)
        assert changed is not None
        return changed

    def folder_size(self, folder_id: str) -> int:
        """Bytes of the folder's items (PR_MESSAGE_SIZE_EXTENDED), their MIME as stored."""
        with self._lock:
            row = self._db.execute(
                "SELECT COALESCE(SUM(LENGTH(mime)), 0) FROM items WHERE folder_id=?", (folder_id,)
            ).fetchone()
            return int(row[0])


def is_mail_folder(folder: Folder) -> bool:
    """A folder of messages (IPF.Note and its kinds, or a folder without a class, as the IPM
    subtree's own folders like Conversation History)."""
    return (
        folder.folder_class is None
        or folder.folder_class == "IPF"
        or folder.folder_class.startswith("IPF.Note")
    )


_SYSTEM_FOLDERS = {(wk.parent, wk.name.lower()) for wk in WELL_KNOWN_FOLDERS if not wk.distinguished}


def is_system_folder(folder: Folder, parent: Folder | None) -> bool:
    """A well-known folder without a distinguished id (GAL Contacts, Common Views ...): Exchange
    keeps these, refusing their deletion with ErrorCannotDeleteObject."""
    if folder.distinguished or parent is None or not parent.distinguished:
        return False
    return (parent.distinguished, folder.name.lower()) in _SYSTEM_FOLDERS
