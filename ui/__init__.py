"""PySide6 user interface of CRM Bridge; talks to the core only through addin.bridge."""
