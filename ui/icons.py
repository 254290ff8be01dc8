"""Tray icons drawn at run time: one per state, for light and for dark panels.

The glyph is an envelope with a link badge.  On a light panel it is drawn dark, on a
dark panel light, and every shape has a contrasting outline so it stays visible when
the guess about the panel is wrong (the complaint behind Vorta #74/#622).  State is
shown by a coloured badge in the corner, never by colour alone: each badge has its own
shape (arrows, bars, cross, exclamation mark).
"""

from __future__ import annotations

import sys
from enum import StrEnum

from PySide6.QtCore import QPointF, QRect, QRectF, Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon, QPainter, QPainterPath, QPalette, QPen, QPixmap

from addin.state import BridgeState

SIZES = (16, 20, 22, 24, 32, 48, 64)


class IconState(StrEnum):
    IDLE = "idle"
    SYNCING = "syncing"
    PAUSED = "paused"
    OFFLINE = "offline"
    ATTENTION = "attention"


def icon_state(state: BridgeState, issues: int = 0) -> IconState:
    # The same ranking as ui.headline: open problems outrank paused, syncing and up to date.
    if state.needs_attention:
        return IconState.ATTENTION
    if state is BridgeState.OFFLINE:
        return IconState.OFFLINE
    if issues:
        return IconState.ATTENTION
    if state is BridgeState.PAUSED:
        return IconState.PAUSED
    if state in (BridgeState.SYNCING, BridgeState.STARTING):
        return IconState.SYNCING
    return IconState.IDLE


_BADGE = {
    IconState.SYNCING: QColor("#1f6fd1"),
    IconState.PAUSED: QColor("#c77c00"),
    IconState.OFFLINE: QColor("#6b6b6b"),
    IconState.ATTENTION: QColor("#d1242f"),
}


def panel_is_dark(palette: QPalette | None = None) -> bool:
    """Best guess: the panel follows the desktop's colour scheme."""
    hints = QGuiApplication.styleHints()
    scheme = hints.colorScheme() if hints is not None else Qt.ColorScheme.Unknown
    if scheme != Qt.ColorScheme.Unknown:
        return scheme == Qt.ColorScheme.Dark
    pal = palette or QGuiApplication.palette()
    return pal.color(QPalette.ColorRole.Window).lightness() < 128


def panel_is_dark_at(rect: QRect) -> bool | None:
    """Sample the panel just beside the icon (Maestral does the same); None when it cannot be read.

    The panel's own colour beats any guess from the application palette: panels are often
    dark on light desktops and the other way round.
    """
    if rect.width() <= 0 or rect.height() <= 0:
        return None
    screen = QGuiApplication.screenAt(rect.center()) or QGuiApplication.primaryScreen()
    if screen is None:
        return None
    geo = screen.geometry()
    x = rect.left() - 3 if rect.left() - 3 >= geo.left() else rect.right() + 3
    image = screen.grabWindow(0, x - geo.left(), rect.top() - geo.top(), 2, rect.height()).toImage()
    if image.isNull() or image.width() == 0:
        return None
    values = [image.pixelColor(0, y).lightness() for y in range(image.height())]
    return sum(values) / len(values) < 128


def draw(state: IconState, size: int, dark_panel: bool) -> QPixmap:
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    fg = QColor("#f2f2f2") if dark_panel else QColor("#1e1e1e")
    halo = QColor(0, 0, 0, 170) if dark_panel else QColor(255, 255, 255, 200)
    s = float(size)
    dimmed = state is IconState.OFFLINE or state is IconState.PAUSED
    if dimmed:
        fg.setAlphaF(0.65)
    line = max(1.0, s / 14)

    # Envelope, outlined twice (halo then glyph) so it reads on any panel colour.
    body = QRectF(s * 0.06, s * 0.18, s * 0.80, s * 0.58)
    flap = QPainterPath()
    flap.moveTo(body.topLeft())
    flap.lineTo(QPointF(body.center().x(), body.top() + body.height() * 0.55))
    flap.lineTo(body.topRight())
    for colour, width in ((halo, line + max(1.0, s / 16) * 2), (fg, line)):
        pen = QPen(colour, width)
        pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        p.setPen(pen)
        p.setBrush(Qt.BrushStyle.NoBrush)
        p.drawRoundedRect(body, s * 0.06, s * 0.06)
        p.drawPath(flap)

    badge = _BADGE.get(state)
    if badge is not None:
        r = s * 0.27
        c = QPointF(s - r - s * 0.02, s - r - s * 0.02)
        p.setPen(QPen(halo, max(1.0, s / 16)))
        p.setBrush(badge)
        p.drawEllipse(c, r, r)
        _badge_glyph(p, state, c, r)
    p.end()
    return pix


def _badge_glyph(p: QPainter, state: IconState, c: QPointF, r: float) -> None:
    white = QColor("#ffffff")
    pen = QPen(white, max(1.0, r * 0.28))
    pen.setCapStyle(Qt.PenCapStyle.RoundCap)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    g = r * 0.5
    if state is IconState.PAUSED:
        p.drawLine(QPointF(c.x() - g * 0.45, c.y() - g), QPointF(c.x() - g * 0.45, c.y() + g))
        p.drawLine(QPointF(c.x() + g * 0.45, c.y() - g), QPointF(c.x() + g * 0.45, c.y() + g))
    elif state is IconState.OFFLINE:
        p.drawLine(QPointF(c.x() - g, c.y() - g), QPointF(c.x() + g, c.y() + g))
        p.drawLine(QPointF(c.x() + g, c.y() - g), QPointF(c.x() - g, c.y() + g))
    elif state is IconState.ATTENTION:
        p.drawLine(QPointF(c.x(), c.y() - g * 1.1), QPointF(c.x(), c.y() + g * 0.25))
        p.drawPoint(QPointF(c.x(), c.y() + g * 0.95))
    elif state is IconState.SYNCING:
        arc = QRectF(c.x() - g, c.y() - g, 2 * g, 2 * g)
        p.drawArc(arc, 30 * 16, 240 * 16)
        tip = QPointF(c.x() + g * 0.87, c.y() - g * 0.5)
        p.drawLine(tip, QPointF(tip.x(), tip.y() - g * 0.7))
        p.drawLine(tip, QPointF(tip.x() - g * 0.7, tip.y()))


_cache: dict[tuple[IconState, bool, bool], QIcon] = {}


def tray_icon(state: IconState, dark_panel: bool | None = None, platform: str | None = None) -> QIcon:
    # The macOS menu bar takes a template (mask) image and colours it for the menu bar
    # itself, light or dark; the state stays readable because every badge has its own shape.
    template = (platform or sys.platform) == "darwin"
    dark = False if template else panel_is_dark() if dark_panel is None else dark_panel
    key = (state, dark, template)
    icon = _cache.get(key)
    if icon is None:
        icon = QIcon()
        for size in SIZES:
            icon.addPixmap(draw(state, size, dark))
        icon.setIsMask(template)
        _cache[key] = icon
    return icon


def draw_app(size: int) -> QPixmap:
    """The application's own icon: a white envelope on a blue tile, readable on any background."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    s = float(size)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(QColor("#1f6fd1"))
    p.drawRoundedRect(QRectF(0, 0, s, s), s * 0.18, s * 0.18)
    pen = QPen(QColor("#ffffff"), max(1.0, s / 14))
    pen.setJoinStyle(Qt.PenJoinStyle.RoundJoin)
    p.setPen(pen)
    p.setBrush(Qt.BrushStyle.NoBrush)
    body = QRectF(s * 0.18, s * 0.28, s * 0.64, s * 0.44)
    p.drawRoundedRect(body, s * 0.04, s * 0.04)
    flap = QPainterPath()
    flap.moveTo(body.topLeft())
    flap.lineTo(QPointF(body.center().x(), body.top() + body.height() * 0.55))
    flap.lineTo(body.topRight())
    p.drawPath(flap)
    p.end()
    return pix


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 24, 32, 48, 64, 128, 256):
        icon.addPixmap(draw_app(size))
    return icon
