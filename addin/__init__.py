"""CRM Bridge core: everything that is not Qt.

Nothing under ``addin`` may import PySide6; the UI lives in ``ui`` and talks to
the core only through :mod:`addin.bridge`.
"""

__version__ = "0.1.0"
