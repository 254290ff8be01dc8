"""A stateful model of the outbox that kills "the process" at every step it can.

Hypothesis drives two machines of the same user (each its own journal: a real SQLite file) over
one in-memory CRM and one in-memory mail server.  Any poll may be killed at any call the outbox
makes on the CRM, the mailbox or its journal, before or after the call takes effect; a killed
machine loses every in-process object and restarts from its journal file.  Time passes, the mail
server's transport goes down and comes back, the user queues more mail.

Invariants: no CRM e-mail ever leaves twice or has two copies in Sent Items; at the end, once
everything has had time to settle, every queued e-mail is Sent (with exactly one copy) or Failed
with a reason the user can read, never still waiting or lost.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from addin.bridge_types import OutboxState
from addin.crm.codes import EmailStatus
from addin.engine.outbox import Outbox, OutboxSettings
from addin.errors import BridgeError
from addin.mailbox.memory import OUTBOX
from addin.store import Store
from tests.core.engine.engine_kit import CUSTOMER, Clock, Crash, Tripwire, World

MACHINES = ("a", "b")


class OutboxCrashModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        # A real SQLite journal; in memory-backed /dev/shm where there is one, because the
        # journal syncs every commit to disk and the model commits thousands of times.
        shm = Path("/dev/shm")
        self.tmp = Path(tempfile.mkdtemp(prefix="outbox-model-", dir=shm if shm.is_dir() else None))
        self.clock = Clock()
        # The journal stamps its rows with addin.store.utcnow: it follows the model's clock.
        self._patch = mock.patch("addin.store.utcnow", self.clock)
        self._patch.start()
        self.world = World(self.tmp, self.clock)
        self.live: dict[str, tuple[Outbox, Store, Tripwire]] = {}
        self.queued: list[str] = []
        self.crashes = 0

    @initialize(style=st.sampled_from(["ews", "graph", "smtp"]))
    def choose_backend(self, style: Any) -> None:
        self.world.style = style

    # -- the running machines ---------------------------------------------------------------

    def _machine(self, name: str) -> tuple[Outbox, Store, Tripwire]:
        if name not in self.live:
            store = self.world.store(name)
            wire = Tripwire()
            self.live[name] = (self.world.outbox(store, OutboxSettings(), wire=wire), store, wire)
        return self.live[name]

    def _kill(self, name: str) -> None:
        """SIGKILL: every in-process object is gone; the journal keeps what it committed."""
        _, store, _ = self.live.pop(name)
        store.close()
        self.crashes += 1

    # -- rules -------------------------------------------------------------------------------

    @rule(count=st.integers(1, 2))
    def user_sends_from_the_crm(self, count: int) -> None:
        for _ in range(count):
            self.queued.append(self.world.crm.queue_email(CUSTOMER, f"Mail {len(self.queued)}", "<p>Hi</p>"))

    @rule(name=st.sampled_from(MACHINES), kill_at=st.none() | st.integers(1, 28))
    def poll(self, name: str, kill_at: int | None) -> None:
        outbox, _, wire = self._machine(name)
        wire.steps.clear()
        wire.at_step = kill_at
        try:
            outbox.poll()
        except Crash:
            self._kill(name)
        except BridgeError:
            pass  # an error the engine reports as a state; the next poll tries again
        finally:
            wire.at_step = None

    @rule(minutes=st.sampled_from([0.5, 2, 11, 250]))
    def time_passes(self, minutes: float) -> None:
        self.clock.advance(minutes=minutes)

    @precondition(lambda self: self.world.style != "smtp")
    @rule(down=st.booleans())
    def transport(self, down: bool) -> None:
        self.world.server.hold = down
        if not down:
            self.world.server.release_held()

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def never_two_copies(self) -> None:
        left = Counter(stamp for _, _, stamp in self.world.server.transmitted)
        assert all(n == 1 for n in left.values()), left
        for aid in self.queued:
            assert self.world.copies(aid) <= 1, aid

    @invariant()
    def sent_in_the_crm_means_the_server_has_it(self) -> None:
        """Sent is marked once the mail server accepted it: it left, or waits in its Outbox."""
        left = {stamp for _, _, stamp in self.world.server.transmitted}
        held = {
            m.stamp
            for m in self.world.server.box(self.world.mailbox().address).items.values()
            if m.folder_id == OUTBOX
        }
        for aid in self.queued:
            if self.world.status(aid) == EmailStatus.SENT:
                assert aid in left or aid in held, aid

    def teardown(self) -> None:
        try:
            self._settle_everything()
        finally:
            for name in list(self.live):
                self.live.pop(name)[1].close()
            self._patch.stop()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _settle_everything(self) -> None:
        """No more crashes: the transport works and hours pass; nothing may be left waiting."""
        self.world.server.hold = False
        self.world.server.release_held()
        for _ in range(4):
            self.clock.advance(hours=5)
            for name in MACHINES:
                with contextlib.suppress(BridgeError):
                    self._machine(name)[0].poll()
        self.never_two_copies()
        # What the user sees: the Outbox view of either machine gives every Failed e-mail's reason.
        reasons: dict[str, str] = {}
        for name in MACHINES:
            outbox = self._machine(name)[0]
            reasons |= {
                i.activity_id: i.reason for i in outbox.items() if i.state is OutboxState.FAILED and i.reason
            }
        for aid in self.queued:
            status = self.world.status(aid)
            if status == EmailStatus.SENT:
                assert self.world.copies(aid) == 1, aid
                assert aid in {stamp for _, _, stamp in self.world.server.transmitted}, aid
            else:
                assert status == EmailStatus.FAILED, (aid, EmailStatus(status).label)
                assert reasons.get(aid), aid  # the user is told why


OutboxCrashModel.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestOutboxCrashes = OutboxCrashModel.TestCase


# -- every step, deterministically --------------------------------------------------------------
#
# The model above searches interleavings; this sweep makes sure no single step is missed: the
# first poll is killed at each of its steps in turn; once the claims are stale the other machine
# polls, and the restarted machine's recovery poll is killed again at each of its steps, before
# everything settles.


def _scenario(style: str, first: int | None, second: int | None) -> tuple[int, int]:
    """Run one crash pair; returns how many steps the first and the recovery poll made."""
    model = OutboxCrashModel()
    try:
        model.choose_backend(style)
        model.user_sends_from_the_crm(2)
        model.poll("a", first)
        steps_first = len(model._machine("a")[2].steps) if first is None else first
        model.time_passes(11)
        model.poll("b", None)  # the other machine meets a's claim, stale by now
        model.poll("a", second)
        steps_second = len(model._machine("a")[2].steps) if second is None else second
        model.never_two_copies()
        model.sent_in_the_crm_means_the_server_has_it()
    finally:
        model.teardown()  # settles everything and checks "never lost"
    return steps_first, steps_second


@pytest.mark.parametrize("style", ["ews", "graph", "smtp"])
def test_a_kill_at_every_step_and_again_during_recovery_loses_nothing_and_sends_once(style: str) -> None:
    clean_first, _ = _scenario(style, None, None)
    assert clean_first > 10  # the sweep below really walks a whole poll
    for first in range(1, clean_first + 1):
        _, recovery_steps = _scenario(style, first, None)
        # Every recovery step is killed for some first kill: the offset turns with ``first``
        # (all of them for every first kill would take minutes).
        stride = 3 if style == "ews" else 5
        for second in range(1 + first % stride, recovery_steps + 1, stride):
            _scenario(style, first, second)
