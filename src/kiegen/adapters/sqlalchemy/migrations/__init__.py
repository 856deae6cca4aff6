"""Alembic migrations of the kiegen schema (loaded by file path by Alembic; never imported)."""
