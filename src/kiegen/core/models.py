"""The model registry: what each KIE model accepts, what it costs end users, and input validation.

``ModelRegistry.validate(model_id, inputs)`` returns the normalized input (defaults applied, aliases mapped)
or raises one ``InvalidInput`` that lists every problem, each naming its field. Nothing is charged, stored or
sent before validation passes. Extra models load from TOML or JSON in the schema of ``ModelSpec`` (see
``registry_from_mapping``), so operators add KIE models without code.
"""

from __future__ import annotations

import difflib
import enum
import json
import math
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

from kiegen.core.errors import ConfigurationError, InvalidInput, Problem
from kiegen.core.jobs import str_tuple

__all__ = [
    "InputSpec",
    "InputType",
    "ModelKind",
    "ModelRegistry",
    "ModelSpec",
    "coerce_text",
    "default_registry",
    "registry_from_mapping",
]


class InputType(enum.StrEnum):
    STRING = "string"
    INT = "int"
    NUMBER = "number"
    BOOL = "bool"
    URL = "url"


class ModelKind(enum.StrEnum):
    TEXT_TO_IMAGE = "text-to-image"
    IMAGE_TO_IMAGE = "image-to-image"
    EDIT = "edit"


def _tuple(values: Iterable[Any] | None) -> tuple[Any, ...] | None:
    return None if values is None else tuple(values)


@attrs.frozen(kw_only=True)
class InputSpec:
    """One input of a model. ``enum`` values keep their wire type (``num_images`` is a string enum)."""

    name: str
    type: InputType
    required: bool = False
    enum: tuple[Any, ...] | None = attrs.field(default=None, converter=_tuple)
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    default: Any = None
    description: str = ""
    aliases: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)


def _spec_tuple(values: Iterable[InputSpec]) -> tuple[InputSpec, ...]:
    return tuple(values)


@attrs.frozen(kw_only=True)
class ModelSpec:
    id: str
    title: str
    kind: ModelKind
    inputs: tuple[InputSpec, ...] = attrs.field(converter=_spec_tuple)
    price: int = 0
    """Credits charged to the end user (operator policy; KIE's own price is the operator's cost)."""
    deadline_s: float = 15 * 60
    """How long kiegen waits for KIE before the job is timed out."""

    def input(self, name: str) -> InputSpec | None:
        for spec in self.inputs:
            if spec.name == name or name in spec.aliases:
                return spec
        return None

    @property
    def needs_image(self) -> bool:
        return any(spec.type is InputType.URL and spec.required for spec in self.inputs)


_ASPECT_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")
_IMAGE_SIZES = (
    "square",
    "square_hd",
    "portrait_4_3",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_16_9",
)


def _prompt(max_length: int) -> InputSpec:
    return InputSpec(
        name="prompt",
        type=InputType.STRING,
        required=True,
        max_length=max_length,
        description="What the image should show.",
    )


def _image_url() -> InputSpec:
    return InputSpec(
        name="image_url",
        type=InputType.URL,
        required=True,
        aliases=("image",),
        description="URL of the input image (jpeg, png or webp, up to 10 MB); local files are uploaded first.",
    )


def _common_qwen(*, steps_max: int, steps_default: int, guidance_default: float) -> tuple[InputSpec, ...]:
    return (
        InputSpec(
            name="num_inference_steps",
            type=InputType.INT,
            min=2,
            max=steps_max,
            default=steps_default,
            description="Number of denoising steps.",
        ),
        InputSpec(
            name="guidance_scale",
            type=InputType.NUMBER,
            min=0,
            max=20,
            default=guidance_default,
            description="How closely the image follows the prompt.",
        ),
        InputSpec(name="seed", type=InputType.INT, description="Random seed; random when omitted."),
        InputSpec(
            name="negative_prompt",
            type=InputType.STRING,
            max_length=500,
            description="What the image should not show.",
        ),
        InputSpec(
            name="acceleration",
            type=InputType.STRING,
            enum=("none", "regular", "high"),
            default="none",
            description="Speed/quality trade-off.",
        ),
        InputSpec(
            name="enable_safety_checker",
            type=InputType.BOOL,
            default=True,
            description="Let KIE filter unsafe content.",
        ),
        InputSpec(name="nsfw_checker", type=InputType.BOOL, default=False, description="Run KIE's NSFW checker."),
    )


def _seed_models() -> tuple[ModelSpec, ...]:
    output_format = InputSpec(
        name="output_format",
        type=InputType.STRING,
        enum=("png", "jpeg"),
        default="png",
        description="File format of the result.",
    )
    return (
        ModelSpec(
            id="z-image",
            title="Z-Image",
            kind=ModelKind.TEXT_TO_IMAGE,
            inputs=(
                _prompt(1000),
                InputSpec(
                    name="aspect_ratio",
                    type=InputType.STRING,
                    required=True,
                    enum=_ASPECT_RATIOS,
                    default="1:1",
                    description="Shape of the image.",
                ),
                InputSpec(
                    name="nsfw_checker",
                    type=InputType.BOOL,
                    default=False,
                    description="Run KIE's NSFW checker.",
                ),
            ),
        ),
        ModelSpec(
            id="qwen/text-to-image",
            title="Qwen Text-to-Image",
            kind=ModelKind.TEXT_TO_IMAGE,
            inputs=(
                _prompt(5000),
                InputSpec(
                    name="image_size",
                    type=InputType.STRING,
                    enum=_IMAGE_SIZES,
                    default="square_hd",
                    description="Shape and resolution of the image.",
                ),
                *_common_qwen(steps_max=250, steps_default=30, guidance_default=2.5),
                output_format,
            ),
        ),
        ModelSpec(
            id="qwen/image-to-image",
            title="Qwen Image-to-Image",
            kind=ModelKind.IMAGE_TO_IMAGE,
            inputs=(
                _prompt(5000),
                _image_url(),
                InputSpec(
                    name="strength",
                    type=InputType.NUMBER,
                    min=0,
                    max=1,
                    default=0.8,
                    description="How far the result may move away from the input image.",
                ),
                *_common_qwen(steps_max=250, steps_default=30, guidance_default=2.5),
                output_format,
            ),
        ),
        ModelSpec(
            id="qwen/image-edit",
            title="Qwen Image-Edit",
            kind=ModelKind.EDIT,
            inputs=(
                _prompt(2000),
                _image_url(),
                InputSpec(
                    name="image_size",
                    type=InputType.STRING,
                    enum=_IMAGE_SIZES,
                    default="landscape_4_3",
                    description="Shape and resolution of the image.",
                ),
                *_common_qwen(steps_max=49, steps_default=25, guidance_default=4),
                InputSpec(
                    name="num_images",
                    type=InputType.STRING,
                    enum=("1", "2", "3", "4"),
                    description="How many images to make (a string, as KIE expects).",
                ),
                attrs.evolve(output_format, enum=("jpeg", "png")),
                InputSpec(
                    name="sync_mode",
                    type=InputType.BOOL,
                    description="Accepted by KIE; has no effect with callbacks or polling.",
                ),
            ),
        ),
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _check_value(spec: InputSpec, value: object) -> tuple[object, Problem | None]:
    """Check one value against its spec; return the normalized value and the problem, if any."""
    name = spec.name
    if spec.enum is not None and spec.type is InputType.STRING:
        # A number where a string enum is expected (num_images=2) is a friendly mistake we can mend.
        if _is_int(value) and str(value) in spec.enum:
            value = str(value)
        if value not in spec.enum:
            allowed = ", ".join(map(str, spec.enum))
            return value, Problem(
                field=name, value=value, message=f"{value!r} is not allowed", fix=f"use one of: {allowed}"
            )
        return value, None
    if spec.type in (InputType.STRING, InputType.URL):
        if not isinstance(value, str):
            return value, Problem(
                field=name, value=value, message=f"expected text, got {type(value).__name__}", fix="send a string"
            )
        if spec.type is InputType.URL and not value.startswith(("http://", "https://")):
            return value, Problem(
                field=name,
                value=value,
                message="not an http(s) URL",
                fix="give an https:// URL, or a local file for the SDK to upload",
            )
        if spec.required and not value.strip():
            return value, Problem(field=name, value=value, message="is empty", fix="write some text")
        if spec.max_length is not None and len(value) > spec.max_length:
            return value, Problem(
                field=name,
                value=f"<{len(value)} characters>",
                message=f"is {len(value)} characters long, the limit is {spec.max_length}",
                fix=f"shorten it by {len(value) - spec.max_length} characters",
            )
        return value, None
    if spec.type is InputType.BOOL:
        if not isinstance(value, bool):
            return value, Problem(
                field=name,
                value=value,
                message=f"expected true or false, got {value!r}",
                fix="use true or false",
            )
        return value, None
    if spec.type is InputType.INT:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if not _is_int(value):
            return value, Problem(
                field=name, value=value, message=f"expected a whole number, got {value!r}", fix="use an integer"
            )
    elif not _is_number(value):
        return value, Problem(field=name, value=value, message=f"expected a number, got {value!r}", fix="use a number")
    # No float(): an int beyond float's range (valid JSON, e.g. 1e400 written out) would raise OverflowError;
    # comparing int with float is exact.
    number: float = value  # type: ignore[assignment]
    if (spec.min is not None and number < spec.min) or (spec.max is not None and number > spec.max):
        return value, Problem(
            field=name,
            value=value,
            message=f"{value!r} is out of range",
            fix=f"use a value from {_fmt(spec.min)} to {_fmt(spec.max)}",
        )
    if spec.enum is not None and value not in spec.enum:  # numeric enums (models loaded from a file)
        allowed = ", ".join(map(str, spec.enum))
        return value, Problem(
            field=name, value=value, message=f"{value!r} is not allowed", fix=f"use one of: {allowed}"
        )
    return value, None


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def coerce_text(spec: InputSpec, text: str) -> object:
    """Turn a command-line or chat string into the spec's type; leave it as text when it does not parse
    so that ``validate`` reports the problem with the user's own value."""
    stripped = text.strip()
    if spec.type is InputType.BOOL:
        lowered = stripped.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        return text
    if spec.type is InputType.INT:
        try:
            return int(stripped)
        except ValueError:
            return text
    if spec.type is InputType.NUMBER:
        try:
            number = float(stripped)
        except ValueError:
            return text
        return int(number) if number.is_integer() and "." not in stripped else number
    return text


def _model_dict(models: Mapping[str, ModelSpec]) -> dict[str, ModelSpec]:
    return dict(models)


@attrs.frozen
class ModelRegistry:
    """The models kiegen knows, by id. Immutable; ``with_models`` and ``with_prices`` return new registries."""

    models: Mapping[str, ModelSpec] = attrs.field(converter=_model_dict)

    def __iter__(self) -> Iterator[ModelSpec]:
        return iter(self.models.values())

    def __len__(self) -> int:
        return len(self.models)

    def __contains__(self, model_id: object) -> bool:
        return model_id in self.models

    def get(self, model_id: str) -> ModelSpec:
        spec = self.models.get(model_id)
        if spec is None:
            raise InvalidInput([self._unknown_model(model_id)])
        return spec

    def _unknown_model(self, model_id: str) -> Problem:
        close = difflib.get_close_matches(str(model_id), list(self.models), n=3, cutoff=0.5)
        fix = f"did you mean {' or '.join(close)}?" if close else "see `kiegen models` for the list"
        return Problem(field="model", value=model_id, message=f"unknown model {model_id!r}", fix=fix)

    def with_models(self, specs: Iterable[ModelSpec]) -> ModelRegistry:
        return ModelRegistry({**self.models, **{spec.id: spec for spec in specs}})

    def with_prices(self, prices: Mapping[str, int]) -> ModelRegistry:
        unknown = sorted(set(prices) - set(self.models))
        if unknown:
            raise ConfigurationError(f"price table names unknown models: {', '.join(unknown)}")
        return ModelRegistry(
            {mid: attrs.evolve(spec, price=prices.get(mid, spec.price)) for mid, spec in self.models.items()}
        )

    def validate(self, model_id: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Normalize ``inputs`` for ``model_id`` or raise ``InvalidInput`` listing every problem."""
        spec = self.models.get(model_id)
        if spec is None:
            raise InvalidInput([self._unknown_model(model_id)], model=model_id)
        if not isinstance(inputs, Mapping):
            raise InvalidInput(
                [Problem(field="input", value=inputs, message="must be an object", fix='send {"prompt": ...}')],
                model=model_id,
            )
        problems: list[Problem] = []
        given: dict[str, tuple[str, Any]] = {}
        known = ", ".join(s.name for s in spec.inputs)
        for key, value in inputs.items():
            field_spec = spec.input(str(key))
            if field_spec is None:
                close = difflib.get_close_matches(str(key), [s.name for s in spec.inputs], n=1, cutoff=0.6)
                fix = f"did you mean {close[0]}?" if close else f"known inputs: {known}"
                problems.append(Problem(field=str(key), value=value, message="unknown input", fix=fix))
                continue
            if field_spec.name in given:
                problems.append(
                    Problem(
                        field=field_spec.name,
                        value=value,
                        message=f"given twice (as {given[field_spec.name][0]} and {key})",
                        fix="give it once",
                    )
                )
                continue
            given[field_spec.name] = (str(key), value)
        normalized: dict[str, Any] = {}
        for field_spec in spec.inputs:
            if field_spec.name not in given or given[field_spec.name][1] is None:
                if field_spec.default is not None:
                    normalized[field_spec.name] = field_spec.default
                elif field_spec.required:
                    problems.append(
                        Problem(
                            field=field_spec.name,
                            message="is required",
                            fix=field_spec.description or f"give {field_spec.name}",
                        )
                    )
                continue
            value, problem = _check_value(field_spec, given[field_spec.name][1])
            if problem is not None:
                problems.append(problem)
            else:
                normalized[field_spec.name] = value
        if problems:
            raise InvalidInput(problems, model=model_id)
        return normalized


def default_registry() -> ModelRegistry:
    """The four seed models, free to end users (the operator pays KIE)."""
    return ModelRegistry({spec.id: spec for spec in _seed_models()})


def _input_from_mapping(raw: object, where: str) -> InputSpec:
    if not isinstance(raw, Mapping):
        raise ConfigurationError(f'{where}: each input must be a table with a "name", got {raw!r}')
    for key in ("min", "max", "max_length"):
        bound = raw.get(key)
        if bound is not None and (isinstance(bound, bool) or not isinstance(bound, int | float)):
            raise ConfigurationError(f"{where}: {key} of input {raw.get('name')!r} must be a number, got {bound!r}")
    try:
        return InputSpec(
            name=str(raw["name"]),
            type=InputType(raw.get("type", "string")),
            required=bool(raw.get("required", False)),
            enum=raw.get("enum"),
            min=raw.get("min"),
            max=raw.get("max"),
            max_length=raw.get("max_length"),
            default=raw.get("default"),
            description=str(raw.get("description", "")),
            aliases=tuple(raw.get("aliases", ())),
        )
    except KeyError as exc:
        raise ConfigurationError(f"{where}: input is missing {exc.args[0]!r}") from None
    except ValueError as exc:
        types = ", ".join(t.value for t in InputType)
        raise ConfigurationError(f"{where}: {exc} (input types: {types})") from None
    except TypeError:  # enum or aliases that are not lists
        raise ConfigurationError(f"{where}: enum and aliases of input {raw.get('name')!r} must be lists") from None


def registry_from_mapping(data: Mapping[str, Any], *, source: str = "models file") -> list[ModelSpec]:
    """Read ``{"models": [{"id", "title", "kind", "price", "deadline_s", "inputs": [...]}]}``."""
    models = data.get("models")
    if not isinstance(models, list):
        raise ConfigurationError(f'{source}: expected a top-level "models" list')
    specs = []
    for index, raw in enumerate(models):
        where = f"{source}: models[{index}]"
        if not isinstance(raw, Mapping) or "id" not in raw:
            raise ConfigurationError(f'{where}: each model needs an "id"')
        try:
            kind = ModelKind(raw.get("kind", "text-to-image"))
        except ValueError:
            kinds = ", ".join(k.value for k in ModelKind)
            raise ConfigurationError(f"{where}: kind {raw.get('kind')!r} is not one of {kinds}") from None
        inputs = raw.get("inputs", [])
        if not isinstance(inputs, list):
            raise ConfigurationError(f'{where}: "inputs" must be a list of tables')
        raw_price = raw.get("price", 0)
        if not isinstance(raw_price, int) or isinstance(raw_price, bool) or raw_price < 0:
            raise ConfigurationError(f"{where}: price {raw_price!r} must be a whole number of credits, 0 or more")
        try:
            price, deadline_s = raw_price, float(raw.get("deadline_s", 15 * 60))
        except (TypeError, ValueError):
            raise ConfigurationError(f"{where}: deadline_s must be a number of seconds") from None
        if not deadline_s > 0:
            raise ConfigurationError(f"{where}: deadline_s {deadline_s!r} must be more than 0 seconds")
        specs.append(
            ModelSpec(
                id=str(raw["id"]),
                title=str(raw.get("title", raw["id"])),
                kind=kind,
                inputs=[_input_from_mapping(i, f"{where}.inputs") for i in inputs],
                price=price,
                deadline_s=deadline_s,
            )
        )
    return specs


def load_models_file(path: Path) -> list[ModelSpec]:
    """Load extra models from a ``.toml`` or ``.json`` file."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(f"models file {path} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise ConfigurationError(f"cannot read models file {path}: {exc.strerror}") from None
    try:
        data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise ConfigurationError(f"models file {path} is not valid {path.suffix[1:].upper()}: {exc}") from None
    return registry_from_mapping(data, source=str(path))
