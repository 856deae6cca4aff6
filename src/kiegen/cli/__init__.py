"""The ``kiegen`` command. Exit codes: 0 ok, 1 generation failed or timed out, 2 bad usage or invalid input."""

from kiegen.cli.main import main

__all__ = ["main"]
