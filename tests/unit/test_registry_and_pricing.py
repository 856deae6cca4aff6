"""The registry and the job really immutable, evidence sources an enum, lists of image URLs, the operator's
prices (file, environment, markup) and the models the bot offers."""

from __future__ import annotations

import copy
import json
import math
import pickle
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from kiegen.bootstrap import registry_for
from kiegen.catalogue import DEFAULT_ENABLED, SEED_MODELS, build_registry, default_registry, models_from_mapping
from kiegen.core.errors import ConfigurationError, InvalidInput
from kiegen.core.frozen import FrozenDict, freeze, thaw
from kiegen.core.jobs import Evidence, EvidenceKind, EvidenceSource
from kiegen.core.models import InputSpec, InputType, Media, ModelKind, ModelSpec
from kiegen.core.pricing import ASSUMED_KIE_CREDITS, kie_cost, margin, marked_up_price
from kiegen.core.validation import check_raw, validate
from kiegen.settings import Settings
from tests.unit.factories import make_job

REGISTRY = default_registry()
IMAGE = "https://example.com/cat.png"


# --- immutability ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m.clear(),
        lambda m: m.pop("z-image"),
        lambda m: m.popitem(),
        lambda m: m.update({}),
        lambda m: m.setdefault("x", None),
        lambda m: m.__setitem__("z-image", None),
        lambda m: m.__delitem__("z-image"),
        lambda m: m.__ior__({}),
    ],
    ids=["clear", "pop", "popitem", "update", "setdefault", "setitem", "delitem", "ior"],
)
def test_the_registry_cannot_be_emptied_or_changed_in_place(mutate: Any) -> None:
    with pytest.raises(TypeError, match="immutable"):
        mutate(REGISTRY.models)

    assert "z-image" in REGISTRY and len(REGISTRY) == len(default_registry().models)


def test_a_jobs_inputs_and_metadata_are_immutable_all_the_way_down() -> None:
    job = attrs.evolve(make_job(), inputs={"prompt": "cat", "image_urls": [IMAGE], "extra": {"k": [1]}})

    with pytest.raises(TypeError):
        job.inputs["prompt"] = "dog"  # type: ignore[index]
    with pytest.raises(TypeError):
        job.inputs["extra"]["k"] = 2
    with pytest.raises(TypeError):
        job.metadata.clear()  # type: ignore[attr-defined]
    assert job.inputs["image_urls"] == (IMAGE,)
    assert not hasattr(job.inputs["extra"]["k"], "append")


def test_frozen_inputs_still_serialize_copy_pickle_and_compare_like_plain_json() -> None:
    frozen = freeze({"prompt": "cat", "image_urls": [IMAGE], "extra": {"k": [1, {"n": 2}]}})

    assert json.loads(json.dumps(frozen)) == {"prompt": "cat", "image_urls": [IMAGE], "extra": {"k": [1, {"n": 2}]}}
    assert copy.deepcopy(frozen) == frozen and pickle.loads(pickle.dumps(frozen)) == frozen
    assert isinstance(pickle.loads(pickle.dumps(frozen)), FrozenDict)
    assert hash(frozen) == hash(freeze(thaw(frozen)))
    assert thaw(frozen) == {"prompt": "cat", "image_urls": [IMAGE], "extra": {"k": [1, {"n": 2}]}}
    assert type(thaw(frozen)["image_urls"]) is list


def test_evidence_sources_are_an_enum_and_unknown_ones_are_refused() -> None:
    evidence = Evidence(kind=EvidenceKind.PROGRESS, source="poll")

    assert evidence.source is EvidenceSource.POLL
    assert Evidence.submitted("t1").source is EvidenceSource.SUBMIT
    assert Evidence.deadline().source is EvidenceSource.CLOCK
    with pytest.raises(ValueError, match="webhook"):
        Evidence(kind=EvidenceKind.PROGRESS, source="webhook")


# --- lists of image URLs and other lists ----------------------------------------------------------------------


def spec_with(*inputs: InputSpec) -> ModelSpec:
    return ModelSpec(id="acme/x", title="X", kind=ModelKind.EDIT, inputs=inputs)


PHOTOS = InputSpec(name="image_urls", type=InputType.URL_LIST, required=True, min_items=2, max_items=3)


def problem(spec: ModelSpec, inputs: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as caught:
        validate(spec, inputs)
    return str(caught.value)


def test_a_list_of_image_urls_is_checked_for_count_and_scheme() -> None:
    spec = spec_with(PHOTOS)

    assert validate(spec, {"image_urls": [IMAGE, IMAGE]}) == {"image_urls": [IMAGE, IMAGE]}
    assert "has 4 items, the limit is 3" in problem(spec, {"image_urls": [IMAGE] * 4})
    assert "has 1 items, at least 2 are needed" in problem(spec, {"image_urls": [IMAGE]})
    assert "1 of 2 items are not http(s) URLs" in problem(spec, {"image_urls": [IMAGE, "file:///etc/passwd"]})
    assert "expected a list" in problem(spec, {"image_urls": 5})
    assert "is required" in problem(spec, {})


def test_one_url_where_a_list_is_expected_is_mended_into_a_list() -> None:
    spec = spec_with(InputSpec(name="image_urls", type=InputType.URL_LIST, required=True))

    assert validate(spec, {"image_urls": IMAGE}) == {"image_urls": [IMAGE]}
    assert "at least 1 are needed" in problem(spec, {"image_urls": []})


def test_a_plain_list_passes_its_items_through_and_may_be_empty() -> None:
    spec = spec_with(InputSpec(name="shots", type=InputType.LIST, required=True, max_items=2))
    shots = [{"prompt": "a", "duration": 3}]

    assert validate(spec, {"shots": shots}) == {"shots": shots}
    assert validate(spec, {"shots": []}) == {"shots": []}
    assert "the limit is 2" in problem(spec, {"shots": shots * 3})


def test_text_shorter_than_its_minimum_is_refused() -> None:
    spec = spec_with(InputSpec(name="prompt", type=InputType.STRING, required=True, min_length=3))

    assert "at least 3 are needed" in problem(spec, {"prompt": "ab"})
    assert validate(spec, {"prompt": "abc"}) == {"prompt": "abc"}


def test_the_image_input_is_the_first_required_url_input() -> None:
    edit = REGISTRY.get("ideogram/v3-edit")
    several = REGISTRY.get("google/nano-banana-edit")

    assert edit.image_input is not None and edit.image_input.name == "image_url"
    assert several.image_input is not None and several.image_input.type is InputType.URL_LIST
    assert REGISTRY.get("z-image").image_input is None
    assert several.needs_image and not REGISTRY.get("nano-banana-pro").needs_image


def test_raw_input_is_only_checked_for_its_shape() -> None:
    anything = {"prompt": 5, "x": [1], "y": {"z": None}}

    assert check_raw("acme/new", anything) == anything
    with pytest.raises(InvalidInput) as caught:
        check_raw(" ", ["prompt"])
    assert set(caught.value.fields) == {"model", "input"}


# --- prices ------------------------------------------------------------------------------------------------------


def test_the_seed_models_are_free_and_the_others_cost_kies_range_times_the_default_markup() -> None:
    for spec in REGISTRY:
        if spec.id in SEED_MODELS:
            assert spec.price == 0
        else:
            assert spec.price == math.ceil(ASSUMED_KIE_CREDITS[spec.media] * Decimal("1.5"))


def test_the_markup_rule_rounds_up_exactly_and_a_zero_markup_is_free() -> None:
    documented = ModelSpec(id="a", title="A", kind=ModelKind.TEXT_TO_IMAGE, inputs=(), kie_credits=10)
    cheap = attrs.evolve(documented, kie_credits=0.01)

    assert marked_up_price(documented, Decimal("1.1")) == 11  # not 12: no float rounding
    assert marked_up_price(cheap, Decimal("1.5")) == 1  # a paid model costs a credit at least
    assert marked_up_price(documented, Decimal(0)) == 0
    assert kie_cost(documented).documented and not kie_cost(REGISTRY.get("google/nano-banana")).documented
    assert margin(attrs.evolve(documented, price=15)) == 5


def test_markup_applies_to_catalogue_models_and_model_files_without_a_price_of_their_own(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    models.write_text(
        json.dumps(
            {
                "models": [
                    {"id": "acme/priced", "price": 7, "inputs": [{"name": "prompt"}]},
                    {"id": "acme/costed", "kie_credits": 4, "inputs": [{"name": "prompt"}]},
                    {"id": "acme/video", "kind": "text-to-video", "inputs": [{"name": "prompt"}]},
                ]
            }
        ),
        encoding="utf-8",
    )

    registry = build_registry(markup=Decimal(2), models_file=models)

    assert registry.get("google/nano-banana").price == 100
    assert registry.get("z-image").price == 0
    assert [registry.get(m).price for m in ("acme/priced", "acme/costed", "acme/video")] == [7, 8, 1000]
    assert registry.get("acme/video").media is Media.VIDEO


def test_operator_prices_come_from_a_file_and_the_environment_which_wins(tmp_path: Path) -> None:
    prices = tmp_path / "prices.toml"
    prices.write_text('[prices]\n"google/nano-banana" = 9\n"z-image" = 2\n', encoding="utf-8")
    env = {"KIEGEN_PRICES_FILE": str(prices), "KIEGEN_PRICES": "z-image=3", "KIEGEN_PRICE_MARKUP": "1"}

    registry = registry_for(Settings.from_env(env))

    assert registry.get("google/nano-banana").price == 9
    assert registry.get("z-image").price == 3
    assert registry.get("google/imagen4").price == 50  # markup 1 over KIE's documented range


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("prices = 5", '"prices" table'),
        ('[prices]\n"z-image" = -1', "'z-image' must be a whole number of credits"),
        ('[prices]\n"z-image" = "free"', "'z-image' must be a whole number"),
        ('[prices]\n"z-imag" = 1', "z-imag (did you mean z-image?)"),
    ],
)
def test_a_broken_prices_file_is_a_configuration_error_naming_the_mistake(
    tmp_path: Path, content: str, words: str
) -> None:
    path = tmp_path / "prices.toml"
    path.write_text(content, encoding="utf-8")

    with pytest.raises(ConfigurationError) as caught:
        build_registry(prices_file=path)

    assert words in str(caught.value)


# --- the models the bot offers ----------------------------------------------------------------------------------


def test_by_default_the_bot_offers_the_free_four_and_a_curated_few_including_video() -> None:
    offered = REGISTRY.enabled_models()

    assert [spec.id for spec in offered] == [m for m in (spec.id for spec in REGISTRY) if m in DEFAULT_ENABLED]
    assert set(DEFAULT_ENABLED) == {spec.id for spec in offered}
    assert {spec.media for spec in offered} == set(Media)
    assert REGISTRY.is_enabled("z-image") and not REGISTRY.is_enabled("sora-2-text-to-video")
    assert "sora-2-text-to-video" in REGISTRY  # offered or not, every model is accepted


def test_the_operator_chooses_the_offered_models_or_all_of_them() -> None:
    chosen = registry_for(Settings.from_env({"KIEGEN_MODELS_ENABLED": "kling-2.6/text-to-video, z-image"}))
    everything = registry_for(Settings.from_env({"KIEGEN_MODELS_ENABLED": "*"}))

    assert [spec.id for spec in chosen.enabled_models()] == ["z-image", "kling-2.6/text-to-video"]
    assert len(everything.enabled_models()) == len(everything)
    with pytest.raises(ConfigurationError, match="enabled models list names unknown models: z-imag"):
        registry_for(Settings.from_env({"KIEGEN_MODELS_ENABLED": "z-imag"}))


def test_models_an_operator_adds_are_offered_unless_an_enabled_list_says_otherwise() -> None:
    added = models_from_mapping({"models": [{"id": "acme/sketch", "inputs": [{"name": "prompt"}]}]})

    offered = REGISTRY.with_models(added, enable=True)
    chosen = REGISTRY.with_enabled(["z-image"]).with_models(added)

    assert offered.is_enabled("acme/sketch")
    assert not chosen.is_enabled("acme/sketch") and "acme/sketch" in chosen


def test_changing_prices_or_models_keeps_the_enabled_list() -> None:
    priced = REGISTRY.with_prices({"z-image": 4})

    assert priced.enabled == REGISTRY.enabled
    assert priced.get("z-image").price == 4 and REGISTRY.get("z-image").price == 0
