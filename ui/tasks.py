"""Run facade calls off the GUI thread, with a timeout and Cancel; results arrive by signal.

A facade call can block for as long as a server takes to answer.  Python threads cannot
be killed, so "cancel" and "timeout" mean: stop waiting and ignore whatever the call
returns later.  Each :class:`Task` reports exactly once: ``done``, ``failed`` or
``cancelled``.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from typing import Any

import shiboken6
from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal

from addin.errors import BridgeError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 30.0

_pool: QThreadPool | None = None


def pool() -> QThreadPool:
    """The UI's own pool, so a hung call never starves Qt's global pool."""
    global _pool
    if _pool is None:
        _pool = QThreadPool()
        # Timed-out calls keep their thread until the server answers; leave room for them.
        _pool.setMaxThreadCount(8)
        _pool.setExpiryTimeout(30_000)
    return _pool


class TaskTimeout(BridgeError):
    title = "No answer"


class _Dispatcher(QObject):
    """One object for the life of the app, living in the GUI thread: workers emit through it.

    Workers hold only a task number, never a Qt object, so no Qt object is ever released
    from a worker thread, and an answer for a task whose window is gone finds nothing.
    """

    result = Signal(int, object, object)  # task number, value, error

    def __init__(self) -> None:
        super().__init__()
        self.result.connect(self._deliver)

    def _deliver(self, number: int, value: object, error: object) -> None:
        task = _live.pop(number, None)
        if task is None or not shiboken6.isValid(task):
            return  # cancelled, timed out, or its window was closed: the answer is dropped
        task._on_result(value, error)


_dispatcher: _Dispatcher | None = None


def _get_dispatcher() -> _Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()
    return _dispatcher


class _Runnable(QRunnable):
    def __init__(self, fn: Callable[[], Any], number: int, dispatcher: _Dispatcher) -> None:
        super().__init__()
        self._fn = fn
        self._number = number
        self._signal = dispatcher.result
        self.setAutoDelete(True)

    def run(self) -> None:
        try:
            value = self._fn()
        except BridgeError as exc:
            self._signal.emit(self._number, None, exc)
        except Exception as exc:  # the facade promises BridgeError; anything else is a bug
            log.exception("background call failed unexpectedly")
            self._signal.emit(
                self._number, None, BridgeError(f"{type(exc).__name__}: {exc}", title="Unexpected error")
            )
        else:
            self._signal.emit(self._number, value, None)


class Task(QObject):
    """One call on the pool.  Connect to the signals, then :meth:`start`."""

    done = Signal(object)
    failed = Signal(object)  # a BridgeError (title, message)
    cancelled = Signal()
    finished = Signal()  # after any of the three

    def __init__(
        self,
        fn: Callable[..., Any],
        *args: Any,
        timeout: float | None = DEFAULT_TIMEOUT,
        parent: QObject | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(parent)
        self._call = lambda: fn(*args, **kwargs)
        self._timeout = timeout
        self._number = next(_numbers)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.timeout.connect(self._on_timeout)
        self._over = False
        self._started = False

    @property
    def active(self) -> bool:
        return self._started and not self._over

    def start(self) -> Task:
        if self._started:
            raise RuntimeError("a task starts once")
        self._started = True
        _live[self._number] = self  # keep the Python object alive until it reports
        dispatcher = _get_dispatcher()
        if self._timeout is not None:
            self._timer.start(int(self._timeout * 1000))
        # The worker must not hold the Task: a Qt object released in a worker thread crashes.
        pool().start(_Runnable(self._call, self._number, dispatcher))
        return self

    def cancel(self) -> None:
        if self._finish():
            self.cancelled.emit()
            self._done()

    def _finish(self) -> bool:
        if self._over:
            return False
        self._over = True
        self._timer.stop()
        _live.pop(self._number, None)
        return True

    def _on_result(self, value: object, error: object) -> None:
        if not self._finish():
            return  # cancelled or timed out: the late answer is ignored
        if error is not None:
            self.failed.emit(error)
        else:
            self.done.emit(value)
        self._done()

    def _on_timeout(self) -> None:
        if self._finish():
            seconds = self._timeout or 0
            self.failed.emit(TaskTimeout(f"The server did not answer within {seconds:g} seconds."))
            self._done()

    def _done(self) -> None:
        self.finished.emit()
        # A window lives for days and refreshes often: do not keep every finished task as a child.
        # Python-side state (``active``) stays readable after the Qt object is gone.
        self.deleteLater()


_live: dict[int, Task] = {}
_numbers = itertools.count(1)


def run(
    fn: Callable[..., Any],
    *args: Any,
    on_done: Callable[[Any], None] | None = None,
    on_error: Callable[[BridgeError], None] | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    parent: QObject | None = None,
    **kwargs: Any,
) -> Task:
    """Start ``fn(*args, **kwargs)`` in the background and wire the callbacks."""
    task = Task(fn, *args, timeout=timeout, parent=parent, **kwargs)
    if on_done is not None:
        task.done.connect(on_done)
    if on_error is not None:
        task.failed.connect(on_error)
    return task.start()


def wait_idle(msecs: int = 5000) -> bool:
    """Wait for the pool's threads (used on quit and in tests)."""
    return pool().waitForDone(msecs)
