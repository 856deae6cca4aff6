"""What KIE says about a task, from recordInfo or a callback, and the evidence it amounts to.

KIE's shapes vary between documentation copies (see KIE_API.md): ``parse_task_data`` accepts every reading
kiegen knows of and never raises; whatever it cannot read becomes ``None`` or ``TaskState.UNKNOWN``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import attrs

from kiegen.core.jobs import Evidence, EvidenceKind, EvidenceSource, TaskState, str_tuple

__all__ = [
    "KIE_ENDPOINTS",
    "TaskSnapshot",
    "evidence_from_snapshot",
    "is_create_refusal",
    "parse_result_urls",
    "parse_task_data",
]

KIE_ENDPOINTS = (
    "createTask",
    "recordInfo",
    "credit",
    "download-url",
    "file-stream-upload",
    "file-base64-upload",
    "file-url-upload",
)
"""KIE's HTTP endpoints by the last segment of their path (metrics labels, simulator routes, recordings)."""

# KIE answers createTask's definite refusals with its catch-all body code 500 [live, KIE_API.md]: "This field is
# required", "aspect_ratio is required", "text is required", "This interface is temporarily paused.".
_REFUSAL = re.compile(
    r"\b(required|paused|invalid|not (supported|allowed|valid|exist)|unsupported|must be|exceeds?|too long|"
    r"out of range|missing)\b",
    re.IGNORECASE,
)


@attrs.frozen(kw_only=True)
class TaskSnapshot:
    task_id: str
    state: TaskState
    result_urls: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    fail_code: str | None = None
    fail_message: str | None = None
    credits: float | None = None
    model: str | None = None


def _text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_result_urls(result_json: object) -> tuple[str, ...]:
    """``resultJson`` as a JSON string (documented) or an object (seen); keeps only string URLs."""
    value: Any = result_json
    # Double-encoded JSON ("\"{...}\"") has been seen in the wild; unwrap at most twice.
    for _ in range(2):
        if not isinstance(value, str):
            break
        try:
            value = json.loads(value)
        except (ValueError, RecursionError):
            return ()
    if isinstance(value, Mapping):
        urls = value.get("resultUrls", value.get("result_urls", ()))
    elif isinstance(value, list):
        urls = value
    else:
        return ()
    if isinstance(urls, str):
        urls = [urls]
    if not isinstance(urls, list):
        return ()
    return tuple(url for url in urls if isinstance(url, str) and url)


def parse_task_data(data: Mapping[str, Any], *, fallback_task_id: str | None = None) -> TaskSnapshot | None:
    """Read the ``data`` object of recordInfo or of a callback. None when it names no task."""
    task_id = _text(data.get("taskId")) or _text(data.get("task_id")) or fallback_task_id
    if not task_id:
        return None
    credits = _number(data.get("creditsConsumed"))
    if credits is None:
        credits = _number(data.get("consumeCredits"))
    return TaskSnapshot(
        task_id=task_id,
        state=TaskState.parse(data.get("state")),
        result_urls=parse_result_urls(data.get("resultJson")),
        fail_code=_text(data.get("failCode")),
        fail_message=_text(data.get("failMsg")) or _text(data.get("errorMessage")),
        credits=credits,
        model=_text(data.get("model")),
    )


def is_create_refusal(message: str) -> bool:
    """True when createTask's body-500 ``message`` is a recognisable refusal (a required field, a paused
    model, an invalid value): final, no resubmit. A generic 500 ("server error") stays ambiguous: one report
    has such a task succeeding minutes later."""
    return bool(message) and _REFUSAL.search(message) is not None


def evidence_from_snapshot(snapshot: TaskSnapshot, *, source: EvidenceSource) -> Evidence | None:
    """The evidence a snapshot amounts to; None when it says nothing new (unknown state)."""
    state = snapshot.state
    common: dict[str, Any] = {"source": source, "task_id": snapshot.task_id, "kie_credits": snapshot.credits}
    if state is TaskState.SUCCESS:
        if not snapshot.result_urls:
            return Evidence(
                kind=EvidenceKind.FAILED,
                error_code="no_result",
                error_message="KIE reported success without any result URL",
                **common,
            )
        return Evidence(kind=EvidenceKind.SUCCEEDED, result_urls=snapshot.result_urls, **common)
    if state is TaskState.FAIL:
        return Evidence(
            kind=EvidenceKind.FAILED,
            error_code=snapshot.fail_code or "generation_failed",
            error_message=snapshot.fail_message or "KIE reported that the generation failed",
            **common,
        )
    if state in (TaskState.WAITING, TaskState.QUEUING, TaskState.GENERATING):
        return Evidence(kind=EvidenceKind.PROGRESS, **common)
    return None
