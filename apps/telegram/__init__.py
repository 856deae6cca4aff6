"""The reference Telegram bot: ``python -m apps.telegram`` (see ``../shared/TELEGRAM.md`` and ``README.md``)."""
