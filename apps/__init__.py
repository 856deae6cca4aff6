"""The reference apps: thin composition roots over the kiegen SDK.

``python -m apps.http`` and ``python -m apps.telegram``.
"""
