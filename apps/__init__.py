"""``python -m apps.http`` and ``python -m apps.telegram`` from the repository root: the same as
``kiegen serve`` and ``kiegen bot`` (the apps themselves are ``kiegen.apps.http`` and ``kiegen.apps.telegram``,
shipped in the wheel)."""
