"""What a KIE model is to kiegen: its kind, the media it makes, its inputs, its cost and its price.

These are plain frozen values. Checking a request against them is ``kiegen.core.validation``; the set of known
models is ``kiegen.core.registry``; the shipped catalogue and the operator's model files are read by
``kiegen.catalogue`` (file I/O stays out of the core).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

import attrs

__all__ = [
    "IMAGE_DEADLINE_S",
    "VIDEO_DEADLINE_S",
    "VIDEO_KINDS",
    "InputSpec",
    "InputType",
    "Media",
    "ModelKind",
    "ModelSpec",
]

IMAGE_DEADLINE_S = 15 * 60
"""How long kiegen waits for an image by default (KIE advises giving up after 10-15 minutes)."""
VIDEO_DEADLINE_S = 30 * 60
"""Video takes minutes, not seconds: the default wait for a video model."""


class InputType(enum.StrEnum):
    STRING = "string"
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"
    URL = "url"
    """One http(s) URL (an uploaded image, a mask...)."""
    URL_LIST = "url_list"
    """Several http(s) URLs (``image_urls``: the images a model takes at once); ``min_items``/``max_items``."""
    LIST = "list"
    """Any other JSON array (ids, shots, colour palettes): its items are passed to KIE as given."""


class ModelKind(enum.StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    EDIT = "edit"
    UPSCALE = "upscale"
    """Make an existing image (or a KIE result) larger or sharper; no prompt."""
    TEXT_TO_VIDEO = "text-to-video"
    IMAGE_TO_VIDEO = "image-to-video"


class Media(enum.StrEnum):
    """What a model's results are."""

    IMAGE = "image"
    VIDEO = "video"


VIDEO_KINDS = frozenset({ModelKind.TEXT_TO_VIDEO, ModelKind.IMAGE_TO_VIDEO})


def _tuple(values: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


def _str_tuple(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class InputSpec:
    """One input of a model. ``enum`` values keep their wire type (``num_images`` is a string enum)."""

    name: str
    type: InputType
    required: bool = False
    enum: tuple[Any, ...] | None = attrs.field(default=None, converter=_tuple)
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    """For lists: how many items at least (``url_list``, ``list``)."""
    max_items: int | None = None
    default: Any = None
    description: str = ""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)

    @property
    def takes_urls(self) -> bool:
        return self.type in (InputType.URL, InputType.URL_LIST)


def _spec_tuple(values: Iterable[InputSpec]) -> tuple[InputSpec, ...]:
    return tuple(values)


def _media_of(spec: ModelSpec) -> Media:
    return Media.VIDEO if spec.kind in VIDEO_KINDS else Media.IMAGE


def _deadline_of(spec: ModelSpec) -> float:
    return float(VIDEO_DEADLINE_S if spec.media is Media.VIDEO else IMAGE_DEADLINE_S)


@attrs.frozen(kw_only=True)
class ModelSpec:
    id: str
    title: str
    kind: ModelKind
    inputs: tuple[InputSpec, ...] = attrs.field(converter=_spec_tuple)
    media: Media = attrs.field(default=attrs.Factory(_media_of, takes_self=True))
    """Image or video results; follows from the kind unless a file says otherwise."""
    price: int = 0
    """Credits charged to the end user (operator policy; KIE's own price is the operator's cost)."""
    kie_credits: float | None = None
    """What KIE charges the operator per task, where KIE's page for the model states it (None: not stated)."""
    deadline_s: float = attrs.field(default=attrs.Factory(_deadline_of, takes_self=True))
    """How long kiegen waits for KIE before the job is timed out (default: 15 min for images, 30 for video)."""
    description: str = ""
    """One line for people choosing a model."""
    docs: str = ""
    """Where KIE documents the model (a docs.kie.ai URL)."""

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name or name in spec.aliases:
                return spec
        return None

    @property
    def needs_image(self) -> bool:
        return any(spec.takes_urls and spec.required for spec in self.inputs)

    @property
    def image_input(self) -> InputSpec | None:
        """The input a user's photo goes to: the first required URL input, else the first URL input."""
        urls = [spec for spec in self.inputs if spec.takes_urls]
        return next((spec for spec in urls if spec.required), urls[0] if urls else None)
