"""Properties of the core that must hold for any input, not only the vectors we thought of."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiegen.catalogue import default_registry
from kiegen.core.callbacks import CallbackReading, Unreadable, read_callback
from kiegen.core.errors import InvalidInput
from kiegen.core.jobs import Evidence, EvidenceKind, JobStatus, apply

from .factories import T0, evidence_of, make_job

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
REGISTRY = default_registry()

scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
jsonish = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
task_ids = st.none() | st.text(max_size=12) | st.integers() | jsonish
states = st.sampled_from(["waiting", "queuing", "generating", "success", "fail", "SUCCESS", "", "odd"]) | jsonish
result_jsons = jsonish | jsonish.map(lambda value: json.dumps(value))
callback_data = st.fixed_dictionaries(
    {},
    optional={
        "taskId": task_ids,
        "task_id": task_ids,
        "state": states,
        "resultJson": result_jsons,
        "failCode": jsonish,
        "failMsg": jsonish,
        "creditsConsumed": jsonish,
        "consumeCredits": jsonish,
        "model": jsonish,
    },
)
callback_bodies = st.fixed_dictionaries(
    {},
    optional={
        "code": jsonish,
        "msg": jsonish,
        "taskId": task_ids,
        "task_id": task_ids,
        "data": callback_data | callback_data.map(json.dumps) | jsonish,
    },
)
queries = st.dictionaries(st.sampled_from(["taskId", "task_id", "token", "job"]), st.text(max_size=12), max_size=2)


@FAST
@given(raw=st.binary(max_size=512), query=queries)
def test_read_callback_never_raises_for_arbitrary_bytes(raw: bytes, query: dict[str, str]) -> None:
    assert isinstance(read_callback(raw, query, {}), CallbackReading | Unreadable)


@FAST
@given(value=jsonish, query=queries)
def test_read_callback_never_raises_for_arbitrary_json_values(value: Any, query: dict[str, str]) -> None:
    raw = json.dumps(value).encode()

    assert isinstance(read_callback(raw, query, {}), CallbackReading | Unreadable)


@FAST
@given(payload=callback_bodies, query=queries)
def test_read_callback_never_raises_for_callback_shaped_bodies(payload: dict[str, Any], query: dict[str, str]) -> None:
    reading = read_callback(json.dumps(payload).encode(), query, {})

    assert isinstance(reading, CallbackReading | Unreadable)
    if isinstance(reading, CallbackReading):
        assert reading.snapshot.task_id
        assert all(isinstance(url, str) and url for url in reading.snapshot.result_urls)


evidences = st.builds(
    evidence_of,
    st.sampled_from(list(EvidenceKind)),
    task_id=st.none() | st.sampled_from(["task-1", "task-2"]),
)


@FAST
@given(start=st.sampled_from(list(JobStatus)), sequence=st.lists(evidences, max_size=12))
def test_apply_never_moves_a_terminal_job_except_the_late_success_upgrade(
    start: JobStatus, sequence: list[Evidence]
) -> None:
    job = make_job(start)
    now = T0
    for evidence in sequence:
        now += timedelta(seconds=1)
        transition = apply(job, evidence, now)
        before, after = transition.before.status, transition.after.status
        if before.terminal:
            assert after is before or (before, after) == (JobStatus.TIMED_OUT, JobStatus.SUCCEEDED)
        if after is JobStatus.SUCCEEDED:
            assert transition.after.late is (before is JobStatus.TIMED_OUT or transition.before.late)
        again = apply(transition.after, evidence, now + timedelta(seconds=1))
        assert again.after == transition.after, "applying the same evidence twice changes nothing"
        job = transition.after
    if start.terminal and job.status is not start:
        assert (start, job.status, job.late) == (JobStatus.TIMED_OUT, JobStatus.SUCCEEDED, True)


input_names = st.sampled_from(sorted({spec.name for model in REGISTRY for spec in model.inputs} | {"image"}))
input_values = jsonish | st.floats(allow_nan=True, allow_infinity=True) | st.integers(min_value=-(10**400))


@FAST
@given(
    model=st.sampled_from(sorted(REGISTRY.models)) | st.text(max_size=20),
    inputs=st.dictionaries(input_names | st.text(max_size=12), input_values, max_size=8)
    | st.dictionaries(input_names, input_values, max_size=3).map(
        lambda extra: {"prompt": "a cat", "image_url": "https://example.com/cat.png", **extra}
    ),
)
def test_validate_returns_a_dict_or_raises_invalid_input_and_nothing_else(model: str, inputs: dict[str, Any]) -> None:
    outcome: dict[str, Any] | InvalidInput
    try:
        outcome = REGISTRY.validate(model, inputs)
    except InvalidInput as error:
        outcome = error

    if isinstance(outcome, InvalidInput):
        named = {str(key) for key in inputs} | {"model", "input"}
        if model in REGISTRY:
            named |= {input_spec.name for input_spec in REGISTRY.get(model).inputs}
        assert outcome.problems
        assert all(problem.field in named for problem in outcome.problems)
    else:
        spec = REGISTRY.get(model)
        assert set(outcome) <= {input_spec.name for input_spec in spec.inputs}
        assert all(input_spec.name in outcome for input_spec in spec.inputs if input_spec.required)


@FAST
@given(inputs=jsonish.filter(lambda value: not isinstance(value, dict)))
def test_validate_refuses_any_input_that_is_not_a_mapping_as_invalid_input(inputs: Any) -> None:
    with pytest.raises(InvalidInput) as caught:
        REGISTRY.validate("z-image", inputs)

    assert caught.value.fields == ("input",)
