"""The engine on in-memory ports: a settable clock, the in-memory CRM and mailbox, a real SQLite
journal, and a tripwire that kills "the process" at a chosen call (no HTTP, no Qt)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from addin.crm.memory import MemoryCrm
from addin.crm.port import CrmPort
from addin.engine.outbox import Outbox, OutboxSettings
from addin.mailbox.memory import MemoryMailbox, MemoryMailServer, Style
from addin.mailbox.port import Mailbox
from addin.store import Store

USER = "alex@contoso.example"
CUSTOMER = "carol@fabrikam.example"


class Clock:
    """Now, moved only by the test (the journal's timestamps follow it too)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


class Crash(BaseException):
    """The process is killed here: nothing after this point runs (not an Exception, so no
    ``except`` in the engine can swallow it)."""


@dataclass
class Tripwire:
    """Counts the calls the engine makes on its ports and journal; kills at an armed one."""

    steps: list[str] = field(default_factory=list)
    at_step: int | None = None
    at_label: str | None = None

    def tick(self, label: str) -> None:
        self.steps.append(label)
        hit = (self.at_step is not None and len(self.steps) == self.at_step) or label == self.at_label
        if hit:
            self.at_step = self.at_label = None
            raise Crash(label)


class Wired:
    """A port (or the journal) whose every public call ticks the tripwire before and after."""

    def __init__(self, target: Any, wire: Tripwire, name: str) -> None:
        self._target, self._wire, self._name = target, wire, name

    def __getattr__(self, attr: str) -> Any:
        value = getattr(self._target, attr)
        if attr.startswith("_") or not callable(value):
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            self._wire.tick(f"{self._name}.{attr}:before")
            result = value(*args, **kwargs)
            # The effect happened; a crash here loses only the answer.
            self._wire.tick(f"{self._name}.{attr}:after")
            return result

        return call


@dataclass
class World:
    """What survives a crash: the CRM, the mail server and the journal's file."""

    tmp: Path
    clock: Clock
    style: Style = "ews"
    crm: MemoryCrm = field(init=False)
    server: MemoryMailServer = field(default_factory=MemoryMailServer)

    def __post_init__(self) -> None:
        self.crm = MemoryCrm(now=self.clock)
        self.crm.add_record("contact", "Carol Customer", CUSTOMER)

    def mailbox(self) -> MemoryMailbox:
        return MemoryMailbox(self.server, USER, style=self.style)

    def store(self, machine: str = "a") -> Store:
        return Store(self.tmp / machine / "journal.sqlite3")

    def outbox(
        self,
        store: Store,
        settings: OutboxSettings | None = None,
        *,
        wire: Tripwire | None = None,
        crm: CrmPort | None = None,
        on_change: Callable[[], None] = lambda: None,
    ) -> Outbox:
        mailbox: Any = self.mailbox()
        port: Any = crm or self.crm
        journal: Any = store
        if wire is not None:
            mailbox.after_submit = lambda: wire.tick("mailbox.send:submitted")
            mailbox, port, journal = (
                Wired(mailbox, wire, "mailbox"),
                Wired(port, wire, "crm"),
                Wired(store, wire, "store"),
            )
        return Outbox(
            cast(Mailbox, mailbox),
            cast(CrmPort, port),
            cast(Store, journal),
            settings or OutboxSettings(),
            now=self.clock,
            on_change=on_change,
        )

    def copies(self, activity_id: str) -> int:
        return len(self.mailbox().sent_copies(activity_id))

    def status(self, activity_id: str) -> int:
        return int(self.crm.status(activity_id)[1])
