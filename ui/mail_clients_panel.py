"""Settings → Mail clients: the Thunderbird native host (registered or not, register, remove)
and the pinned Regarding records whose categories every mail client can use."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QVBoxLayout,
    QWidget,
)

from addin.bridge_types import RecordRef
from addin.errors import BridgeError
from addin.facade import BridgeFacade
from addin.native.registration import HostRegistry, Registration
from ui import tasks
from ui.common import StatusLabel, button


class MailClientsPanel(QWidget):
    changed = Signal()  # after a registration, a pin or an unpin has been shown

    def __init__(
        self, bridge: BridgeFacade, parent: QWidget | None = None, *, registry: HostRegistry | None = None
    ) -> None:
        super().__init__(parent)
        self.bridge = bridge
        self.registry = registry or HostRegistry()
        layout = QVBoxLayout(self)

        host = QGroupBox("Thunderbird add-on")
        hl = QVBoxLayout(host)
        self.host_state = QLabel("Checking…")
        self.host_state.setAccessibleName("Native host state")
        self.host_state.setWordWrap(True)
        hl.addWidget(self.host_state)
        row = QHBoxLayout()
        self.register_button = button("&Register for Thunderbird", "Register native host", self.register)
        self.remove_button = button("Re&move", "Remove native host", self.remove)
        row.addWidget(self.register_button)
        row.addWidget(self.remove_button)
        row.addStretch(1)
        hl.addLayout(row)
        layout.addWidget(host)

        pins = QGroupBox("Pinned Regarding records")
        pl = QVBoxLayout(pins)
        note = QLabel(
            "Each pinned record gets a category such as “CRM ▸ Fabrikam, Inc.” in your mailbox: "
            "put it on a message in any mail client to track it with that Regarding."
        )
        note.setWordWrap(True)
        pl.addWidget(note)
        self.pins = QListWidget()
        self.pins.setAccessibleName("Pinned records")
        pl.addWidget(self.pins)
        row = QHBoxLayout()
        row.addWidget(button("&Pin a record…", "Pin a record", self.pin))
        self.unpin_button = button("&Unpin", "Unpin record", self.unpin)
        row.addWidget(self.unpin_button)
        row.addStretch(1)
        pl.addLayout(row)
        layout.addWidget(pins)
        self.status = StatusLabel()
        layout.addWidget(self.status)
        self.refresh()

    # -- native host --------------------------------------------------------------------

    def _show_host(self, reg: Registration | None) -> None:
        if reg is None:
            self.host_state.setText(
                "The native host is not registered: the Thunderbird add-on cannot reach CRM Bridge."
            )
        else:
            where = reg.registry_key or str(reg.manifest)
            self.host_state.setText(f"Registered for Thunderbird ({where}).")
        self.register_button.setText("Re&register" if reg else "&Register for Thunderbird")
        self.remove_button.setEnabled(reg is not None)

    def refresh(self) -> None:
        tasks.run(self.registry.status, on_done=self._show_host, on_error=self._failed, parent=self)
        tasks.run(self.bridge.pinned_regarding, on_done=self._show_pins, on_error=self._failed, parent=self)

    def register(self) -> None:
        tasks.run(self.registry.register, on_done=self._registered, on_error=self._failed, parent=self)

    def _registered(self, reg: Registration) -> None:
        self._show_host(reg)
        self.status.info("Registered. Install the add-on in Thunderbird (see Connect your mail clients).")
        self.changed.emit()

    def remove(self) -> None:
        tasks.run(self.registry.unregister, on_done=self._removed, on_error=self._failed, parent=self)

    def _removed(self, _removed: bool) -> None:
        self._show_host(None)
        self.status.info("Removed.")
        self.changed.emit()

    # -- pins -------------------------------------------------------------------------------

    def _show_pins(self, refs: list[RecordRef]) -> None:
        self.pins.clear()
        for ref in refs:
            item = QListWidgetItem(ref.label)
            item.setData(Qt.ItemDataRole.UserRole, ref)
            self.pins.addItem(item)
        self.unpin_button.setEnabled(bool(refs))

    def pin(self) -> None:
        from ui.regarding_picker import RegardingPicker

        picker = RegardingPicker(self.bridge, self)
        picker.setWindowTitle("Pin a Regarding record")
        picker.accepted.connect(lambda: picker.selected and self.pin_record(picker.selected))
        picker.open()

    def pin_record(self, ref: RecordRef) -> None:
        self.status.info(f"Pinning {ref.label}…")
        tasks.run(self._pin_and_sync, ref, on_done=self._pinned, on_error=self._failed, parent=self)

    def _pin_and_sync(self, ref: RecordRef) -> tuple[list[RecordRef], BridgeError | None]:
        self.bridge.pin_regarding(ref)
        return self._sync()

    def unpin(self) -> None:
        item = self.pins.currentItem()
        if item is None:
            return
        ref: RecordRef = item.data(Qt.ItemDataRole.UserRole)
        self.status.info(f"Unpinning {ref.label}…")
        tasks.run(self._unpin_and_sync, ref, on_done=self._pinned, on_error=self._failed, parent=self)

    def _unpin_and_sync(self, ref: RecordRef) -> tuple[list[RecordRef], BridgeError | None]:
        self.bridge.unpin_regarding(ref)
        return self._sync()

    def _sync(self) -> tuple[list[RecordRef], BridgeError | None]:
        """Runs on a worker: the mailbox's category list follows at once; a mailbox problem is
        reported, and the bridge retries at its next round."""
        problem: BridgeError | None = None
        try:
            self.bridge.refresh_regarding_categories()
        except BridgeError as exc:
            problem = exc
        refs: list[RecordRef] = self.bridge.pinned_regarding()
        return refs, problem

    def _pinned(self, answer: tuple[list[RecordRef], BridgeError | None]) -> None:
        refs, problem = answer
        self._show_pins(refs)
        if problem is not None:
            self.status.error(f"Saved; the mailbox's categories follow later ({problem.message}).")
        else:
            self.status.info("Saved; your mail clients show the categories shortly.")
        self.changed.emit()

    def _failed(self, error: BridgeError) -> None:
        self.status.error(error)
        self.changed.emit()
