"""Work around a reference-counting bug in PySide6's signals on Python 3.11.

PySide6 6.12's ``SignalInstance.emit()`` and ``disconnect()`` return ``True`` without
taking a reference, so every call steals one from the ``True`` singleton.  On Python
3.12+ the bools are immortal and nothing happens; on 3.11 a long-running tray (or a
test run) eventually drops ``True`` to zero and the interpreter aborts with
"bool_dealloc: deallocating True or False".  When a probe shows the bug, the two bools
are given a very large reference count, which is what 3.12 does for every singleton.
"""

from __future__ import annotations

import ctypes
import sys

from PySide6.QtCore import QObject, Signal

_PROBE_CALLS = 16
_PIN = 1 << 40  # more than any process could ever steal
_pinned = False


class _Probe(QObject):
    ping = Signal()


def signal_steals_true() -> bool:
    """True when emitting a signal loses a reference to ``True`` (the bug is present)."""
    probe = _Probe()
    before = sys.getrefcount(True)
    for _ in range(_PROBE_CALLS):
        probe.ping.emit()
    lost = before - sys.getrefcount(True)
    # Give back what the probe itself took.
    if lost > 0:
        _add_refs(True, lost)
    return lost >= _PROBE_CALLS


def _add_refs(obj: object, count: int) -> None:
    # ob_refcnt is the first field of every object in CPython's release builds (before 3.12).
    ctypes.c_ssize_t.from_address(id(obj)).value += count


def pin_bools() -> bool:
    """Apply the fix once if needed; returns whether it was applied."""
    global _pinned
    if _pinned:
        return True
    if sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return False
    if not signal_steals_true():
        return False
    _add_refs(True, _PIN)
    _add_refs(False, _PIN)
    _pinned = True
    return True
