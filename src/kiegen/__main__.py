"""``python -m kiegen`` is the ``kiegen`` command."""

import sys

from kiegen.cli import main

sys.exit(main())
