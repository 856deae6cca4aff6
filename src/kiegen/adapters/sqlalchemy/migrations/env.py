"""Alembic environment for kiegen: online only, on the connection that ``kiegen.adapters.sqlalchemy.migrate``
hands over (already inside its locked transaction). There is no alembic.ini: see ``migrate.py``."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from kiegen.adapters.sqlalchemy.schema import metadata

connection = context.config.attributes.get("connection")
if not isinstance(connection, sa.Connection):
    raise RuntimeError(
        "kiegen migrations run through kiegen.adapters.sqlalchemy.migrate.migrate() or `kiegen migrate`, "
        "which supply the connection; offline (--sql) mode is not supported"
    )

context.configure(
    connection=connection,
    target_metadata=metadata,
    # SQLite cannot ALTER most things: Alembic's batch mode copies the table instead (keeping its rows).
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
