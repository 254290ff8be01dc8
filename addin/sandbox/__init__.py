"""Local stand-ins for Dataverse and Exchange, for the demo and the tests.

Only the ``sandbox`` and ``demo`` commands (and tests) import this package; the rest
of ``addin`` never does.
"""
