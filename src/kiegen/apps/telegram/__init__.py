"""The reference Telegram bot: ``python -m kiegen.apps.telegram`` (see ``../shared/TELEGRAM.md`` and ``README.md``)."""
