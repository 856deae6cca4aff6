"""Input validation: a request against a model's inputs, every problem reported at once.

``validate(spec, inputs)`` returns the normalized input (defaults applied, aliases mapped, friendly mistakes
mended) or raises one ``InvalidInput`` listing every problem, each naming its field, the value and the fix.
Nothing is charged, stored or sent before validation passes.

``check_raw`` is the other door: a model kiegen does not know yet (or inputs its schema does not list) goes to
KIE unvalidated, and the job says so (``is_raw``).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

from kiegen.core.errors import InvalidInput, Problem
from kiegen.core.jobs import Job
from kiegen.core.models import VIDEO_KINDS, InputSpec, InputType, Media, ModelSpec

__all__ = ["RAW_MARK", "check_raw", "coerce_text", "is_raw", "spec_problems", "unknown_model", "validate"]

RAW_MARK = "kiegen_raw"
"""The metadata key that marks a job whose input went to KIE unvalidated."""

_HTTP = ("http://", "https://")


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return _is_int(value)


def _fmt(bound: float | None) -> str:
    if bound is None:
        return "any"
    return str(int(bound)) if float(bound).is_integer() else str(bound)


def _not_allowed(spec: InputSpec, value: object) -> Problem:
    allowed = ", ".join(map(str, spec.enum or ()))
    return Problem(field=spec.name, value=value, message=f"{value!r} is not allowed", fix=f"use one of: {allowed}")


def _check_text(spec: InputSpec, value: object) -> Problem | None:
    name = spec.name
    if not isinstance(value, str):
        return Problem(
            field=name, value=value, message=f"expected text, got {type(value).__name__}", fix="send a string"
        )
    if spec.type is InputType.URL and not value.startswith(_HTTP):
        return Problem(
            field=name,
            value=value,
            message="not an http(s) URL",
            fix="give an https:// URL, or a local file for the SDK to upload",
        )
    if spec.required and not value.strip():
        return Problem(field=name, value=value, message="is empty", fix="write some text")
    if spec.max_length is not None and len(value) > spec.max_length:
        return Problem(
            field=name,
            value=f"<{len(value)} characters>",
            message=f"is {len(value)} characters long, the limit is {spec.max_length}",
            fix=f"shorten it by {len(value) - spec.max_length} characters",
        )
    if spec.min_length is not None and len(value) < spec.min_length:
        return Problem(
            field=name,
            value=value,
            message=f"is {len(value)} characters long, at least {spec.min_length} are needed",
            fix=f"write at least {spec.min_length} characters",
        )
    return None


def _check_list(spec: InputSpec, value: object) -> tuple[object, Problem | None]:
    name = spec.name
    if spec.type is InputType.URL_LIST and isinstance(value, str):
        value = [value]  # one URL where a list is expected: a friendly mistake we can mend
    if not isinstance(value, list | tuple):
        return value, Problem(
            field=name, value=value, message=f"expected a list, got {type(value).__name__}", fix="send a JSON array"
        )
    items = list(value)
    if spec.type is InputType.URL_LIST:
        bad = [item for item in items if not isinstance(item, str) or not item.startswith(_HTTP)]
        if bad:
            return items, Problem(
                field=name,
                value=bad[0],
                message=f"{len(bad)} of {len(items)} items are not http(s) URLs",
                fix="give https:// URLs, or local files for the SDK to upload",
            )
    if spec.max_items is not None and len(items) > spec.max_items:
        return items, Problem(
            field=name,
            value=f"<{len(items)} items>",
            message=f"has {len(items)} items, the limit is {spec.max_items}",
            fix=f"give at most {spec.max_items}",
        )
    # A required list of URLs needs one at least; other lists may be required yet empty (KIE's kling-3.0 wants
    # multi_prompt present even for a single shot).
    implied = 1 if spec.required and spec.type is InputType.URL_LIST else 0
    least = spec.min_items if spec.min_items is not None else implied
    if len(items) < least:
        return items, Problem(
            field=name,
            value=f"<{len(items)} items>",
            message=f"has {len(items)} items, at least {least} are needed",
            fix=f"give at least {least}",
        )
    return items, None


def _check_number(spec: InputSpec, value: object) -> tuple[object, Problem | None]:
    name = spec.name
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
        return value, _not_allowed(spec, value)
    return value, None


def _check_value(spec: InputSpec, value: object) -> tuple[object, Problem | None]:
    """Check one value against its spec; return the normalized value and the problem, if any."""
    if spec.enum is not None and spec.type is InputType.STRING:
        # A number where a string enum is expected (num_images=2) is a friendly mistake we can mend.
        if _is_int(value) and str(value) in spec.enum:
            value = str(value)
        return value, (None if value in spec.enum else _not_allowed(spec, value))
    if spec.type in (InputType.STRING, InputType.URL):
        return value, _check_text(spec, value)
    if spec.type in (InputType.URL_LIST, InputType.LIST):
        return _check_list(spec, value)
    if spec.type is InputType.BOOL:
        if not isinstance(value, bool):
            return value, Problem(
                field=spec.name, value=value, message=f"expected true or false, got {value!r}", fix="use true or false"
            )
        return value, None
    return _check_number(spec, value)


def unknown_model(model_id: object, known: Iterable[str]) -> Problem:
    close = difflib.get_close_matches(str(model_id), list(known), n=3, cutoff=0.5)
    fix = f"did you mean {' or '.join(close)}?" if close else "see `kiegen models` for the list"
    return Problem(field="model", value=model_id, message=f"unknown model {model_id!r}", fix=fix)


def _given_inputs(spec: ModelSpec, inputs: Mapping[str, Any], problems: list[Problem]) -> dict[str, tuple[str, Any]]:
    """Each known input with the key it was given under; unknown and doubled keys become problems."""
    given: dict[str, tuple[str, Any]] = {}
    names = [s.name for s in spec.inputs]
    for key, value in inputs.items():
        field_spec = spec.input(str(key))
        if field_spec is None:
            close = difflib.get_close_matches(str(key), names, n=1, cutoff=0.6)
            fix = f"did you mean {close[0]}?" if close else f"known inputs: {', '.join(names)}"
            problems.append(Problem(field=str(key), value=value, message="unknown input", fix=fix))
        elif field_spec.name in given:
            problems.append(
                Problem(
                    field=field_spec.name,
                    value=value,
                    message=f"given twice (as {given[field_spec.name][0]} and {key})",
                    fix="give it once",
                )
            )
        else:
            given[field_spec.name] = (str(key), value)
    return given


def validate(spec: ModelSpec, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """Normalize ``inputs`` for ``spec`` or raise ``InvalidInput`` listing every problem."""
    if not isinstance(inputs, Mapping):
        raise InvalidInput(
            [Problem(field="input", value=inputs, message="must be an object", fix='send {"prompt": ...}')],
            model=spec.id,
        )
    problems: list[Problem] = []
    given = _given_inputs(spec, inputs, problems)
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
        raise InvalidInput(problems, model=spec.id)
    return normalized


def check_raw(model_id: object, inputs: object) -> dict[str, Any]:
    """The least a request must be to reach KIE at all: a model id and an object of inputs with text keys."""
    problems: list[Problem] = []
    if not isinstance(model_id, str) or not model_id.strip() or any(c.isspace() for c in model_id):
        problems.append(
            Problem(
                field="model", value=model_id, message="is not a model id", fix="give KIE's id, e.g. acme/new-model"
            )
        )
    if not isinstance(inputs, Mapping):
        problems.append(Problem(field="input", value=inputs, message="must be an object", fix='send {"prompt": ...}'))
    elif bad := [key for key in inputs if not isinstance(key, str) or not key]:
        problems.append(Problem(field="input", value=bad[0], message="has a key that is not text", fix="use text keys"))
    if problems:
        raise InvalidInput(problems, model=str(model_id))
    assert isinstance(inputs, Mapping)
    return dict(inputs)


def is_raw(job: Job) -> bool:
    """Whether the job's input went to KIE without kiegen's validation."""
    return bool(job.metadata.get(RAW_MARK))


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
    if spec.type is InputType.URL_LIST:
        return [part.strip() for part in text.split(",") if part.strip()]
    return text


def _input_problems(spec: InputSpec) -> list[str]:
    where = f"inputs {spec.name!r}"
    problems = []
    for low, high in (("min", "max"), ("min_length", "max_length"), ("min_items", "max_items")):
        lo, hi = getattr(spec, low), getattr(spec, high)
        if lo is not None and hi is not None and lo > hi:
            problems.append(f"{where}: {low} {lo} is above {high} {hi}")
    for bound in ("min_length", "max_length", "min_items", "max_items"):
        value = getattr(spec, bound)
        if value is not None and value < 0:
            problems.append(f"{where}: {bound} {value} is below 0")
    if spec.default is not None:
        _, problem = _check_value(spec, spec.default)
        if problem is not None:
            problems.append(f"{where}: the default {spec.default!r} fails its own rules ({problem.message})")
    return problems


def spec_problems(spec: ModelSpec) -> list[str]:
    """What makes a model description unusable: contradictory bounds, defaults that fail their own input,
    doubled input names, a video kind that makes images. Empty for a sound spec."""
    problems: list[str] = []
    if spec.price < 0:
        problems.append(f"price {spec.price} is below 0")
    if spec.kie_credits is not None and spec.kie_credits < 0:
        problems.append(f"kie_credits {spec.kie_credits} is below 0")
    if not spec.deadline_s > 0:
        problems.append(f"deadline_s {spec.deadline_s!r} must be more than 0 seconds")
    if spec.kind in VIDEO_KINDS and spec.media is not Media.VIDEO:
        problems.append(f"kind {spec.kind.value} makes video, not {spec.media.value}")
    names = [i.name for i in spec.inputs]
    problems += [f"input {name!r} is given twice" for name in sorted({n for n in names if names.count(n) > 1})]
    for input_spec in spec.inputs:
        problems += _input_problems(input_spec)
    return problems
