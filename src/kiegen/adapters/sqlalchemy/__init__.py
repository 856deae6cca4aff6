"""SQLAlchemy adapters (asyncio only): ``SqlAlchemyJobStore`` on SQLite (aiosqlite) and PostgreSQL (asyncpg),
the Alembic migrations shipped with it, ``SqlAlchemyBotStore`` (the Telegram bot's users, drafts and payments,
on the job store's engine), the single-leader lock in ``leader``, and (in ``notify``, needs
``kiegen[postgres]``) ``PostgresNotifier``.

    store = await SqlAlchemyJobStore.open("sqlite+aiosqlite:///kiegen.db")   # migrates unless migrate=False
    async with store:
        bots = SqlAlchemyBotStore(store)
"""

from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore
from kiegen.adapters.sqlalchemy.migrate import migrate
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

__all__ = ["SqlAlchemyBotStore", "SqlAlchemyJobStore", "migrate"]
