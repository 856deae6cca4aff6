"""One loader for every model catalogue: the data files shipped in this package and the operator's own
(``KIEGEN_MODELS_FILE``, TOML or JSON). A cattrs converter structures each entry into ``ModelSpec``; a mistake
becomes one ``ConfigurationError`` that names the file, the entry and the field::

    models.toml: model 'acme/sketch' (models[0]): inputs[1].type: 'float' is not one of string, int, ...

The file format is ``{"models": [{"id", "title", "kind", "price", "inputs": [{"name", "type", ...}], ...}]}``
with the field names of ``ModelSpec`` and ``InputSpec``; unknown keys are refused (a typo must not pass
silently). An entry without ``price`` gets the operator's default price (``kiegen.core.pricing``).
"""

from __future__ import annotations

import enum
import json
import tomllib
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import cattrs
from cattrs.errors import ForbiddenExtraKeysError

from kiegen.core.errors import ConfigurationError
from kiegen.core.models import InputType, Media, ModelKind, ModelSpec
from kiegen.core.pricing import DEFAULT_MARKUP, marked_up_price
from kiegen.core.validation import spec_problems

__all__ = ["load_prices_file", "models_from_mapping", "read_models_file", "read_table"]


def _strict(kinds: tuple[type, ...], expected: str) -> Callable[[Any, Any], Any]:
    """cattrs' own hooks convert ("1" becomes 1.0); a catalogue value must already have the right type."""

    def hook(value: Any, _: Any) -> Any:
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise ValueError(f"expected {expected}, got {value!r}")
        return value

    return hook


def _choice(enum_type: type[enum.Enum]) -> Callable[[Any, Any], Any]:
    def hook(value: Any, _: Any) -> Any:
        try:
            return enum_type(value)
        except ValueError:
            allowed = ", ".join(str(member.value) for member in enum_type)
            raise ValueError(f"{value!r} is not one of {allowed}") from None

    return hook


def _list(value: Any, _: Any) -> tuple[Any, ...]:
    if not isinstance(value, list | tuple):
        raise ValueError(f"expected a list, got {value!r}")
    return tuple(value)


def _text_list(value: Any, _: Any) -> tuple[str, ...]:
    items = _list(value, _)
    if not all(isinstance(item, str) for item in items):
        raise ValueError(f"expected a list of text, got {value!r}")
    return items


def _converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(str, _strict((str,), "text"))
    converter.register_structure_hook(bool, _strict((bool,), "true or false"))
    converter.register_structure_hook(int, _strict((int,), "a whole number"))
    converter.register_structure_hook(float, _strict((int, float), "a number"))
    for choice in (InputType, ModelKind, Media):
        converter.register_structure_hook(choice, _choice(choice))
    converter.register_structure_hook_func(lambda t: t == tuple[Any, ...], _list)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _text_list)
    return converter


_CONVERTER = _converter()


def _describe(exc: BaseException, type_: type | None) -> str:
    if isinstance(exc, KeyError):
        return "is missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown key {', '.join(map(repr, sorted(exc.extra_fields)))}"
    if isinstance(exc, ValueError) and str(exc):
        return str(exc)
    if isinstance(exc, AttributeError):  # a list item that is not a table
        return "expected a table such as {name = ..., type = ...}"
    return cattrs.v.format_exception(exc, type_)


def _with_defaults(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The file format's shorthands: title defaults to the id, kind to text-to-image, an input's type to string."""
    entry = {"title": raw["id"], "kind": ModelKind.TEXT_TO_IMAGE.value, "inputs": [], **raw}
    if isinstance(entry["inputs"], list):
        entry["inputs"] = [{"type": "string", **i} if isinstance(i, Mapping) else i for i in entry["inputs"]]
    return entry


def _structure(raw: Mapping[str, Any], where: str, markup: Decimal) -> ModelSpec:
    if not isinstance(raw.get("inputs", []), list):
        raise ConfigurationError(f"{where}: inputs: expected a list of tables, got {raw['inputs']!r}")
    try:
        spec = _CONVERTER.structure(_with_defaults(raw), ModelSpec)
    except (cattrs.ClassValidationError, cattrs.IterableValidationError) as exc:
        messages = []
        for line in cattrs.transform_error(exc, path="", format_exception=_describe):
            message, _, path = line.rpartition(" @ ")
            messages.append(f"{path.lstrip('.') or 'entry'}: {message}")
        raise ConfigurationError(f"{where}: {'; '.join(messages)}") from None
    problems = spec_problems(spec)
    if problems:
        raise ConfigurationError(f"{where}: {'; '.join(problems)}")
    if "price" not in raw:
        spec = _priced(spec, markup)
    return spec


def _priced(spec: ModelSpec, markup: Decimal) -> ModelSpec:
    return attrs.evolve(spec, price=marked_up_price(spec, markup))


def models_from_mapping(
    data: Mapping[str, Any], *, source: str = "models file", markup: Decimal = DEFAULT_MARKUP
) -> list[ModelSpec]:
    """The models of ``{"models": [...]}``, each checked; prices follow ``markup`` where an entry has none."""
    models = data.get("models") if isinstance(data, Mapping) else None
    if not isinstance(models, list):
        raise ConfigurationError(f'{source}: expected a top-level "models" list')
    specs: list[ModelSpec] = []
    seen: set[str] = set()
    for index, raw in enumerate(models):
        if not isinstance(raw, Mapping) or not isinstance(raw.get("id"), str) or not raw["id"].strip():
            raise ConfigurationError(f'{source}: models[{index}]: each model needs an "id" (text)')
        where = f"{source}: model {raw['id']!r} (models[{index}])"
        if raw["id"] in seen:
            raise ConfigurationError(f"{where}: the id is given twice in this file")
        seen.add(raw["id"])
        specs.append(_structure(raw, where, markup))
    return specs


def read_table(path: Path, what: str) -> Any:
    """Parse a ``.toml`` or ``.json`` file (anything else is read as JSON)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"{what} {path} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        kind = "TOML" if path.suffix == ".toml" else "JSON"
        raise ConfigurationError(f"{what} {path} is not valid {kind}: {exc}") from None


def read_models_file(path: Path, *, markup: Decimal = DEFAULT_MARKUP) -> list[ModelSpec]:
    return models_from_mapping(read_table(path, "models file"), source=str(path), markup=markup)


def load_prices_file(path: Path) -> dict[str, int]:
    """End-user prices from ``{"prices": {"model id": credits}}`` (TOML: a ``[prices]`` table)."""
    data = read_table(path, "prices file")
    prices = data.get("prices") if isinstance(data, Mapping) else None
    if not isinstance(prices, Mapping):
        raise ConfigurationError(f'{path}: expected a "prices" table of model id = credits')
    bad = [mid for mid, value in prices.items() if isinstance(value, bool) or not isinstance(value, int) or value < 0]
    if bad:
        raise ConfigurationError(f"{path}: the price of {bad[0]!r} must be a whole number of credits, 0 or more")
    return dict(prices)
