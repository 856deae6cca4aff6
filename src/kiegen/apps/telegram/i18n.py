"""Message catalogues: one TOML file per language in ``locales/``. Handlers never hold user-facing literals;
they ask ``Translator`` for a message id. Values given to a message are HTML-escaped (texts are sent with
``parse_mode=HTML``) unless passed as ``Markup``."""

from __future__ import annotations

import html
import tomllib
from collections.abc import Mapping
from pathlib import Path

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Catalog", "Markup", "Translator", "pick_locale"]

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"
_RUSSIAN_LIKE = ("ru", "uk", "be", "kk")


class Markup(str):
    """Text that is already HTML: inserted as it is."""


def pick_locale(language_code: str | None) -> str:
    """The catalogue for Telegram's ``language_code``: Russian for ru (and neighbours), English otherwise."""
    code = (language_code or "").lower().split("-")[0]
    if code in LOCALES:
        return code
    return "ru" if code in _RUSSIAN_LIKE else DEFAULT_LOCALE


class Catalog:
    def __init__(self, messages: Mapping[str, Mapping[str, str]]) -> None:
        self.messages = {locale: dict(table) for locale, table in messages.items()}

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalog:
        tables: dict[str, dict[str, str]] = {}
        for locale in LOCALES:
            with (directory / f"{locale}.toml").open("rb") as handle:
                tables[locale] = {key: str(value) for key, value in tomllib.load(handle).items()}
        return cls(tables)

    def text(self, locale: str, key: str, **values: object) -> str:
        return self.render(locale, key, values, escape=True)

    def render(self, locale: str, key: str, values: Mapping[str, object], *, escape: bool) -> str:
        table = self.messages.get(locale) or self.messages[DEFAULT_LOCALE]
        template = table.get(key) or self.messages[DEFAULT_LOCALE][key]
        if not escape:
            return template.format_map({name: str(v) for name, v in values.items()})
        safe = {name: v if isinstance(v, Markup) else html.escape(str(v), quote=False) for name, v in values.items()}
        return template.format_map(safe)

    def has(self, key: str) -> bool:
        return key in self.messages[DEFAULT_LOCALE]

    def translator(self, locale: str) -> Translator:
        return Translator(self, locale if locale in self.messages else DEFAULT_LOCALE)


class Translator:
    """The catalogue bound to one user's language: ``tr("welcome", free=3, balance=0)``."""

    def __init__(self, catalog: Catalog, locale: str) -> None:
        self.catalog = catalog
        self.locale = locale

    def __call__(self, key: str, **values: object) -> str:
        return self.catalog.text(self.locale, key, **values)

    def plain(self, key: str, **values: object) -> str:
        """The message with values inserted as they are: for button labels and for captions that the messenger
        escapes itself (such messages carry no HTML)."""
        return self.catalog.render(self.locale, key, values, escape=False)
