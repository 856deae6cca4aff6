"""``python -m apps.telegram`` from the repository root runs ``kiegen.apps.telegram`` (as ``kiegen bot`` does)."""

from __future__ import annotations

import sys

from kiegen.apps.telegram.__main__ import main

if __name__ == "__main__":
    sys.exit(main())
