"""SQL adapters on SQLite and PostgreSQL: ``SqlAlchemyJobStore`` (the job store: one writer per process with
group commit, prepared statements straight to ``sqlite3`` or asyncpg, asyncio and trio alike),
``SqlAlchemyBotStore`` (the Telegram bot's users, drafts and payments, on the job store's database), the
Alembic migrations shipped with them (SQLAlchemy describes the schema), the single-leader lock in ``leader``,
and (in ``notify``, needs ``kiegen[postgres]``) ``PostgresNotifier``.

    async with await SqlAlchemyJobStore.open("sqlite:///kiegen.db") as store:   # migrates unless migrate=False
        bots = SqlAlchemyBotStore(store)
"""

from kiegen.adapters.sqlalchemy.bot_store import SqlAlchemyBotStore
from kiegen.adapters.sqlalchemy.migrate import migrate
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore

__all__ = ["SqlAlchemyBotStore", "SqlAlchemyJobStore", "migrate"]
