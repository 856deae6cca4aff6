"""``python -m apps.http``: see ``apps.http.serve``."""

from __future__ import annotations

import sys

from apps.http.serve import main

if __name__ == "__main__":
    sys.exit(main())
