"""Message catalogues: gettext ``.po`` files (``locales/<language>/LC_MESSAGES/messages.po``) with plural rules,
read through aiogram's i18n (``aiogram.utils.i18n.I18n``). Handlers never hold user-facing literals: they ask
a ``Translator`` for a message id, and for a number's message (``tr("credits_back", n=2)``) gettext's
``ngettext`` picks the form the language needs ("Вернулся 1 кредит", "Вернулись 2 кредита", "Вернулось 5
кредитов"; "1 credit", "2 credits"). Values are HTML-escaped (texts are sent with ``parse_mode=HTML``) unless
passed as ``Markup``; ``{n}`` is the number itself.

Message ids are keys ("welcome"), not English sentences, so that both languages are catalogues alike and an
English text can change without touching code. A plural message has its key as ``msgid_plural`` too.

How ``.po`` becomes ``.mo``: compiled in memory at start-up with Babel (``PoI18n.find_locales``), about 20 ms
for both catalogues. The ``.po`` files are the one source: nothing compiled to forget or to let drift from
them, no build hook, nothing binary in git, and they ship in the wheel as package data beside this module
(hatchling packs every file under ``src/kiegen``), so a plain non-editable install works from any directory.
"""

from __future__ import annotations

import gettext
import html
import io
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path

from aiogram.utils.i18n import I18n
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

__all__ = ["DEFAULT_LOCALE", "LOCALES", "Catalog", "Markup", "PoI18n", "Translator", "pick_locale"]

LOCALES_DIR = Path(__file__).parent / "locales"
LOCALES = ("en", "ru")
DEFAULT_LOCALE = "en"
DOMAIN = "messages"


class Markup(str):
    """Text that is already HTML: inserted as it is."""


def pick_locale(language_code: str | None) -> str:
    """The catalogue for Telegram's ``language_code``: Russian for ``ru``, English for everyone else (Ukrainian,
    Belarusian and Kazakh speakers get English rather than a language that is not theirs)."""
    code = (language_code or "").lower().replace("_", "-").split("-")[0]
    return code if code in LOCALES else DEFAULT_LOCALE


class PoI18n(I18n):
    """aiogram's ``I18n`` over ``.po`` files, compiled in memory when it is built (see the module docstring).
    Every language falls back to the default one for an id it lacks (tests keep them complete)."""

    def find_locales(self) -> dict[str, gettext.GNUTranslations]:
        translations: dict[str, gettext.GNUTranslations] = {}
        for directory in sorted(self.path.iterdir()):
            po = directory / "LC_MESSAGES" / f"{self.domain}.po"
            if not po.is_file():
                continue
            with po.open("rb") as handle:
                catalog = read_po(handle, locale=directory.name, domain=self.domain)
            compiled = io.BytesIO()
            write_mo(compiled, catalog)
            compiled.seek(0)
            translations[directory.name] = gettext.GNUTranslations(compiled)
        default = translations.get(self.default_locale)
        if default is not None:
            for locale, translation in translations.items():
                if locale != self.default_locale:
                    translation.add_fallback(default)
        return translations


class Catalog:
    def __init__(self, i18n: I18n) -> None:
        self.i18n = i18n

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalog:
        return cls(PoI18n(path=directory, default_locale=DEFAULT_LOCALE, domain=DOMAIN))

    @property
    def locales(self) -> tuple[str, ...]:
        return self.i18n.available_locales

    def template(self, locale: str, key: str, n: int | None = None) -> str:
        if locale not in self.i18n.locales:
            locale = DEFAULT_LOCALE
        if n is None:
            return self.i18n.gettext(key, locale=locale)
        return self.i18n.gettext(key, key, n, locale=locale)

    def render(self, locale: str, key: str, values: Mapping[str, object], *, escape: bool, n: int | None = None) -> str:
        template = self.template(locale, key, n)
        given = dict(values) if n is None else {"n": n, **values}
        if not escape:
            return template.format_map({name: str(v) for name, v in given.items()})
        safe = {name: v if isinstance(v, Markup) else html.escape(str(v), quote=False) for name, v in given.items()}
        return template.format_map(safe)

    def translator(self, locale: str) -> Translator:
        return Translator(self, locale if locale in self.i18n.locales else DEFAULT_LOCALE)


class Translator:
    """The catalogue bound to one user's language: ``tr("welcome", lines=...)``, ``tr("credits_back", n=5)``."""

    def __init__(self, catalog: Catalog, locale: str) -> None:
        self.catalog = catalog
        self.locale = locale

    def __call__(self, key: str, n: int | None = None, **values: object) -> str:
        return self.catalog.render(self.locale, key, values, escape=True, n=n)

    def plain(self, key: str, n: int | None = None, **values: object) -> str:
        """The message with values inserted as they are: for button labels, alerts and captions that the
        messenger escapes itself (such messages carry no HTML)."""
        return self.catalog.render(self.locale, key, values, escape=False, n=n)

    def duration(self, span: timedelta) -> str:
        """A span as people say it ("5 h 20 min", "40 min"), rounded up to the minute: relative times need no
        time zone, which Telegram does not tell us."""
        minutes = max(1, -(-int(span.total_seconds()) // 60))
        hours, minutes = divmod(minutes, 60)
        if hours and minutes:
            return self.plain("duration_hours_minutes", hours=hours, minutes=minutes)
        if hours:
            return self.plain("duration_hours", hours=hours)
        return self.plain("duration_minutes", minutes=minutes)

    def ago(self, span: timedelta) -> str:
        if span < timedelta(minutes=1):
            return self.plain("just_now")
        return self.plain("ago", duration=self.duration(span))
