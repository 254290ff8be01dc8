"""Write the drawn icons to files for installers and desktop entries: ``python -m ui.export_icons DIR``.

The tray draws its icons at run time; installers need files: PNGs for Linux desktop
entries, a multi-size ``.ico`` for Windows (PNG-compressed entries, Vista and later).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice
from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QApplication

from ui.icons import IconState, draw, draw_app

APP_SIZES = (16, 20, 24, 32, 48, 64, 128, 256)


def png_bytes(pix: QPixmap) -> bytes:
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    pix.save(buffer, "PNG")
    return bytes(buffer.data().data())


def ico_bytes(images: list[tuple[int, bytes]]) -> bytes:
    """ICONDIR + ICONDIRENTRY per size, each entry a PNG stream."""
    header = struct.pack("<HHH", 0, 1, len(images))
    offset = 6 + 16 * len(images)
    entries, blobs = b"", b""
    for size, data in images:
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + entries + blobs


def export(target: Path) -> list[Path]:
    target.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    app_images = [(size, png_bytes(draw_app(size))) for size in APP_SIZES]
    for size, data in app_images:
        path = target / f"crm-bridge-{size}.png"
        path.write_bytes(data)
        written.append(path)
    ico = target / "crm-bridge.ico"
    ico.write_bytes(ico_bytes(app_images))
    written.append(ico)
    for state in IconState:
        for dark in (False, True):
            path = target / f"tray-{state.value}-{'dark' if dark else 'light'}-panel-32.png"
            path.write_bytes(png_bytes(draw(state, 32, dark)))
            written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    _app = QApplication.instance() or QApplication(sys.argv[:1])
    for path in export(Path(args[0] if args else "resources/icons")):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
