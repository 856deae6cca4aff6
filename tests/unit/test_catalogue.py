"""The shipped catalogue against KIE's docs pages, input by input (``catalogue_table.py``), and every model
usable with the validator as it stands."""

from __future__ import annotations

from typing import Any

import pytest

from kiegen.catalogue import DATA_FILES, SEED_MODELS, shipped_models
from kiegen.core.errors import InvalidInput
from kiegen.core.models import InputSpec, InputType, Media, ModelKind, ModelSpec
from kiegen.core.validation import validate
from tests.unit.catalogue_table import TABLE, In, Page

CATALOGUE = {spec.id: spec for spec in shipped_models()}
ALL_INPUTS = [(model, name) for model, page in TABLE.items() for name in page.inputs]
IMAGE = "https://example.com/cat.png"


def test_every_shipped_model_has_a_page_in_the_table_and_every_page_a_model() -> None:
    assert sorted(CATALOGUE) == sorted(TABLE)


def test_no_model_id_is_shipped_twice() -> None:
    ids = [spec.id for spec in shipped_models()]

    assert len(ids) == len(set(ids))


def test_the_catalogue_covers_every_kind_and_both_media() -> None:
    assert {spec.kind for spec in CATALOGUE.values()} == set(ModelKind)
    assert {spec.media for spec in CATALOGUE.values()} == set(Media)
    assert len(DATA_FILES) == len(set(DATA_FILES))


@pytest.mark.parametrize("model", sorted(TABLE))
def test_each_model_has_its_pages_kind_media_and_link(model: str) -> None:
    spec, page = CATALOGUE[model], TABLE[model]

    assert spec.kind is ModelKind(page.kind)
    expected_media = (
        Media(page.media)
        if page.media
        else (Media.VIDEO if spec.kind in (ModelKind.TEXT_TO_VIDEO, ModelKind.IMAGE_TO_VIDEO) else Media.IMAGE)
    )
    assert spec.media is expected_media
    slug = page.path.removeprefix("cn/").removesuffix(".md")
    assert spec.docs == f"https://docs.kie.ai/{slug}"
    assert spec.kie_credits == page.kie_credits
    assert spec.title and spec.description


@pytest.mark.parametrize("model", sorted(TABLE))
def test_each_model_has_exactly_the_inputs_of_its_page(model: str) -> None:
    assert sorted(i.name for i in CATALOGUE[model].inputs) == sorted(TABLE[model].inputs)


def _row(spec: InputSpec) -> In:
    return In(
        type=spec.type.value,
        required=spec.required,
        enum=spec.enum,
        min=spec.min,
        max=spec.max,
        min_length=spec.min_length,
        max_length=spec.max_length,
        min_items=spec.min_items,
        max_items=spec.max_items,
        default=spec.default,
    )


@pytest.mark.parametrize(("model", "name"), ALL_INPUTS, ids=[f"{m}.{n}" for m, n in ALL_INPUTS])
def test_each_input_matches_its_page(model: str, name: str) -> None:
    spec = CATALOGUE[model].input(name)
    assert spec is not None

    assert _row(spec) == TABLE[model].inputs[name]
    assert type(spec.default) is type(TABLE[model].inputs[name].default)
    assert spec.description, "every input is described for `kiegen models`"


def _value_for(spec: InputSpec) -> Any:
    least = spec.min_items or 1
    if spec.type is InputType.URL:
        return IMAGE
    if spec.type is InputType.URL_LIST:
        return [IMAGE] * least
    if spec.type is InputType.LIST:
        return []
    if spec.type is InputType.BOOL:
        return False
    if spec.type in (InputType.INT, InputType.NUMBER):
        return spec.min if spec.min is not None else 1
    if spec.enum:
        return spec.enum[0]
    return "a red fox in the snow"[: spec.max_length or None].ljust(spec.min_length or 0, "!")


def minimal(spec: ModelSpec) -> dict[str, Any]:
    return {i.name: _value_for(i) for i in spec.inputs if i.required and i.default is None}


@pytest.mark.parametrize("model", sorted(TABLE))
def test_each_model_validates_its_required_inputs_and_fills_its_defaults(model: str) -> None:
    spec = CATALOGUE[model]

    normalized = validate(spec, minimal(spec))

    defaults = {i.name: i.default for i in spec.inputs if i.default is not None}
    assert normalized == {**defaults, **minimal(spec)}


@pytest.mark.parametrize("model", sorted(m for m in TABLE if any(i.required for i in TABLE[m].inputs.values())))
def test_each_model_names_what_is_missing_from_an_empty_request(model: str) -> None:
    spec = CATALOGUE[model]
    missing = {i.name for i in spec.inputs if i.required and i.default is None}
    if not missing:
        pytest.skip("every required input has a default")

    with pytest.raises(InvalidInput) as caught:
        validate(spec, {})

    assert set(caught.value.fields) == missing


def test_models_taking_several_images_take_a_list_with_limits_from_their_pages() -> None:
    several = {
        model: page.inputs[name].max_items
        for model, page in TABLE.items()
        for name, row in page.inputs.items()
        if row.type == "url_list"
    }

    assert several["google/nano-banana-edit"] == 10
    assert several["nano-banana-pro"] == 8
    assert all(CATALOGUE[m].input(n) for m, p in TABLE.items() for n in p.inputs)


def test_the_seed_models_are_free_and_every_other_model_is_paid_by_default() -> None:
    free = {spec.id for spec in CATALOGUE.values() if spec.price == 0}

    assert free == set(SEED_MODELS)


def test_the_table_names_real_page_paths() -> None:
    pages: list[Page] = list(TABLE.values())

    assert all(p.path.endswith(".md") and p.path.startswith(("cn/market/", "market/")) for p in pages)
    assert len({p.path for p in pages}) == len(pages)
