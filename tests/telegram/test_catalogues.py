"""The message catalogues (issue 15, item 2): gettext ``.po`` files with plural rules, complete in both
languages, compiled by Babel at start-up (also from a built, non-editable wheel), and numbers that agree with
their words: "Начислен 1 кредит", "Вернулись 2 кредита", "1 credit"."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from kiegen.apps.telegram.i18n import LOCALES, LOCALES_DIR, Catalog, pick_locale

APP_DIR = Path(__file__).parents[2] / "src" / "kiegen" / "apps" / "telegram"
NPLURALS = {"en": 2, "ru": 3}


def _po(locale: str) -> dict[str, object]:
    with (LOCALES_DIR / locale / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalog = read_po(handle, locale=locale, abort_invalid=True)
    assert catalog.num_plurals == NPLURALS[locale]
    return {m.id[0] if isinstance(m.id, tuple) else m.id: m.string for m in catalog if m.id}


def _fields(text: str) -> set[str]:
    return set(re.findall(r"{(\w+)}", text))


def test_every_message_is_in_both_catalogues_with_the_same_placeholders_and_no_empty_text() -> None:
    en, ru = _po("en"), _po("ru")
    assert set(en) == set(ru) and len(en) > 100
    for key in en:
        forms = {locale: table[key] for locale, table in (("en", en), ("ru", ru))}
        for locale, text in forms.items():
            texts = list(text) if isinstance(text, tuple) else [text]
            assert all(t for t in texts), f"{locale}: {key} has an empty form"
        en_texts = list(forms["en"]) if isinstance(forms["en"], tuple) else [forms["en"]]
        ru_texts = list(forms["ru"]) if isinstance(forms["ru"], tuple) else [forms["ru"]]
        assert isinstance(forms["en"], tuple) == isinstance(forms["ru"], tuple), key
        expected = _fields(str(en_texts[-1]))
        for text in [*en_texts, *ru_texts]:
            assert _fields(str(text)) == expected, key


def test_plural_messages_have_every_form_of_their_language_and_show_the_number() -> None:
    for locale in LOCALES:
        plural = {k: v for k, v in _po(locale).items() if isinstance(v, tuple)}
        assert len(plural) > 15
        for key, forms in plural.items():
            assert len(forms) == NPLURALS[locale], (locale, key)
            assert all("{n}" in form for form in forms), (locale, key)


def _calls() -> list[tuple[str, bool]]:
    """(message id, called with n=) for every tr(...) / tr.plain(...) call in the app's code."""
    found = []
    for path in APP_DIR.rglob("*.py"):
        for key, rest in re.findall(
            r"""\btr(?:\.plain)?\(\s*"(\w+)"([^()]*(?:\([^()]*\)[^()]*)*)\)""", path.read_text()
        ):
            found.append((key, bool(re.search(r"\bn=", rest))))
    return found


def test_every_message_the_code_asks_for_exists_and_plural_ones_are_asked_with_their_number() -> None:
    en = _po("en")
    calls = _calls()
    assert len(calls) > 80
    for key, with_n in calls:
        assert key in en, f"{key} is used but not in the catalogues"
        assert with_n == isinstance(en[key], tuple), f"{key}: plural messages need n=, others must not get it"


@pytest.mark.parametrize(
    ("key", "n", "text"),
    [
        ("credits_back", 1, "Вернулся 1 кредит."),
        ("credits_back", 2, "Вернулись 2 кредита."),
        ("credits_back", 5, "Вернулось 5 кредитов."),
        ("credits_back", 11, "Вернулось 11 кредитов."),
        ("credits_back", 21, "Вернулся 21 кредит."),
        ("credits_back", 22, "Вернулись 22 кредита."),
        ("price_credits", 2, "2 кредита"),
        ("pack_button", 1, "1 кредит — 3 ⭐"),
        ("cancelled_jobs", 2, "Остановлены 2 генерации."),
        ("prompt_too_long", 5000, "В описании 5000 символов, а Z-Image принимает не больше 1000."),
        ("busy", 2, "У вас уже идут 2 генерации"),
        ("quota_left", 1, "Бесплатных генераций сегодня: осталась 1 из 10."),
    ],
)
def test_russian_numbers_agree_with_their_words(key: str, n: int, text: str) -> None:
    rendered = Catalog.load().translator("ru").plain(key, n=n, stars=3, title="Z-Image", limit=1000, total=10)
    assert rendered.startswith(text)


def test_russian_payment_and_english_singulars() -> None:
    catalog = Catalog.load()
    ru, en = catalog.translator("ru"), catalog.translator("en")
    assert ru.plain("paid", n=1, balance=ru.plain("balance_line", n=21)) == "✅ Начислен 1 кредит. Баланс: 21 кредит."
    assert (
        ru.plain("paid", n=21, balance=ru.plain("balance_line", n=121)) == "✅ Начислен 21 кредит. Баланс: 121 кредит."
    )
    assert ru.plain("paid", n=100, balance="").startswith("✅ Начислено 100 кредитов.")
    assert en.plain("paid", n=1, balance=en.plain("balance_line", n=1)) == "✅ 1 credit added. Balance: 1 credit."
    assert en.plain("credits_back", n=1) == "1 credit is back on your balance."
    assert en.plain("price_credits", n=2) == "2 credits"


@pytest.mark.parametrize(
    ("code", "locale"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("en-GB", "en"),
        ("uk", "en"),
        ("be", "en"),
        ("kk", "en"),
        (None, "en"),
        ("de", "en"),
    ],
)
def test_the_language_is_russian_for_russian_and_english_for_everyone_else(code: str | None, locale: str) -> None:
    assert pick_locale(code) == locale


def test_the_russian_texts_use_the_reviewers_wording() -> None:
    ru = _po("ru")
    flat = " ".join(" ".join(v) if isinstance(v, tuple) else str(v) for v in ru.values())
    assert ru["stale_card"] == "Эта кнопка устарела."
    assert ru["btn_edit_this"] == "✏️ Изменить картинку"
    assert ru["hint_edit_prompt"].startswith("Что изменить на фото?")
    assert ru["model_paid"].endswith("кр.")
    assert "UTC" not in flat and "полночь" not in flat.lower()
    assert not re.search(r"\d кр(?!\.)", flat)


@pytest.mark.slow
def test_a_built_wheel_carries_the_po_files_and_its_bot_loads_them(tmp_path: Path) -> None:
    repo = Path(__file__).parents[2]
    subprocess.run(
        # hatchling is a dev dependency: no isolated build environment to download
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
            str(repo),
        ],
        check=True,
        capture_output=True,
    )
    [wheel] = tmp_path.glob("kiegen-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        assert {f"kiegen/apps/telegram/locales/{loc}/LC_MESSAGES/messages.po" for loc in LOCALES} <= set(names)
        archive.extractall(tmp_path / "site")
    probe = (
        "import kiegen, sys; from kiegen.apps.telegram.i18n import Catalog;"
        "print(kiegen.__file__); print(Catalog.load().translator('ru').plain('credits_back', n=2))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe],
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    where, text = run.stdout.splitlines()
    assert where.startswith(str(tmp_path / "site")) and text == "Вернулись 2 кредита."
