"""Colours the app chooses itself stay readable in light and dark palettes (WCAG contrast)."""

from __future__ import annotations

from typing import Any

import pytest
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QStyleFactory

from ui.badges import FILLS
from ui.common import problem_colour
from ui.screenshots import dark_palette
from ui.theme import outline

pytestmark = pytest.mark.ui


def luminance(colour: QColor) -> float:
    def channel(v: float) -> float:
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    return (
        0.2126 * channel(colour.redF()) + 0.7152 * channel(colour.greenF()) + 0.0722 * channel(colour.blueF())
    )


def contrast(a: QColor, b: QColor) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def over(fg: QColor, bg: QColor) -> QColor:
    """``fg`` with its alpha, painted on ``bg``."""
    a = fg.alphaF()
    return QColor.fromRgbF(
        *(
            a * f + (1 - a) * g
            for f, g in ((fg.redF(), bg.redF()), (fg.greenF(), bg.greenF()), (fg.blueF(), bg.blueF()))
        )
    )


@pytest.fixture(params=["light", "dark"])
def palette(request: Any, qapp: Any) -> QPalette:
    if request.param == "dark":
        return dark_palette()
    style = QStyleFactory.create("Fusion")
    return style.standardPalette()


def test_problem_text_is_readable_on_the_table(palette: QPalette) -> None:
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.AlternateBase):
        assert contrast(problem_colour(palette), palette.color(role)) >= 4.5


def test_badge_words_are_readable_on_their_fill() -> None:
    for fill in FILLS.values():
        assert contrast(QColor("#ffffff"), fill) >= 4.5, fill.name()


def test_check_box_outline_shows_on_dark_base_enabled_and_disabled() -> None:
    palette = dark_palette()
    for role in (QPalette.ColorRole.Base, QPalette.ColorRole.Window):
        background = palette.color(role)
        assert contrast(over(outline(palette, True), background), background) >= 3.0
        assert contrast(over(outline(palette, False), background), background) >= 1.8


def test_dark_palette_keeps_disabled_and_checked_states_readable() -> None:
    p = dark_palette()
    disabled = QPalette.ColorGroup.Disabled
    # Disabled buttons and labels: dimmer than enabled ones, still readable.
    assert (
        contrast(
            p.color(disabled, QPalette.ColorRole.ButtonText), p.color(disabled, QPalette.ColorRole.Button)
        )
        >= 4.5
    )
    assert (
        contrast(p.color(disabled, QPalette.ColorRole.WindowText), p.color(QPalette.ColorRole.Window)) >= 4.5
    )
    # Selected (checked) rows and hover use the highlight.
    assert contrast(p.color(QPalette.ColorRole.HighlightedText), p.color(QPalette.ColorRole.Highlight)) >= 4.5
    assert contrast(p.color(QPalette.ColorRole.PlaceholderText), p.color(QPalette.ColorRole.Base)) >= 4.5
