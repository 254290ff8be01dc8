"""The frozen program's entry point: exactly what the ``crm-bridge`` console script runs."""

import sys

from addin.cli import main

if __name__ == "__main__":
    sys.exit(main())
