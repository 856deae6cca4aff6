"""The seed models against KIE_API.md, and validate(): every failure class, defaults, aliases, mending; model
files read by the catalogue loader."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from kiegen.catalogue import SEED_MODELS, default_registry, load_models_file, models_from_mapping
from kiegen.core.errors import ConfigurationError, InvalidInput
from kiegen.core.models import InputSpec, InputType, ModelKind
from kiegen.core.registry import ModelRegistry
from kiegen.core.validation import coerce_text

REGISTRY = default_registry()
IMAGE = "https://example.com/cat.png"


class Row(NamedTuple):
    """One input as KIE_API.md documents it."""

    type: str
    required: bool = False
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    max_length: int | None = None
    default: Any = None


ASPECT_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16")
IMAGE_SIZES = ("square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
ACCELERATION = Row("string", enum=("none", "regular", "high"), default="none")
NEGATIVE_PROMPT = Row("string", max_length=500)
SEED = Row("int")
SAFETY = Row("bool", default=True)
NSFW = Row("bool", default=False)

# Transcribed from KIE_API.md ("The four models of the first release"), not from models.py.
SCHEMA: dict[str, dict[str, Row]] = {
    "z-image": {
        "prompt": Row("string", required=True, max_length=1000),
        "aspect_ratio": Row("string", required=True, enum=ASPECT_RATIOS, default="1:1"),
        "nsfw_checker": NSFW,
    },
    "qwen/text-to-image": {
        "prompt": Row("string", required=True, max_length=5000),
        "image_size": Row("string", enum=IMAGE_SIZES, default="square_hd"),
        "num_inference_steps": Row("int", min=2, max=250, default=30),
        "guidance_scale": Row("number", min=0, max=20, default=2.5),
        "seed": SEED,
        "negative_prompt": NEGATIVE_PROMPT,
        "output_format": Row("string", enum=("png", "jpeg"), default="png"),
        "acceleration": ACCELERATION,
        "enable_safety_checker": SAFETY,
        "nsfw_checker": NSFW,
    },
    "qwen/image-to-image": {
        "prompt": Row("string", required=True, max_length=5000),
        "image_url": Row("url", required=True),
        "strength": Row("number", min=0, max=1, default=0.8),
        "output_format": Row("string", enum=("png", "jpeg"), default="png"),
        "acceleration": ACCELERATION,
        "negative_prompt": NEGATIVE_PROMPT,
        "seed": SEED,
        "num_inference_steps": Row("int", min=2, max=250, default=30),
        "guidance_scale": Row("number", min=0, max=20, default=2.5),
        "enable_safety_checker": SAFETY,
        "nsfw_checker": NSFW,
    },
    "qwen/image-edit": {
        "prompt": Row("string", required=True, max_length=2000),
        "image_url": Row("url", required=True),
        "acceleration": ACCELERATION,
        "image_size": Row("string", enum=IMAGE_SIZES, default="landscape_4_3"),
        "num_inference_steps": Row("int", min=2, max=49, default=25),
        "seed": SEED,
        "guidance_scale": Row("number", min=0, max=20, default=4),
        "num_images": Row("string", enum=("1", "2", "3", "4")),
        "enable_safety_checker": SAFETY,
        # KIE_API.md lists jpeg and png without a default; png is KIE's default for its other Qwen models.
        "output_format": Row("string", enum=("jpeg", "png"), default="png"),
        "negative_prompt": NEGATIVE_PROMPT,
        "nsfw_checker": NSFW,
        "sync_mode": Row("bool"),
    },
}
KINDS = {
    "z-image": ModelKind.TEXT_TO_IMAGE,
    "qwen/text-to-image": ModelKind.TEXT_TO_IMAGE,
    "qwen/image-to-image": ModelKind.IMAGE_TO_IMAGE,
    "qwen/image-edit": ModelKind.EDIT,
}
ALL_INPUTS = [(model, name) for model, rows in SCHEMA.items() for name in rows]


def minimal(model: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {"prompt": "a cat on a roof"}
    if "image_url" in SCHEMA[model]:
        inputs["image_url"] = IMAGE
    return inputs


def problems(model: str, inputs: Any) -> dict[str, str]:
    """Validate and return {field: problem text}; fail the test when validation passes."""
    with pytest.raises(InvalidInput) as caught:
        REGISTRY.validate(model, inputs)
    return {problem.field: str(problem) for problem in caught.value.problems}


# --- the registry is the documented schema --------------------------------------------------------------


def test_the_seed_models_are_exactly_the_four_documented_models_and_come_first() -> None:
    assert set(SEED_MODELS) == set(SCHEMA)
    assert [spec.id for spec in REGISTRY][: len(SCHEMA)] == list(SEED_MODELS)


@pytest.mark.parametrize("model", list(SCHEMA))
def test_each_model_has_exactly_the_documented_inputs(model: str) -> None:
    names = [spec.name for spec in REGISTRY.get(model).inputs]

    assert sorted(names) == sorted(SCHEMA[model])


@pytest.mark.parametrize(("model", "name"), ALL_INPUTS, ids=[f"{m}.{n}" for m, n in ALL_INPUTS])
def test_each_input_matches_kie_api_md(model: str, name: str) -> None:
    spec = REGISTRY.get(model).input(name)
    row = SCHEMA[model][name]
    assert spec is not None

    assert spec.name == name
    assert spec.type is InputType(row.type)
    assert spec.required is row.required
    assert (set(spec.enum) if spec.enum is not None else None) == (set(row.enum) if row.enum else None)
    assert (spec.min, spec.max, spec.max_length) == (row.min, row.max, row.max_length)
    assert spec.default == row.default
    assert type(spec.default) is type(row.default)
    assert spec.description, "every input is described for `kiegen models`"


@pytest.mark.parametrize("model", list(SCHEMA))
def test_each_model_has_its_documented_kind_and_is_free_by_default(model: str) -> None:
    spec = REGISTRY.get(model)

    assert spec.kind is KINDS[model]
    assert spec.price == 0
    assert spec.title
    assert spec.deadline_s == 15 * 60


def test_only_the_image_models_need_an_image() -> None:
    seeds = [REGISTRY.get(model) for model in SCHEMA]

    assert {spec.id for spec in seeds if spec.needs_image} == {"qwen/image-to-image", "qwen/image-edit"}


# --- defaults, aliases, mending -------------------------------------------------------------------------


@pytest.mark.parametrize("model", list(SCHEMA))
def test_defaults_are_applied_and_inputs_without_one_are_left_out(model: str) -> None:
    expected = {name: row.default for name, row in SCHEMA[model].items() if row.default is not None}

    assert REGISTRY.validate(model, minimal(model)) == {**minimal(model), **expected}


def test_a_none_value_counts_as_omitted() -> None:
    assert REGISTRY.validate("z-image", {"prompt": "cat", "aspect_ratio": None})["aspect_ratio"] == "1:1"
    assert "is required" in problems("z-image", {"prompt": None})["prompt"]


def test_given_values_win_over_defaults() -> None:
    normalized = REGISTRY.validate("z-image", {"prompt": "cat", "aspect_ratio": "16:9", "nsfw_checker": True})

    assert normalized == {"prompt": "cat", "aspect_ratio": "16:9", "nsfw_checker": True}


def test_validate_does_not_change_the_callers_mapping() -> None:
    inputs = {"prompt": "cat", "image": IMAGE}

    REGISTRY.validate("qwen/image-edit", inputs)

    assert inputs == {"prompt": "cat", "image": IMAGE}


@pytest.mark.parametrize("model", ["qwen/image-to-image", "qwen/image-edit"])
def test_the_image_alias_is_mapped_to_image_url(model: str) -> None:
    normalized = REGISTRY.validate(model, {"prompt": "cat", "image": IMAGE})

    assert normalized["image_url"] == IMAGE
    assert "image" not in normalized


def test_an_input_given_under_its_name_and_its_alias_is_a_problem() -> None:
    found = problems("qwen/image-edit", {"prompt": "cat", "image": IMAGE, "image_url": IMAGE})

    assert "given twice" in found["image_url"]


def test_num_images_given_as_an_int_is_mended_to_the_string_kie_expects() -> None:
    normalized = REGISTRY.validate("qwen/image-edit", {**minimal("qwen/image-edit"), "num_images": 2})

    assert normalized["num_images"] == "2"


@pytest.mark.parametrize("value", [5, 0, True, 2.0, "5"])
def test_num_images_outside_one_to_four_is_refused(value: object) -> None:
    assert "num_images" in problems("qwen/image-edit", {**minimal("qwen/image-edit"), "num_images": value})


def test_a_whole_float_is_accepted_as_an_int() -> None:
    normalized = REGISTRY.validate("qwen/text-to-image", {"prompt": "cat", "num_inference_steps": 40.0})

    assert normalized["num_inference_steps"] == 40
    assert type(normalized["num_inference_steps"]) is int


def test_an_int_is_accepted_as_a_number() -> None:
    assert REGISTRY.validate("qwen/text-to-image", {"prompt": "cat", "guidance_scale": 7})["guidance_scale"] == 7


# --- every failure class ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typo", "suggestion"),
    [("z-imag", "z-image"), ("qwen/image-edt", "qwen/image-edit"), ("qwen/text2image", "qwen/text-to-image")],
)
def test_an_unknown_model_is_refused_with_close_matches(typo: str, suggestion: str) -> None:
    found = problems(typo, {"prompt": "cat"})

    assert list(found) == ["model"]
    assert suggestion in found["model"]
    assert typo in found["model"]


def test_an_unknown_model_without_close_matches_points_to_the_model_list() -> None:
    assert "kiegen models" in problems("dall-e-9000", {"prompt": "cat"})["model"]


def test_registry_get_refuses_an_unknown_model_the_same_way() -> None:
    with pytest.raises(InvalidInput) as caught:
        REGISTRY.get("z-imag")

    assert caught.value.fields == ("model",)


@pytest.mark.parametrize(
    ("model", "inputs", "field"),
    [
        ("z-image", {}, "prompt"),
        ("qwen/text-to-image", {"seed": 1}, "prompt"),
        ("qwen/image-to-image", {"prompt": "cat"}, "image_url"),
        ("qwen/image-edit", {"prompt": "cat"}, "image_url"),
    ],
)
def test_a_missing_required_input_is_named(model: str, inputs: dict[str, Any], field: str) -> None:
    assert "is required" in problems(model, inputs)[field]


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("prompt", 5, "expected text"),
        ("negative_prompt", ["no"], "expected text"),
        ("enable_safety_checker", "yes", "true or false"),
        ("enable_safety_checker", 1, "true or false"),
        ("num_inference_steps", "30", "whole number"),
        ("num_inference_steps", 30.5, "whole number"),
        ("seed", "42", "whole number"),
        ("guidance_scale", "high", "a number"),
        ("guidance_scale", [1], "a number"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(field: str, value: object, words: str) -> None:
    inputs = {"prompt": "cat", field: value} if field != "prompt" else {field: value}

    assert words in problems("qwen/text-to-image", inputs)[field]


@pytest.mark.parametrize(
    ("field", "value"),
    [("num_inference_steps", True), ("seed", False), ("guidance_scale", True), ("strength", False)],
)
def test_a_bool_is_not_accepted_as_a_number(field: str, value: bool) -> None:
    assert field in problems("qwen/image-to-image", {**minimal("qwen/image-to-image"), field: value})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("guidance_scale", math.nan),
        ("guidance_scale", math.inf),
        ("strength", -math.inf),
        ("num_inference_steps", math.nan),
        ("seed", math.inf),
    ],
)
def test_nan_and_infinity_are_refused(field: str, value: float) -> None:
    assert field in problems("qwen/image-to-image", {**minimal("qwen/image-to-image"), field: value})


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("qwen/text-to-image", "num_inference_steps", 1),
        ("qwen/text-to-image", "num_inference_steps", 251),
        ("qwen/image-edit", "num_inference_steps", 50),
        ("qwen/text-to-image", "guidance_scale", -0.1),
        ("qwen/text-to-image", "guidance_scale", 20.5),
        ("qwen/image-to-image", "strength", 1.01),
        ("qwen/image-to-image", "strength", -1),
        pytest.param("qwen/text-to-image", "num_inference_steps", 10**400, id="steps-10**400"),
        pytest.param("qwen/text-to-image", "guidance_scale", -(10**400), id="guidance--10**400"),
    ],
)
def test_a_value_out_of_range_is_refused_with_the_range(model: str, field: str, value: float) -> None:
    text = problems(model, {**minimal(model), field: value})[field]

    assert "out of range" in text
    assert "use a value from" in text


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("qwen/text-to-image", "num_inference_steps", 2),
        ("qwen/text-to-image", "num_inference_steps", 250),
        ("qwen/image-edit", "num_inference_steps", 49),
        ("qwen/text-to-image", "guidance_scale", 0),
        ("qwen/text-to-image", "guidance_scale", 20),
        ("qwen/image-to-image", "strength", 0.0),
        ("qwen/image-to-image", "strength", 1.0),
        ("qwen/text-to-image", "seed", -(2**63)),
    ],
)
def test_values_on_the_bounds_are_accepted(model: str, field: str, value: float) -> None:
    assert REGISTRY.validate(model, {**minimal(model), field: value})[field] == value


@pytest.mark.parametrize(
    ("model", "field", "value"),
    [
        ("z-image", "aspect_ratio", "2:1"),
        ("qwen/text-to-image", "image_size", "huge"),
        ("qwen/text-to-image", "output_format", "webp"),
        ("qwen/text-to-image", "acceleration", "turbo"),
        ("qwen/image-edit", "image_size", "SQUARE"),
    ],
)
def test_a_value_outside_the_enum_is_refused_with_the_allowed_values(model: str, field: str, value: str) -> None:
    text = problems(model, {**minimal(model), field: value})[field]

    assert "not allowed" in text
    assert "use one of:" in text


@pytest.mark.parametrize(
    ("model", "field", "limit"),
    [
        ("z-image", "prompt", 1000),
        ("qwen/text-to-image", "prompt", 5000),
        ("qwen/image-to-image", "prompt", 5000),
        ("qwen/image-edit", "prompt", 2000),
        ("qwen/image-edit", "negative_prompt", 500),
    ],
)
def test_text_longer_than_the_limit_is_refused_and_the_limit_itself_is_accepted(
    model: str, field: str, limit: int
) -> None:
    assert REGISTRY.validate(model, {**minimal(model), field: "x" * limit})[field] == "x" * limit

    text = problems(model, {**minimal(model), field: "x" * (limit + 1)})[field]

    assert f"the limit is {limit}" in text
    assert "shorten it by 1" in text


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t"])
def test_an_empty_prompt_is_refused(prompt: str) -> None:
    assert "empty" in problems("z-image", {"prompt": prompt})["prompt"]


@pytest.mark.parametrize("url", ["cat.png", "/tmp/cat.png", "ftp://example.com/cat.png", "file:///etc/passwd"])
def test_an_image_url_must_be_http_or_https(url: str) -> None:
    assert "http(s)" in problems("qwen/image-edit", {"prompt": "cat", "image_url": url})["image_url"]


@pytest.mark.parametrize(("typo", "suggestion"), [("promt", "prompt"), ("aspect", "aspect_ratio")])
def test_an_unknown_input_is_refused_with_a_suggestion(typo: str, suggestion: str) -> None:
    text = problems("z-image", {"prompt": "cat", typo: "1:1"})[typo]

    assert "unknown input" in text
    assert f"did you mean {suggestion}?" in text


def test_an_input_of_another_model_is_unknown_and_the_known_inputs_are_listed() -> None:
    text = problems("z-image", {"prompt": "cat", "strength": 0.5})["strength"]

    assert "known inputs: prompt, aspect_ratio, nsfw_checker" in text


@pytest.mark.parametrize("inputs", [["prompt"], "a cat", None, 42])
def test_inputs_that_are_not_a_mapping_are_refused(inputs: object) -> None:
    assert list(problems("z-image", inputs)) == ["input"]


def test_every_problem_is_reported_at_once_each_naming_its_field() -> None:
    inputs = {
        "prompt": "x" * 2001,
        "image": "not a url",
        "num_inference_steps": 99,
        "guidance_scale": "strong",
        "image_size": "huge",
        "num_images": 7,
        "sync_mode": "no",
        "strenght": 0.5,
    }

    with pytest.raises(InvalidInput) as caught:
        REGISTRY.validate("qwen/image-edit", inputs)

    error = caught.value
    expected = {
        "prompt",
        "image_url",
        "num_inference_steps",
        "guidance_scale",
        "image_size",
        "num_images",
        "sync_mode",
        "strenght",
    }
    assert set(error.fields) == expected
    assert len(error.problems) == len(expected)
    assert error.model == "qwen/image-edit"
    for field in expected:
        assert f"  - {field}: " in str(error)


# --- coerce_text (command line and chat) ----------------------------------------------------------------


def spec_of(kind: InputType) -> InputSpec:
    return InputSpec(name="x", type=kind)


@pytest.mark.parametrize(
    ("kind", "text", "value"),
    [
        (InputType.BOOL, "true", True),
        (InputType.BOOL, " Yes ", True),
        (InputType.BOOL, "ON", True),
        (InputType.BOOL, "1", True),
        (InputType.BOOL, "false", False),
        (InputType.BOOL, "no", False),
        (InputType.BOOL, "Off", False),
        (InputType.BOOL, "0", False),
        (InputType.INT, "42", 42),
        (InputType.INT, " -7 ", -7),
        (InputType.NUMBER, "2.5", 2.5),
        (InputType.NUMBER, "3", 3),
        (InputType.NUMBER, "1e1", 10),
        (InputType.STRING, " 42 ", " 42 "),
        (InputType.STRING, "true", "true"),
        (InputType.URL, "https://x/y.png", "https://x/y.png"),
    ],
)
def test_coerce_text_turns_text_into_the_inputs_type(kind: InputType, text: str, value: object) -> None:
    coerced = coerce_text(spec_of(kind), text)

    assert coerced == value
    assert type(coerced) is type(value)


def test_coerce_text_keeps_a_decimal_point_as_a_float() -> None:
    coerced = coerce_text(spec_of(InputType.NUMBER), "3.0")

    assert coerced == 3.0
    assert type(coerced) is float


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        (InputType.BOOL, "maybe"),
        (InputType.INT, "4.5"),
        (InputType.INT, "forty"),
        (InputType.INT, "9" * 5000),
        (InputType.NUMBER, "fast"),
        (InputType.NUMBER, ""),
    ],
)
def test_coerce_text_leaves_unparseable_text_for_validate_to_report(kind: InputType, text: str) -> None:
    assert coerce_text(spec_of(kind), text) == text


def test_coerced_command_line_values_validate() -> None:
    spec = REGISTRY.get("qwen/text-to-image")
    raw = {"num_inference_steps": "40", "guidance_scale": "7.5", "enable_safety_checker": "no", "seed": "1"}
    coerced = {name: coerce_text(spec.input(name) or spec_of(InputType.STRING), text) for name, text in raw.items()}

    normalized = REGISTRY.validate("qwen/text-to-image", {"prompt": "cat", **coerced})

    assert normalized["num_inference_steps"] == 40
    assert normalized["guidance_scale"] == 7.5
    assert normalized["enable_safety_checker"] is False
    assert normalized["seed"] == 1


# --- extra models from files, prices ---------------------------------------------------------------------

EXTRA_TOML = """
[[models]]
id = "acme/sketch"
title = "Acme Sketch"
kind = "image-to-image"
price = 5
deadline_s = 300

[[models.inputs]]
name = "prompt"
type = "string"
required = true
max_length = 100
description = "What to draw."

[[models.inputs]]
name = "image_url"
type = "url"
required = true
aliases = ["image"]

[[models.inputs]]
name = "steps"
type = "int"
min = 1
max = 10
default = 4

[[models.inputs]]
name = "count"
type = "int"
enum = [1, 2, 4]
"""
EXTRA = {
    "models": [
        {
            "id": "acme/sketch",
            "title": "Acme Sketch",
            "kind": "image-to-image",
            "price": 5,
            "deadline_s": 300,
            "inputs": [
                {"name": "prompt", "type": "string", "required": True, "max_length": 100, "description": "What."},
                {"name": "image_url", "type": "url", "required": True, "aliases": ["image"]},
                {"name": "steps", "type": "int", "min": 1, "max": 10, "default": 4},
                {"name": "count", "type": "int", "enum": [1, 2, 4]},
            ],
        }
    ]
}


@pytest.fixture(params=["toml", "json"])
def models_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    path = tmp_path / f"models.{request.param}"
    path.write_text(EXTRA_TOML if request.param == "toml" else json.dumps(EXTRA), encoding="utf-8")
    return path


def test_extra_models_load_from_a_toml_or_json_file(models_file: Path) -> None:
    registry = REGISTRY.with_models(load_models_file(models_file))
    spec = registry.get("acme/sketch")

    assert len(registry) == len(REGISTRY) + 1
    assert (spec.title, spec.kind, spec.price, spec.deadline_s) == ("Acme Sketch", ModelKind.IMAGE_TO_IMAGE, 5, 300)
    assert spec.needs_image
    assert registry.validate("acme/sketch", {"prompt": "cat", "image": IMAGE}) == {
        "prompt": "cat",
        "image_url": IMAGE,
        "steps": 4,
    }
    assert "z-image" in registry


def test_extra_models_are_validated_like_the_seed_models(models_file: Path) -> None:
    registry = REGISTRY.with_models(load_models_file(models_file))

    with pytest.raises(InvalidInput) as caught:
        registry.validate("acme/sketch", {"prompt": "x" * 101, "steps": 11, "colour": "red"})

    assert set(caught.value.fields) == {"prompt", "image_url", "steps", "colour"}


def test_an_enum_on_a_number_input_from_a_file_is_enforced(models_file: Path) -> None:
    registry = REGISTRY.with_models(load_models_file(models_file))
    inputs = {"prompt": "cat", "image_url": IMAGE}

    assert registry.validate("acme/sketch", {**inputs, "count": 2})["count"] == 2
    with pytest.raises(InvalidInput) as caught:
        registry.validate("acme/sketch", {**inputs, "count": 3})

    assert caught.value.fields == ("count",)


def test_a_model_from_a_file_replaces_a_seed_model_of_the_same_id() -> None:
    specs = models_from_mapping({"models": [{"id": "z-image", "price": 3, "inputs": [{"name": "prompt"}]}]})

    registry = REGISTRY.with_models(specs)

    assert registry.get("z-image").price == 3
    assert REGISTRY.get("z-image").price == 0


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("broken.toml", "[[models]\nid = 1", "not valid TOML"),
        ("broken.json", '{"models": [', "not valid JSON"),
        ("empty.json", "{}", 'top-level "models" list'),
        ("no-list.toml", 'models = "z"', 'top-level "models" list'),
        ("no-id.json", '{"models": [{"title": "x"}]}', 'models[0]: each model needs an "id"'),
        ("not-a-table.json", '{"models": ["acme/x"]}', 'models[0]: each model needs an "id"'),
        ("kind.json", '{"models": [{"id": "a", "kind": "video"}]}', "(models[0]): kind: 'video' is not one of"),
        ("no-name.json", '{"models": [{"id": "a", "inputs": [{"type": "int"}]}]}', "inputs[0].name: is missing"),
        ("type.json", '{"models": [{"id": "a", "inputs": [{"name": "n", "type": "float"}]}]}', "string, int, number"),
        ("input.json", '{"models": [{"id": "a", "inputs": ["prompt"]}]}', "model 'a' (models[0]): inputs[0]"),
        ("inputs.json", '{"models": [{"id": "a", "inputs": "prompt"}]}', "model 'a' (models[0]): inputs"),
        ("price.json", '{"models": [{"id": "a", "price": "free"}]}', "price: expected a whole number, got 'free'"),
        (
            "min.json",
            '{"models": [{"id": "a", "inputs": [{"name": "n", "min": "1"}]}]}',
            "inputs[0].min: expected a number",
        ),
        (
            "enum.toml",
            '[[models]]\nid = "a"\n[[models.inputs]]\nname = "n"\nenum = 5',
            "inputs[0].enum: expected a list",
        ),
        ("typo.json", '{"models": [{"id": "a", "titel": "A"}]}', "unknown key 'titel'"),
        (
            "bounds.json",
            '{"models": [{"id": "a", "inputs": [{"name": "n", "type": "int", "min": 5, "max": 1}]}]}',
            "min 5 is above max 1",
        ),
        (
            "default.json",
            '{"models": [{"id": "a", "inputs": [{"name": "n", "enum": ["x"], "default": "y"}]}]}',
            "the default 'y' fails",
        ),
        ("twice.json", '{"models": [{"id": "a"}, {"id": "a"}]}', "the id is given twice"),
        ("negative.json", '{"models": [{"id": "a", "price": -1}]}', "price -1 is below 0"),
        (
            "media.json",
            '{"models": [{"id": "a", "kind": "text-to-video", "media": "image"}]}',
            "makes video, not image",
        ),
    ],
)
def test_a_broken_models_file_gives_a_configuration_error_naming_the_file_and_the_place(
    tmp_path: Path, name: str, content: str, words: str
) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        load_models_file(path)

    assert str(path) in str(caught.value)
    assert words in str(caught.value)


def test_a_missing_models_file_gives_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read models file"):
        load_models_file(tmp_path / "absent.toml")


def test_a_models_file_that_is_not_utf8_gives_a_configuration_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('[[models]]\nid = "caf\u00e9"\n'.encode("latin-1"))

    with pytest.raises(ConfigurationError) as caught:
        load_models_file(path)

    assert str(path) in str(caught.value)


def test_with_prices_sets_operator_prices_and_leaves_the_rest() -> None:
    priced = REGISTRY.with_prices({"qwen/image-edit": 4})

    assert priced.get("qwen/image-edit").price == 4
    assert priced.get("z-image").price == 0
    assert REGISTRY.get("qwen/image-edit").price == 0


def test_with_prices_refuses_a_price_for_an_unknown_model() -> None:
    with pytest.raises(ConfigurationError, match="unknown models: dall-e, z-imag"):
        REGISTRY.with_prices({"z-imag": 1, "dall-e": 2})


def test_an_empty_registry_knows_no_model() -> None:
    assert "did you mean" not in problems_in(ModelRegistry({}), "z-image")


def problems_in(registry: ModelRegistry, model: str) -> str:
    with pytest.raises(InvalidInput) as caught:
        registry.validate(model, {})
    return str(caught.value)
