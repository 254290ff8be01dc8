"""PySide6 user interface of CRM Bridge; talks to the core only through addin.bridge."""

from ui import qtcompat

# Before any window emits a signal: see ui/qtcompat.py (PySide6 6.12 on Python 3.11).
qtcompat.pin_bools()
