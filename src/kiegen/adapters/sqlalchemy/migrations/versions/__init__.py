"""Revisions: each only adds; none drops data."""
