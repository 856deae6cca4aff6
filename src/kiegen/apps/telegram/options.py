"""The settings a person may change on a draft, and how they are called in their language.

Only inputs the model really has are offered, and only those a person understands: the frame (``aspect_ratio``
or ``image_size``), how many pictures, how much an image-to-image model may change the photo (``strength``,
as four presets within the input's range), speed and file type. Values are shown as people say them
("Portrait 3:4", "Пейзаж 16:9", "Normal"), never as wire values (``portrait_4_3``, ``none``); an input with no
default shows what the model does without it (one picture).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kiegen.apps.telegram.i18n import Translator
from kiegen.core.models import InputSpec, ModelSpec

__all__ = ["Option", "name_label", "offered", "value_label"]

OFFERED = ("aspect_ratio", "image_size", "num_images", "strength", "acceleration", "output_format")
"""In the order the card lists them."""

_PRESETS: dict[str, tuple[tuple[float, str], ...]] = {
    "strength": ((0.3, "slight"), (0.6, "medium"), (0.8, "strong"), (1.0, "full")),
}
_SIZES = {
    "square": ("frame_square", "1:1"),
    "square_hd": ("frame_square_hd", "1:1"),
    "portrait_4_3": ("frame_portrait", "3:4"),
    "portrait_16_9": ("frame_portrait", "9:16"),
    "landscape_4_3": ("frame_landscape", "4:3"),
    "landscape_16_9": ("frame_landscape", "16:9"),
}


@attrs.frozen
class Option:
    name: str
    values: tuple[Any, ...]
    default: Any
    """The value the model uses when the draft does not set one."""

    def current(self, options: Mapping[str, Any]) -> Any:
        return options.get(self.name, self.default)


def _within(spec: InputSpec, value: float) -> bool:
    return (spec.min is None or value >= spec.min) and (spec.max is None or value <= spec.max)


def offered(spec: ModelSpec) -> list[Option]:
    options = []
    for name in OFFERED:
        spec_input = spec.input(name)
        if spec_input is None:
            continue
        if spec_input.enum:
            values = tuple(spec_input.enum)
        elif name in _PRESETS:
            values = tuple(v for v, _ in _PRESETS[name] if _within(spec_input, v))
        else:
            continue
        if len(values) < 2:
            continue
        default = spec_input.default if spec_input.default in values else values[0]
        options.append(Option(name=name, values=values, default=default))
    return options


def name_label(tr: Translator, name: str) -> str:
    return tr.plain(f"opt_{name}")


def value_label(tr: Translator, name: str, value: Any) -> str:
    text = str(value)
    if name == "image_size" and text in _SIZES:
        key, ratio = _SIZES[text]
        return tr.plain(key, ratio=ratio)
    if name in ("aspect_ratio", "image_size"):
        return _ratio_label(tr, text)
    if name == "acceleration" and text in ("none", "regular", "high"):
        return tr.plain(f"val_acceleration_{text}")
    if name in _PRESETS:
        for preset, word in _PRESETS[name]:
            if value == preset:
                return tr.plain(f"val_{name}_{word}")
    if name == "output_format":
        return text.upper()
    return text


def _ratio_label(tr: Translator, ratio: str) -> str:
    width, sep, height = ratio.partition(":")
    if not sep or not width.isdigit() or not height.isdigit():
        return ratio
    w, h = int(width), int(height)
    key = "frame_square" if w == h else "frame_portrait" if w < h else "frame_landscape"
    return tr.plain(key, ratio=ratio)
