"""Contrast fixes the desktop's style does not make on a dark palette.

Fusion outlines check boxes with a darker shade of the window colour, which on a dark
window is all but invisible (the "Problems only" box vanished).  This proxy style draws a
readable outline around every check box and item-view check box when the palette is dark,
in all states (checked, disabled, hover), and otherwise leaves the style alone.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF
from PySide6.QtGui import QColor, QPainter, QPalette, QPen
from PySide6.QtWidgets import QApplication, QProxyStyle, QStyle, QStyleOption, QWidget

_CHECKS = (
    QStyle.PrimitiveElement.PE_IndicatorCheckBox,
    QStyle.PrimitiveElement.PE_IndicatorItemViewItemCheck,
)


def is_dark(palette: QPalette) -> bool:
    return palette.color(QPalette.ColorRole.Window).lightness() < 128


def outline(palette: QPalette, enabled: bool) -> QColor:
    """The text colour, dimmed: about 5:1 against a dark base, less when disabled."""
    colour = QColor(palette.color(QPalette.ColorRole.Text))
    colour.setAlphaF(0.75 if enabled else 0.45)
    return colour


class ContrastStyle(QProxyStyle):
    def drawPrimitive(
        self,
        element: QStyle.PrimitiveElement,
        option: QStyleOption,
        painter: QPainter,
        widget: QWidget | None = None,
    ) -> None:
        super().drawPrimitive(element, option, painter, widget)
        palette: QPalette = option.palette  # type: ignore[attr-defined]
        if element in _CHECKS and is_dark(palette):
            enabled = bool(option.state & QStyle.StateFlag.State_Enabled)  # type: ignore[attr-defined]
            rect = QRectF(option.rect).adjusted(0.5, 0.5, -0.5, -0.5)  # type: ignore[attr-defined]
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setPen(QPen(outline(palette, enabled), 1.0))
            painter.setBrush(QColor(0, 0, 0, 0))
            painter.drawRoundedRect(rect, 2, 2)
            painter.restore()


def apply(app: QApplication) -> None:
    """Wrap the application's style (once)."""
    if not isinstance(app.style(), ContrastStyle):
        app.setStyle(ContrastStyle(app.style().name()))
