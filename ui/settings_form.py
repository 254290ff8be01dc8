"""Widgets rendered from :mod:`addin.settings_schema`: one form per group (the connection
tests beside them are :mod:`ui.connection_test`).

The settings dialog and the first-run wizard both build on these, so a new setting in
the schema shows up in both without UI code.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette, QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from addin.facade import BridgeFacade
from addin.mailbox.choose import choose_backend
from addin.settings_schema import SETTINGS, Kind, Setting
from addin.settings_values import coerce
from ui.list_editors import AddressList, FolderPicker

SECRET_LABELS = {"mailbox": "Password", "crm": "Password or token"}
UNITS = (" (seconds)", " seconds")  # a label ending in the first gets the second as the field's unit
# Settings with their own editor, so nobody types paths, ids or syntax into a text box.
PICKERS = ("tracking.tracked_folders", "tracking.never_track")
PASSWORDS = ("basic", "ntlm")  # mailbox sign-in methods that take a password
# Mailbox fields that only some mail server types use (the rest are shown for every type).
MAILBOX_FIELDS: dict[str, tuple[str, ...]] = {
    "mailbox.server": ("ews",),
    "mailbox.autodiscover_url": ("ews",),
    "mailbox.imap_server": ("imap",),
    "mailbox.smtp_server": ("imap",),
    "mailbox.sent_folder": ("imap",),
    "mailbox.username": ("ews", "imap"),
}


def label_of(setting: Setting) -> str:
    return setting.label.removesuffix(UNITS[0])


def _editor(setting: Setting, bridge: BridgeFacade | None = None) -> QWidget:
    kind = setting.kind
    w: QWidget
    if setting.key == "tracking.tracked_folders" and bridge is not None:
        w = FolderPicker(bridge)
    elif setting.key == "tracking.never_track":
        w = AddressList(setting.label)
    elif kind is Kind.BOOL:
        w = QCheckBox(setting.label)
    elif kind is Kind.INT:
        spin = QSpinBox()
        spin.setRange(setting.minimum if setting.minimum is not None else 0, setting.maximum or 1_000_000)
        if setting.label.endswith(UNITS[0]):
            spin.setSuffix(UNITS[1])
        # Wide enough for the largest value and its unit, no wider.
        digits = len(str(spin.maximum())) + len(spin.suffix()) + 2
        spin.setFixedWidth(spin.fontMetrics().horizontalAdvance("0" * digits) + 40)
        w = spin
    elif kind is Kind.CHOICE:
        combo = QComboBox()
        for value, label in setting.choices:
            combo.addItem(label, value)
        w = combo
    elif kind is Kind.LIST:
        edit = QPlainTextEdit()
        edit.setTabChangesFocus(True)  # keep keyboard navigation working through the form
        edit.setFixedHeight(72)
        w = edit
    else:
        line = QLineEdit()
        if kind is Kind.URL:
            line.setPlaceholderText("https://")
        elif kind is Kind.EMAIL:
            line.setPlaceholderText("name@example.com")
        w = line
    w.setAccessibleName(label_of(setting))
    if setting.help and setting.key not in PICKERS:
        w.setToolTip(setting.help)
        w.setAccessibleDescription(setting.help)
    w.setObjectName(setting.key)
    return w


def _get(setting: Setting, w: QWidget) -> Any:
    if isinstance(w, FolderPicker | AddressList):
        return w.value()
    if isinstance(w, QCheckBox):
        return w.isChecked()
    if isinstance(w, QSpinBox):
        return w.value()
    if isinstance(w, QComboBox):
        return w.currentData()
    if isinstance(w, QPlainTextEdit):
        return [line.strip() for line in w.toPlainText().splitlines() if line.strip()]
    assert isinstance(w, QLineEdit)
    return w.text().strip()


def _set(setting: Setting, w: QWidget, value: Any) -> None:
    if isinstance(w, FolderPicker | AddressList):
        w.set_value(list(value or []))
    elif isinstance(w, QCheckBox):
        w.setChecked(bool(value))
    elif isinstance(w, QSpinBox):
        w.setValue(int(value))
    elif isinstance(w, QComboBox):
        index = w.findData(value)
        w.setCurrentIndex(max(0, index))
    elif isinstance(w, QPlainTextEdit):
        w.setPlainText("\n".join(value or []))
    elif isinstance(w, QLineEdit):
        w.setText("" if value is None else str(value))


def crm_sign_in_for(url: str) -> str | None:
    """The CRM sign-in an address implies, or None while it says nothing yet."""
    host = urlsplit(url.strip() if "//" in url else "https://" + url.strip()).hostname or ""
    if not host or ("." not in host and host != "localhost"):
        return None
    if host in ("localhost", "::1") or host.startswith("127."):
        return "bearer"
    if host.endswith((".dynamics.com", ".crm.microsoftdynamics.de", ".dynamics.cn", ".appsplatform.us")):
        return "oauth"
    return "ntlm"


class SettingsForm(QWidget):
    """Editors for one group; advanced settings sit behind a "Show advanced" toggle."""

    changed = Signal()

    def __init__(
        self,
        group: str,
        values: dict[str, Any],
        *,
        with_secret: bool = False,
        include_advanced: bool = True,
        bridge: BridgeFacade | None = None,
        first_run: bool = False,
        leave_out: tuple[str, ...] = (),
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.group = group
        self.settings = [
            s
            for s in SETTINGS
            if s.group == group and (include_advanced or not s.advanced) and s.key not in leave_out
        ]
        self.editors: dict[str, QWidget] = {}
        self.error_labels: dict[str, QLabel] = {}
        self.secret: QLineEdit | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        basic = QFormLayout()
        advanced_box = QWidget()
        advanced = QFormLayout(advanced_box)
        advanced.setContentsMargins(0, 0, 0, 0)
        for setting in self.settings:
            form = advanced if setting.advanced else basic
            editor = _editor(setting, bridge)
            self.editors[setting.key] = editor
            _set(setting, editor, values.get(setting.key, setting.default))
            error = QLabel()
            error.setVisible(False)
            error.setWordWrap(True)
            error.setStyleSheet("font-weight: bold;")  # palette colours, so dark/high-contrast stay readable
            self.error_labels[setting.key] = error
            cell = QWidget()
            cl = QVBoxLayout(cell)
            cl.setContentsMargins(0, 0, 0, 0)
            cl.setSpacing(2)
            compact = isinstance(editor, QSpinBox | QComboBox)
            cl.addWidget(editor, 0, Qt.AlignmentFlag.AlignLeft if compact else Qt.AlignmentFlag(0))
            if setting.help and not isinstance(editor, FolderPicker):
                # Visible help, not only a tooltip: tooltips are hard to reach by keyboard.
                help_label = QLabel(setting.help)
                help_label.setWordWrap(True)
                help_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
                small = help_label.font()
                small.setPointSizeF(max(7.0, small.pointSizeF() * 0.9))
                help_label.setFont(small)
                cl.addWidget(help_label)
            cl.addWidget(error)
            if isinstance(editor, QCheckBox):
                form.addRow("", cell)
            else:
                label = QLabel(label_of(setting) + ":")
                label.setBuddy(editor)
                form.addRow(label, cell)
            self._watch(editor)
        if with_secret:
            self.secret = QLineEdit()
            self.secret.setEchoMode(QLineEdit.EchoMode.Password)
            self.secret.setPlaceholderText(
                "Kept in the system keyring, never in a file"
                if first_run
                else "Kept in the system keyring; leave empty to keep the saved one"
            )
            label_text = SECRET_LABELS.get(group, "Password")
            self.secret.setAccessibleName(label_text)
            label = QLabel(label_text + ":")
            label.setBuddy(self.secret)
            basic.addRow(label, self.secret)
            self.secret.textChanged.connect(lambda _t: self.changed.emit())
        layout.addLayout(basic)
        self.basic = basic
        self.advanced = advanced
        if "crm.url" in self.editors and "crm.auth" in self.editors:
            url = self.editors["crm.url"]
            assert isinstance(url, QLineEdit)
            url.textChanged.connect(self._crm_sign_in_from_url)
            auth = self.editors["crm.auth"]
            assert isinstance(auth, QComboBox)
            auth.currentIndexChanged.connect(lambda _i: self._show_crm_user())
            self._crm_sign_in_from_url(url.text(), initial=True)
        self.backend_reason: QLabel | None = None
        if "mailbox.email" in self.editors and "mailbox.backend" in self.editors:
            self._setup_backend_choice()
        for key in ("mailbox.backend", "mailbox.auth"):
            combo = self.editors.get(key)
            if isinstance(combo, QComboBox):
                combo.currentIndexChanged.connect(lambda _i: self._show_mailbox_fields())
        self._show_mailbox_fields()
        if advanced.rowCount():
            toggle = QToolButton()
            toggle.setText("Show advanced")
            toggle.setCheckable(True)
            toggle.setAccessibleName(f"Show advanced {group} settings")
            toggle.toggled.connect(advanced_box.setVisible)
            toggle.toggled.connect(lambda on: toggle.setText("Hide advanced" if on else "Show advanced"))
            advanced_box.setVisible(False)
            layout.addWidget(toggle)
            layout.addWidget(advanced_box)
            self.advanced_toggle: QToolButton | None = toggle
        else:
            self.advanced_toggle = None

    def _crm_sign_in_from_url(self, text: str, initial: bool = False) -> None:
        """The sign-in follows the organisation's address: Microsoft 365 for online organisations,
        Windows (NTLM) on premises, a token only for a sandbox on this computer."""
        auth = self.editors["crm.auth"]
        assert isinstance(auth, QComboBox)
        kind = crm_sign_in_for(text)
        bearer = auth.findData("bearer")
        model = auth.model()
        if bearer >= 0 and isinstance(model, QStandardItemModel):
            model.item(bearer).setEnabled(kind == "bearer")  # a token only for a local sandbox
        if initial:
            # Keep what was saved, unless it is the sandbox token for an address that is not one.
            if auth.currentData() == "bearer" and kind != "bearer":
                auth.setCurrentIndex(max(0, auth.findData(kind or "oauth")))
        elif kind is not None:
            auth.setCurrentIndex(max(0, auth.findData(kind)))
        self._show_crm_user()

    def _row_visible(self, editor: QWidget, visible: bool) -> None:
        cell = editor.parentWidget()
        for layout in (self.basic, self.advanced):
            if cell is not None and layout.indexOf(cell) >= 0:
                layout.setRowVisible(cell, visible)

    def _show_mailbox_fields(self) -> None:
        """Only the fields the chosen mail server type and sign-in use (an IMAP server for IMAP,
        an EWS URL for Exchange, no password for Microsoft 365 sign-in)."""
        backend = self.editors.get("mailbox.backend")
        if not isinstance(backend, QComboBox):
            return
        kind = backend.currentData()
        for key, editor in self.editors.items():
            backends = MAILBOX_FIELDS.get(key)
            if backends is not None:
                self._row_visible(editor, kind in backends)
        auth = self.editors.get("mailbox.auth")
        if self.secret is not None and isinstance(auth, QComboBox) and self.group == "mailbox":
            self.basic.setRowVisible(self.secret, auth.currentData() != "oauth")
            label = self.basic.labelForField(self.secret)
            text = "Access token" if auth.currentData() == "token" else "Password"
            if isinstance(label, QLabel):
                label.setText(text + ":")
            self.secret.setAccessibleName(text)

    def _setup_backend_choice(self) -> None:
        """The mail server type follows the address (Graph for Exchange Online, EWS on premises),
        with the reason shown under it; the person can still pick the other one."""
        backend = self.editors["mailbox.backend"]
        assert isinstance(backend, QComboBox)
        reason = QLabel()
        reason.setWordWrap(True)
        reason.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        reason.setAccessibleName("Why this mail server type")
        reason.setVisible(False)
        # A row of its own under the type: a wrapped label inside the type's cell is not given the
        # height of its second line by the form layout.
        cell = backend.parentWidget()
        row = self.basic.getWidgetPosition(cell)[0] if cell is not None else -1
        self.basic.insertRow(row + 1 if row >= 0 else self.basic.rowCount(), reason)
        self.backend_reason = reason
        self._backend_chosen_for: tuple[str, str] | None = None
        for key in ("mailbox.email", "mailbox.server"):
            editor = self.editors.get(key)
            if isinstance(editor, QLineEdit):
                editor.editingFinished.connect(self._choose_backend)
                editor.textChanged.connect(lambda _t: self._choose_backend(typing=True))

    def _choose_backend(self, typing: bool = False) -> None:
        email = self.editors["mailbox.email"]
        server = self.editors.get("mailbox.server")
        backend = self.editors["mailbox.backend"]
        assert isinstance(email, QLineEdit) and isinstance(backend, QComboBox)
        address = email.text().strip()
        if "@" not in address or not address.rpartition("@")[2]:
            return
        url = server.text().strip() if isinstance(server, QLineEdit) else ""
        if (address.lower(), url) == self._backend_chosen_for:
            return  # nothing new: keep what the person may have picked by hand
        choice = choose_backend(address, url or None)
        if typing and not choice.certain:
            return  # wait until the address is complete before suggesting a default
        self._backend_chosen_for = (address.lower(), url)
        index = backend.findData(choice.backend)
        if index >= 0:
            backend.setCurrentIndex(index)
        auth = self.editors.get("mailbox.auth")
        if isinstance(auth, QComboBox) and choice.backend == "graph" and auth.currentData() in PASSWORDS:
            auth.setCurrentIndex(max(0, auth.findData("oauth")))  # Exchange Online takes no passwords
        if self.backend_reason is not None:
            self.backend_reason.setText(choice.reason)
            self.backend_reason.setVisible(True)

    def _show_crm_user(self) -> None:
        """Only the fields the chosen sign-in uses: a user name and password for Windows sign-in,
        a token for the sandbox, neither for Microsoft 365 (its own sign-in window asks)."""
        auth = self.editors.get("crm.auth")
        user = self.editors.get("crm.username")
        if not isinstance(auth, QComboBox):
            return
        kind = auth.currentData()
        if user is not None:
            self.basic.setRowVisible(user.parentWidget(), kind == "ntlm")
        if self.secret is not None:
            self.basic.setRowVisible(self.secret, kind != "oauth")
            label = self.basic.labelForField(self.secret)
            if isinstance(label, QLabel):
                label.setText("Token:" if kind == "bearer" else "Password:")
            self.secret.setAccessibleName("Token" if kind == "bearer" else "Password")

    def _watch(self, editor: QWidget) -> None:
        if isinstance(editor, FolderPicker | AddressList):
            editor.changed.connect(self.changed.emit)
        elif isinstance(editor, QCheckBox):
            editor.toggled.connect(lambda _v: self.changed.emit())
        elif isinstance(editor, QSpinBox):
            editor.valueChanged.connect(lambda _v: self.changed.emit())
        elif isinstance(editor, QComboBox):
            editor.currentIndexChanged.connect(lambda _v: self.changed.emit())
        elif isinstance(editor, QPlainTextEdit):
            editor.textChanged.connect(self.changed.emit)
        elif isinstance(editor, QLineEdit):
            editor.textChanged.connect(lambda _v: self.changed.emit())

    def raw_values(self) -> dict[str, Any]:
        return {s.key: _get(s, self.editors[s.key]) for s in self.settings}

    def set_value(self, key: str, value: Any) -> None:
        setting = next(s for s in self.settings if s.key == key)
        _set(setting, self.editors[key], value)

    def validate(self) -> tuple[dict[str, Any], dict[str, str]]:
        """Coerced values and per-setting errors (shown under each field)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for key, raw in self.raw_values().items():
            try:
                values[key] = coerce(key, raw)
            except ValueError as exc:
                errors[key] = str(exc)
        for key, label in self.error_labels.items():
            label.setText(errors.get(key, ""))
            label.setVisible(key in errors)
        return values, errors

    def secret_text(self) -> str | None:
        if self.secret is None:
            return None
        return self.secret.text() or None
