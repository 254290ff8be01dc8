"""Run one action over many items a batch per background call, with progress and Cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal

from addin.bridge_types import TrackResult
from addin.errors import BridgeError
from ui import tasks

TRACK_TIMEOUT = 120.0  # per batch
BATCH_SIZE = 3  # items per background call: the granularity of progress and Cancel


class Batches(QObject):
    """One action over many items, a batch per background call.

    Python threads cannot be stopped mid-call, so Cancel means: the batch running now
    finishes (its results are kept and shown), and no further batch is started.
    """

    progressed = Signal(int, int)
    finished = Signal()

    def __init__(
        self, ids: list[Any], call: Callable[[list[Any]], list[TrackResult]], size: int, parent: QObject
    ) -> None:
        super().__init__(parent)
        self.pending = [ids[i : i + size] for i in range(0, len(ids), size)]
        self.total = len(ids)
        self.call = call
        self.results: list[TrackResult] = []
        self.error: BridgeError | None = None
        self.skipped = 0
        self.skipped_ids: list[Any] = []  # never started: Cancel came first
        self.current: list[Any] = []
        self.failed_ids: list[Any] = []  # items of batches whose whole call failed
        self.cancelled = False
        self.task: tasks.Task | None = None

    def start(self) -> None:
        if self.cancelled or self.error is not None or not self.pending:
            self.skipped_ids = [i for b in self.pending for i in b]
            self.skipped = len(self.skipped_ids)
            self.task = None
            self.finished.emit()
            return
        chunk = self.current = self.pending.pop(0)
        task = tasks.Task(self.call, chunk, timeout=TRACK_TIMEOUT, parent=self)
        task.done.connect(self._done)
        task.failed.connect(self._failed)
        self.task = task
        task.start()

    def _done(self, results: Any) -> None:
        self.results.extend(results if isinstance(results, list) else [results])
        self.progressed.emit(self.total - sum(len(b) for b in self.pending), self.total)
        self.start()

    def _failed(self, error: BridgeError) -> None:
        self.error = error
        self.failed_ids.extend(self.current)
        self.start()

    def cancel(self) -> None:
        self.cancelled = True
