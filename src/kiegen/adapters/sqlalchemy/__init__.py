"""SQLAlchemy adapters (asyncio only): ``SqlAlchemyJobStore`` on SQLite (aiosqlite) and PostgreSQL (asyncpg),
the Alembic migrations shipped with it, and (in ``notify``, needs ``kiegen[postgres]``) ``PostgresNotifier``.

    store = await SqlAlchemyJobStore.open("sqlite+aiosqlite:///kiegen.db")   # migrates unless migrate=False
    async with store: ...
"""

from kiegen.adapters.sqlalchemy.migrate import migrate
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

__all__ = ["SqlAlchemyJobStore", "migrate"]
