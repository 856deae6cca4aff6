"""``python -m kiegen.apps.http``: see ``kiegen.apps.http.serve``."""

from __future__ import annotations

import sys

from kiegen.apps.http.serve import main

if __name__ == "__main__":
    sys.exit(main())
