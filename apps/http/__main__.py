"""``python -m apps.http`` from the repository root runs ``kiegen.apps.http`` (as ``kiegen serve`` does)."""

from __future__ import annotations

import sys

from kiegen.apps.http.serve import main

if __name__ == "__main__":
    sys.exit(main())
