"""The Track window's "In CRM" cell: a coloured badge (✓ Tracked, ⚠ Failed, Queued) and the
Regarding record as a chip, like labels in a mail client.

State is never colour alone: each badge carries its word and a symbol.  The fills are
dark enough for white text in light and dark themes alike (contrast ≥ 4.5:1).
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPainter, QPalette
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from ui.mail_model import BadgeRole

FILLS = {"ok": QColor("#1a7f37"), "error": QColor("#c62828"), "pending": QColor("#8a5a00")}
SYMBOLS = {"ok": "✓ ", "error": "⚠ ", "pending": ""}
PAD, GAP, MARGIN = 6, 6, 4

_Index = QModelIndex | QPersistentModelIndex


def _parts(index: _Index) -> tuple[str, str, str]:
    value = index.data(BadgeRole)
    if not value:
        return "", "", ""
    text, kind, chip = value
    return (SYMBOLS.get(kind, "") + text if text else ""), kind, chip


class BadgeDelegate(QStyledItemDelegate):
    def sizeHint(self, option: QStyleOptionViewItem, index: _Index) -> QSize:
        base = super().sizeHint(option, index)
        text, _kind, chip = _parts(index)
        fm = QFontMetrics(option.font)
        width = MARGIN * 2
        if text:
            width += fm.horizontalAdvance(text) + PAD * 2
        if chip:
            width += GAP + fm.horizontalAdvance(chip) + PAD * 2
        return QSize(max(width, 0), base.height())

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: _Index) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""  # the background and selection only; the pills are drawn below
        widget: QWidget | None = option.widget  # type: ignore[attr-defined]
        style = widget.style() if widget is not None else QApplication.style()
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        text, kind, chip = _parts(index)
        if not text and not chip:
            return
        rect: QRect = option.rect  # type: ignore[attr-defined]
        fm = QFontMetrics(option.font)  # type: ignore[attr-defined]
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        height = min(rect.height() - 4, fm.height() + 2)
        top = rect.top() + (rect.height() - height) / 2
        x = rect.left() + MARGIN
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if text:
            width = fm.horizontalAdvance(text) + PAD * 2
            pill = QRectF(x, top, width, height)
            fill = FILLS.get(kind)
            if fill is not None:
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(fill)
                painter.drawRoundedRect(pill, height / 2, height / 2)
                painter.setPen(QColor("#ffffff"))
            else:  # "Untracked": plain text, no colour to suggest a state
                painter.setPen(palette.color(QPalette.ColorRole.Text))
            painter.drawText(pill, Qt.AlignmentFlag.AlignCenter, text)
            x += width + GAP
        if chip:
            width = fm.horizontalAdvance(chip) + PAD * 2
            box = QRectF(x, top, min(width, rect.right() - x), height)
            selected = bool(option.state & QStyle.StateFlag.State_Selected)  # type: ignore[attr-defined]
            text_role = QPalette.ColorRole.HighlightedText if selected else QPalette.ColorRole.Text
            painter.setPen(palette.color(text_role))
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.drawRoundedRect(box.adjusted(0.5, 0.5, -0.5, -0.5), 4, 4)
            elided = fm.elidedText(chip, Qt.TextElideMode.ElideRight, int(box.width()) - PAD * 2)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, elided)
        painter.restore()
