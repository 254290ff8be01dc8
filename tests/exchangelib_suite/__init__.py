"""exchangelib's own test suite (v5.6.0), run against the sandbox Exchange; see SOURCE.md."""
