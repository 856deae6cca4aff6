"""Adapters: one sub-package per technology, each implementing one or more ports."""
