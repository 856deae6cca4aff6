"""``python -m apps.telegram``: the Telegram bot, ``kiegen.apps.telegram``."""
