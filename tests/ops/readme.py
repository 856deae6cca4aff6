"""The README's Quickstart commands, read from the README itself (so that tests and CI run what users read)."""

from __future__ import annotations

import re

from tests.ops.procs import ROOT


def quickstart_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Quickstart\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.*?)\n```", section, re.S)
