"""The model catalogue kiegen ships, and the registry an operator's settings make of it.

``data/`` holds one TOML file per family of KIE Market models, transcribed from KIE's docs pages (each entry
names its page in ``docs``); ``seed.toml`` holds the four models of the first release, free to end users by
default. They are read by the same loader as an operator's ``KIEGEN_MODELS_FILE``.

    registry = build_registry(markup=Decimal("2"), prices={"google/nano-banana": 8})
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path

from kiegen.catalogue.loader import load_prices_file, models_from_mapping, read_models_file
from kiegen.core.models import ModelSpec
from kiegen.core.pricing import DEFAULT_MARKUP
from kiegen.core.registry import ModelRegistry

__all__ = [
    "DATA_FILES",
    "DEFAULT_ENABLED",
    "SEED_MODELS",
    "build_registry",
    "default_registry",
    "load_models_file",
    "load_prices_file",
    "models_from_mapping",
    "shipped_models",
]

DATA_FILES = (
    "seed.toml",
    "google.toml",
    "flux.toml",
    "gpt_image.toml",
    "grok.toml",
    "ideogram.toml",
    "qwen.toml",
    "seedream.toml",
    "wan.toml",
    "recraft_topaz.toml",
    "kling.toml",
    "hailuo.toml",
    "bytedance_video.toml",
    "sora.toml",
    "happyhorse.toml",
    "wan_video.toml",
)
"""The shipped catalogue, in the order ``kiegen models`` lists it."""

SEED_MODELS = ("z-image", "qwen/text-to-image", "qwen/image-to-image", "qwen/image-edit")
"""The four models of the first release; free to end users unless the operator prices them."""

DEFAULT_ENABLED = (
    *SEED_MODELS,
    "google/nano-banana",
    "google/nano-banana-edit",
    "bytedance/seedream-v4-text-to-image",
    "bytedance/seedream-v4-edit",
    "bytedance/v1-lite-text-to-video",
    "bytedance/v1-lite-image-to-video",
)
"""What the Telegram bot offers when ``KIEGEN_MODELS_ENABLED`` is unset: the free four, Google's and ByteDance's
best-known image models (text-to-image and an edit that takes several photos), and one text-to-video and one
image-to-video model whose inputs all have defaults."""


@functools.cache
def shipped_models(markup: Decimal = DEFAULT_MARKUP) -> tuple[ModelSpec, ...]:
    """Every model of the shipped data files, priced with ``markup`` (cached: the values are immutable)."""
    specs: list[ModelSpec] = []
    data = resources.files(__name__) / "data"
    for name in DATA_FILES:
        table = tomllib.loads((data / name).read_text(encoding="utf-8"))
        specs += models_from_mapping(table, source=f"kiegen catalogue {name}", markup=markup)
    return tuple(specs)


def load_models_file(path: Path, *, markup: Decimal = DEFAULT_MARKUP) -> list[ModelSpec]:
    """Models from an operator's ``.toml`` or ``.json`` file (the format of the shipped data files)."""
    return read_models_file(path, markup=markup)


def build_registry(
    *,
    markup: Decimal = DEFAULT_MARKUP,
    models_file: Path | None = None,
    prices_file: Path | None = None,
    prices: Mapping[str, int] | None = None,
    enabled: Iterable[str] | None = None,
) -> ModelRegistry:
    """The registry of an operator's settings. Prices, lowest precedence first: a model's own ``price`` (the seed
    models: 0), else ``markup`` over KIE's cost; then ``prices_file``; then ``prices`` (``KIEGEN_PRICES``).
    ``enabled`` None offers ``DEFAULT_ENABLED`` plus every model of ``models_file``."""
    registry = ModelRegistry.of(shipped_models(markup)).with_enabled(DEFAULT_ENABLED if enabled is None else None)
    if models_file is not None:
        registry = registry.with_models(load_models_file(models_file, markup=markup), enable=True)
    if prices_file is not None:
        registry = registry.with_prices(load_prices_file(prices_file))
    if prices:
        registry = registry.with_prices(prices)
    if enabled is not None:
        registry = registry.with_enabled(enabled)
    return registry


@functools.cache
def default_registry() -> ModelRegistry:
    """The shipped catalogue with the documented defaults: the seed models free, the others at the default
    markup, ``DEFAULT_ENABLED`` offered. Immutable, so one instance serves every caller."""
    return build_registry()
