"""Callback vectors: what read_callback makes of every body KIE (or anyone) may send, and the trust rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from kiegen.core.callbacks import (
    DEFAULT_RESULT_HOSTS,
    MAX_CALLBACK_BYTES,
    CallbackReading,
    Unreadable,
    callback_token,
    kie_signature,
    kie_signature_valid,
    read_callback,
    result_urls_allowed,
    token_matches,
)
from kiegen.core.jobs import EvidenceKind, TaskState
from kiegen.core.tasks import TaskSnapshot, evidence_from_snapshot, parse_result_urls, parse_task_data

URL_1 = "https://tempfile.aiquickdraw.com/r/1.png"
URL_2 = "https://tempfile.aiquickdraw.com/r/2.png"


def success_data(**changes: Any) -> dict[str, Any]:
    """The success callback's data object, as KIE_API.md documents it."""
    data: dict[str, Any] = {
        "taskId": "task_z-image_1765174270120",
        "model": "z-image",
        "state": "success",
        "param": json.dumps({"model": "z-image", "input": {"prompt": "a cat"}}),
        "resultJson": json.dumps({"resultUrls": [URL_1]}),
        "failCode": "",
        "failMsg": "",
        "costTime": 8,
        "completeTime": 1787567409000,
        "createTime": 1787567320000,
        "creditsConsumed": 0.8,
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not _DROP}


_DROP = object()


def body(data: Any = None, *, code: int = 200, msg: str = "success", **top: Any) -> bytes:
    return json.dumps({"code": code, "msg": msg, "data": success_data() if data is None else data, **top}).encode()


def reading_of(raw: bytes, query: dict[str, str] | None = None) -> CallbackReading:
    reading = read_callback(raw, query or {}, {})
    assert isinstance(reading, CallbackReading), reading
    return reading


def unreadable(raw: bytes, query: dict[str, str] | None = None) -> Unreadable:
    reading = read_callback(raw, query or {}, {})
    assert isinstance(reading, Unreadable), reading
    return reading


# --- the documented success and failure callbacks ---------------------------------------------------------


def test_the_documented_success_callback_is_read_completely() -> None:
    reading = reading_of(body())

    assert reading.code == 200
    assert reading.snapshot == TaskSnapshot(
        task_id="task_z-image_1765174270120",
        state=TaskState.SUCCESS,
        result_urls=(URL_1,),
        fail_code=None,
        fail_message=None,
        credits=0.8,
        model="z-image",
    )


def test_a_failure_callback_with_code_501_reads_fail_msg_not_the_top_level_msg() -> None:
    data = success_data(state="fail", resultJson=None, failCode="500", failMsg="Content flagged by the NSFW checker")

    reading = reading_of(body(data, code=501, msg="callback: generation failed"))

    assert reading.code == 501
    assert reading.snapshot.state is TaskState.FAIL
    assert reading.snapshot.fail_code == "500"
    assert reading.snapshot.fail_message == "Content flagged by the NSFW checker"
    assert reading.snapshot.result_urls == ()


def test_a_failure_callback_without_result_json_is_read() -> None:
    data = success_data(state="fail", resultJson=_DROP, failCode="501", failMsg="boom")

    assert reading_of(body(data, code=501)).snapshot.fail_message == "boom"


# --- where the task id is --------------------------------------------------------------------------------


def test_the_task_id_is_read_from_data_task_id_in_camel_case() -> None:
    assert reading_of(body(success_data(taskId="a1"))).snapshot.task_id == "a1"


def test_the_task_id_is_read_from_data_task_id_in_snake_case() -> None:
    assert reading_of(body(success_data(taskId=_DROP, task_id="b2"))).snapshot.task_id == "b2"


def test_the_task_id_is_read_from_the_top_level() -> None:
    assert reading_of(body(success_data(taskId=_DROP), taskId="c3")).snapshot.task_id == "c3"


def test_the_task_id_is_read_from_the_query_string_when_the_body_has_none() -> None:
    assert reading_of(body(success_data(taskId=_DROP)), {"taskId": "d4"}).snapshot.task_id == "d4"
    assert reading_of(body(success_data(taskId=_DROP)), {"task_id": "e5"}).snapshot.task_id == "e5"


@pytest.mark.parametrize(
    ("data_fields", "top", "query", "expected"),
    [
        ({"taskId": "data-camel", "task_id": "data-snake"}, "top", "query", "data-camel"),
        ({"task_id": "data-snake"}, "top", "query", "data-snake"),
        ({}, "top", "query", "top"),
        ({}, None, "query", "query"),
    ],
)
def test_task_id_places_are_preferred_in_the_documented_order(
    data_fields: dict[str, str], top: str | None, query: str, expected: str
) -> None:
    data = {**success_data(taskId=_DROP), **data_fields}
    extra = {"taskId": top} if top else {}

    assert reading_of(body(data, **extra), {"taskId": query}).snapshot.task_id == expected


def test_a_body_without_any_task_id_is_unreadable() -> None:
    assert unreadable(body(success_data(taskId=_DROP))).task_id is None


def test_an_unreadable_body_still_carries_the_query_task_id() -> None:
    assert unreadable(b"not json", {"taskId": "q1"}).task_id == "q1"


def test_a_numeric_task_id_is_read_as_text() -> None:
    assert reading_of(body(success_data(taskId=12345))).snapshot.task_id == "12345"


def test_data_sent_as_a_json_string_is_read() -> None:
    assert reading_of(body(json.dumps(success_data()))).snapshot.result_urls == (URL_1,)


def test_a_double_encoded_body_is_read() -> None:
    assert reading_of(json.dumps(body().decode()).encode()).snapshot.state is TaskState.SUCCESS


# --- resultJson forms ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result_json", "urls"),
    [
        pytest.param(json.dumps({"resultUrls": [URL_1, URL_2]}), (URL_1, URL_2), id="string"),
        pytest.param({"resultUrls": [URL_1]}, (URL_1,), id="object"),
        pytest.param(json.dumps(json.dumps({"resultUrls": [URL_1]})), (URL_1,), id="double-encoded"),
        pytest.param({"result_urls": [URL_2]}, (URL_2,), id="snake-case-key"),
        pytest.param({"resultUrls": URL_1}, (URL_1,), id="single-url-string"),
        pytest.param([URL_1], (URL_1,), id="bare-list"),
        pytest.param({"resultUrls": [URL_1, 7, None, "", {"u": 1}]}, (URL_1,), id="non-string-entries-dropped"),
        pytest.param(None, (), id="null"),
        pytest.param("", (), id="empty-string"),
        pytest.param("{not json", (), id="invalid-json"),
        pytest.param(json.dumps({"other": 1}), (), id="no-urls"),
        pytest.param(42, (), id="number"),
        pytest.param("[" * 100_000, (), id="deeply-nested-invalid"),
        pytest.param("[" * 50_000 + "]" * 50_000, (), id="deeply-nested-valid"),
    ],
)
def test_result_json_in_every_form_gives_the_result_urls(result_json: object, urls: tuple[str, ...]) -> None:
    assert parse_result_urls(result_json) == urls
    assert reading_of(body(success_data(resultJson=result_json))).snapshot.result_urls == urls


# --- credits ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "credits"),
    [
        ({"creditsConsumed": 0.8}, 0.8),
        ({"creditsConsumed": _DROP, "consumeCredits": 4, "remainedCredits": 96}, 4.0),
        ({"creditsConsumed": "1.5"}, 1.5),
        ({"creditsConsumed": 2, "consumeCredits": 9}, 2.0),
        ({"creditsConsumed": _DROP}, None),
        ({"creditsConsumed": "lots"}, None),
        ({"creditsConsumed": True}, None),
    ],
)
def test_credits_are_read_in_either_spelling(fields: dict[str, Any], credits: float | None) -> None:
    assert reading_of(body(success_data(**fields))).snapshot.credits == credits


# --- garbage -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"garbage \x00\x01", "not JSON", id="garbage"),
        pytest.param(b"<html>502 Bad Gateway</html>", "not JSON", id="html"),
        pytest.param(b"\xff\xfe\x00{", "not UTF-8", id="invalid-utf8"),
        pytest.param(b"[1, 2, 3]", "JSON list", id="array"),
        pytest.param(b"42", "JSON int", id="number"),
        pytest.param(b"null", "JSON NoneType", id="null"),
        pytest.param(b'"hello"', "JSON string", id="string"),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, "not JSON", id="100k-nested-lists"),
        pytest.param(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "not JSON", id="100k-nested-objects"),
        pytest.param(b'{"code": 200}', "no task id", id="no-data"),
        pytest.param(b'{"code": 200, "data": [1]}', "no task id", id="data-is-a-list"),
        pytest.param(b'{"code": 200, "data": "{oops"}', "no task id", id="data-is-broken-json-text"),
    ],
)
def test_unusable_bodies_are_unreadable_values_never_exceptions(raw: bytes, reason: str) -> None:
    assert reason in unreadable(raw).reason


def test_a_body_over_one_megabyte_is_unreadable_without_being_parsed() -> None:
    padding = "x" * MAX_CALLBACK_BYTES
    raw = body(success_data(param=padding))
    assert len(raw) > 1_000_000

    assert "larger than" in unreadable(raw).reason


def test_a_body_just_under_the_limit_is_still_read() -> None:
    raw = body(success_data(param=""))
    raw = body(success_data(param="x" * (MAX_CALLBACK_BYTES - len(raw))))
    assert len(raw) == MAX_CALLBACK_BYTES

    assert reading_of(raw).snapshot.state is TaskState.SUCCESS


def test_a_deeply_nested_value_inside_a_readable_body_does_not_break_the_reading() -> None:
    raw = b'{"code": 200, "data": {"taskId": "t1", "state": "generating", "param": ' + b"[" * 50_000 + b"]" * 50_000

    assert isinstance(read_callback(raw + b"}}", {}, {}), CallbackReading | Unreadable)


def test_a_code_that_is_not_an_int_is_dropped() -> None:
    assert reading_of(body(code="200")).code is None  # type: ignore[arg-type]
    assert reading_of(body(code=True)).code is None


def test_an_unknown_state_is_read_as_unknown() -> None:
    assert reading_of(body(success_data(state="paused"))).snapshot.state is TaskState.UNKNOWN
    assert reading_of(body(success_data(state=_DROP))).snapshot.state is TaskState.UNKNOWN
    assert reading_of(body(success_data(state=" SUCCESS "))).snapshot.state is TaskState.SUCCESS


def test_parse_task_data_without_a_task_id_gives_none() -> None:
    assert parse_task_data({"state": "success"}) is None
    assert parse_task_data({"taskId": "  "}) is None
    assert parse_task_data({"state": "success"}, fallback_task_id="t9") is not None


# --- evidence from a snapshot ------------------------------------------------------------------------------


def snapshot(state: TaskState, **changes: Any) -> TaskSnapshot:
    fields: dict[str, Any] = {"task_id": "t1", "state": state, "credits": 0.8}
    fields.update(changes)
    return TaskSnapshot(**fields)


@pytest.mark.parametrize("state", [TaskState.WAITING, TaskState.QUEUING, TaskState.GENERATING])
def test_a_task_in_progress_is_progress_evidence(state: TaskState) -> None:
    evidence = evidence_from_snapshot(snapshot(state), source="poll")

    assert evidence is not None
    assert (evidence.kind, evidence.task_id, evidence.source) == (EvidenceKind.PROGRESS, "t1", "poll")


def test_a_successful_task_is_success_evidence_with_its_urls_and_credits() -> None:
    evidence = evidence_from_snapshot(snapshot(TaskState.SUCCESS, result_urls=(URL_1,)), source="callback")

    assert evidence is not None
    assert evidence.kind is EvidenceKind.SUCCEEDED
    assert evidence.result_urls == (URL_1,)
    assert (evidence.task_id, evidence.kie_credits, evidence.source) == ("t1", 0.8, "callback")


def test_success_without_result_urls_is_failure_evidence() -> None:
    evidence = evidence_from_snapshot(snapshot(TaskState.SUCCESS), source="poll")

    assert evidence is not None
    assert evidence.kind is EvidenceKind.FAILED
    assert evidence.error_code == "no_result"
    assert evidence.error_message


def test_a_failed_task_is_failure_evidence_with_kies_code_and_message() -> None:
    evidence = evidence_from_snapshot(snapshot(TaskState.FAIL, fail_code="501", fail_message="NSFW"), source="callback")

    assert evidence is not None
    assert (evidence.kind, evidence.error_code, evidence.error_message) == (EvidenceKind.FAILED, "501", "NSFW")


def test_a_failed_task_without_details_still_has_an_error_code_and_message() -> None:
    evidence = evidence_from_snapshot(snapshot(TaskState.FAIL), source="poll")

    assert evidence is not None
    assert evidence.error_code == "generation_failed"
    assert evidence.error_message


def test_an_unknown_state_is_no_evidence() -> None:
    assert evidence_from_snapshot(snapshot(TaskState.UNKNOWN), source="poll") is None


def test_the_documented_failure_callback_becomes_failure_evidence_end_to_end() -> None:
    data = success_data(state="fail", resultJson=None, failCode="501", failMsg="Generation failed")
    reading = reading_of(body(data, code=501, msg="fail"))

    evidence = evidence_from_snapshot(reading.snapshot, source="callback")

    assert evidence is not None
    assert (evidence.kind, evidence.error_message) == (EvidenceKind.FAILED, "Generation failed")


# --- per-job callback tokens -------------------------------------------------------------------------------

SECRET = b"server-secret"


def test_the_callback_token_is_url_safe_and_stable() -> None:
    token = callback_token(SECRET, "job-1")

    assert token == callback_token(SECRET, "job-1")
    assert token.isascii()
    assert not set(token) & set("+/=")
    assert len(token) >= 32


def test_the_right_token_matches() -> None:
    assert token_matches(SECRET, "job-1", callback_token(SECRET, "job-1"))


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("wrong", id="wrong"),
        pytest.param(callback_token(SECRET, "job-2"), id="other-job"),
        pytest.param(callback_token(b"other-secret", "job-1"), id="other-secret"),
        pytest.param(callback_token(SECRET, "job-1")[:-1], id="truncated"),
        pytest.param(callback_token(SECRET, "job-1") + "A", id="extended"),
        pytest.param("ж" * 43, id="non-ascii"),
        pytest.param("\ud800" * 43, id="lone-surrogates"),
    ],
)
def test_any_other_token_does_not_match(token: str | None) -> None:
    assert token_matches(SECRET, "job-1", token) is False


# --- KIE's optional signature ------------------------------------------------------------------------------

KEY = b"webhook-hmac-key"
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW_TS = int(NOW.timestamp())


def independent_signature(key: bytes, task_id: str, timestamp: int) -> str:
    """KIE_API.md: base64(HMAC-SHA256(key, taskId + "." + timestamp))."""
    return base64.b64encode(hmac.new(key, f"{task_id}.{timestamp}".encode(), hashlib.sha256).digest()).decode()


def test_kie_signature_matches_an_independently_computed_vector() -> None:
    expected = independent_signature(KEY, "task-1", 1787567409)

    assert kie_signature(KEY, "task-1", 1787567409) == expected
    # printf 'task-1.1787567409' | openssl dgst -sha256 -hmac 'webhook-hmac-key' -binary | base64
    assert expected == "FoacGzuHmJhnfE2OSAPbeus84jrGqJED70UUQkMhxN8="


@pytest.mark.parametrize("offset", [-300, -299, 0, 299, 300])
def test_a_signature_within_300_seconds_of_now_is_accepted(offset: int) -> None:
    ts = NOW_TS + offset

    assert kie_signature_valid(KEY, "task-1", str(ts), independent_signature(KEY, "task-1", ts), NOW)


@pytest.mark.parametrize("offset", [-301, 301, -86_400, 86_400])
def test_a_signature_outside_300_seconds_is_rejected(offset: int) -> None:
    ts = NOW_TS + offset

    assert not kie_signature_valid(KEY, "task-1", str(ts), independent_signature(KEY, "task-1", ts), NOW)


@pytest.mark.parametrize(
    ("task_id", "timestamp", "signature"),
    [
        pytest.param("task-2", str(NOW_TS), independent_signature(KEY, "task-1", NOW_TS), id="other-task"),
        pytest.param("task-1", str(NOW_TS + 1), independent_signature(KEY, "task-1", NOW_TS), id="other-time"),
        pytest.param("task-1", str(NOW_TS), independent_signature(b"other", "task-1", NOW_TS), id="other-key"),
        pytest.param("task-1", str(NOW_TS), independent_signature(KEY, "task-1", NOW_TS)[:-2], id="truncated"),
        pytest.param("task-1", str(NOW_TS), "A" + independent_signature(KEY, "task-1", NOW_TS)[1:], id="flipped"),
        pytest.param("task-1", None, independent_signature(KEY, "task-1", NOW_TS), id="no-timestamp"),
        pytest.param("task-1", str(NOW_TS), None, id="no-signature"),
        pytest.param("", str(NOW_TS), independent_signature(KEY, "", NOW_TS), id="no-task-id"),
        pytest.param("task-1", "soon", independent_signature(KEY, "task-1", NOW_TS), id="timestamp-not-a-number"),
        pytest.param("task-1", "9" * 400, independent_signature(KEY, "task-1", NOW_TS), id="timestamp-huge"),
        pytest.param("task-1", "9" * 5000, independent_signature(KEY, "task-1", NOW_TS), id="timestamp-giant"),
        pytest.param("task-1", str(NOW_TS), "ж" * 44, id="signature-non-ascii"),
    ],
)
def test_a_tampered_or_incomplete_signature_is_rejected(
    task_id: str, timestamp: str | None, signature: str | None
) -> None:
    assert kie_signature_valid(KEY, task_id, timestamp, signature, NOW) is False


# --- result URL policy -------------------------------------------------------------------------------------

KIE_HOSTS = frozenset({".kie.ai", ".aiquickdraw.com"})


@pytest.mark.parametrize(
    "url",
    [
        "https://kie.ai/r/1.png",
        "https://tempfile.aiquickdraw.com/r/1.png",
        "https://a.b.kie.ai/r/1.png",
        "http://kie.ai/r/1.png",
        "https://TEMPFILE.AIQUICKDRAW.COM/r/1.png",
        "https://kie.ai:8443/r/1.png",
    ],
)
def test_http_urls_on_allowed_hosts_and_their_subdomains_are_allowed(url: str) -> None:
    assert result_urls_allowed((url,), KIE_HOSTS)


@pytest.mark.parametrize(
    "url",
    [
        "https://evil-kie.ai/r/1.png",
        "https://kie.ai.evil.com/r/1.png",
        "https://notkie.ai/r/1.png",
        "https://kie.ai@evil.com/r/1.png",
        "https://evil.com/kie.ai/1.png",
        "ftp://kie.ai/r/1.png",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "//kie.ai/r/1.png",
        "kie.ai/r/1.png",
        "https:///r/1.png",
        "http://[::1",
    ],
)
def test_other_hosts_schemes_and_malformed_urls_are_refused(url: str) -> None:
    assert result_urls_allowed((url,), KIE_HOSTS) is False


def test_one_bad_url_refuses_the_whole_result() -> None:
    assert not result_urls_allowed(("https://kie.ai/1.png", "https://evil.com/2.png"), KIE_HOSTS)


def test_without_a_host_list_any_http_host_is_allowed_but_the_scheme_is_still_checked() -> None:
    assert result_urls_allowed(("https://anywhere.example/1.png",), None)
    assert not result_urls_allowed(("file:///etc/passwd",), None)


def test_an_entry_without_a_leading_dot_allows_that_host_only() -> None:
    assert result_urls_allowed(("https://file.aiquickdraw.com/r.png",), frozenset({"file.aiquickdraw.com"}))
    assert not result_urls_allowed(("https://x.file.aiquickdraw.com/r.png",), frozenset({"file.aiquickdraw.com"}))
    assert result_urls_allowed(("https://aiquickdraw.com/r.png",), frozenset({".aiquickdraw.com"}))


@pytest.mark.parametrize(
    "url",
    [
        "https://file.aiquickdraw.com/s/1.png",
        "https://tempfile.aiquickdraw.com/s/1.png",
        "https://kieai.redpandaai.co/u/a.png",
    ],
)
def test_kies_file_hosts_are_the_default_result_hosts(url: str) -> None:
    assert result_urls_allowed((url,), DEFAULT_RESULT_HOSTS)


SSRF_RESULTS = [
    "http://127.0.0.1/x.png",
    "http://169.254.169.254/latest/meta-data",
    "http://[::ffff:127.0.0.1]/x.png",
    "http://2130706433/x.png",
    "http://localhost./x.png",
    "http://10.0.0.1/x.png",
]


@pytest.mark.parametrize("url", SSRF_RESULTS)
def test_private_and_loopback_result_urls_are_refused_by_default_and_even_without_a_host_list(url: str) -> None:
    assert not result_urls_allowed((url,), DEFAULT_RESULT_HOSTS)
    assert not result_urls_allowed((url,), None)  # before: any http(s) host, these included
    assert result_urls_allowed((url,), None, allow_private=True)


def test_urls_under_kiegens_own_prefixes_are_allowed_whatever_their_host() -> None:
    own = ("http://127.0.0.1:8080/simulator/",)
    assert result_urls_allowed(("http://127.0.0.1:8080/simulator/results/t/0.png",), DEFAULT_RESULT_HOSTS, own=own)
    assert not result_urls_allowed(("http://127.0.0.1:8080/elsewhere/0.png",), DEFAULT_RESULT_HOSTS, own=own)


def test_the_docs_verification_sample_is_read_as_a_task_with_no_state() -> None:
    raw = json.dumps(
        {"code": 200, "msg": "success", "taskId": "t-1", "data": {"task_id": "t-1", "callbackType": "complete"}}
    ).encode()
    reading = reading_of(raw)
    assert (reading.snapshot.task_id, reading.snapshot.state, reading.callback_type) == (
        "t-1",
        TaskState.UNKNOWN,
        "complete",
    )
