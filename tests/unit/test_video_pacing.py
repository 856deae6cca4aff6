"""A video job is polled in minutes, not seconds: its first check and its backoff follow the video pacing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import attrs

from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import VIDEO_DEADLINE_S, Media
from kiegen.core.polling import Decision, PollPolicy, Verdict, decide, first_check_at, schedule_after_check

from .factories import T0, make_job

WITH_CALLBACKS = PollPolicy(callbacks=True)
WITHOUT_CALLBACKS = PollPolicy(callbacks=False)
VIDEO_DEADLINE = T0 + timedelta(seconds=VIDEO_DEADLINE_S)


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def video_job(**changes: Any) -> Job:
    job = make_job(JobStatus.RUNNING, **changes)
    return attrs.evolve(job, media=Media.VIDEO, deadline_at=VIDEO_DEADLINE)


def test_a_video_is_first_checked_after_a_minute_with_callbacks_and_half_a_minute_without() -> None:
    assert first_check_at(T0, VIDEO_DEADLINE, WITH_CALLBACKS, Media.VIDEO) == T0 + seconds(60)
    assert first_check_at(T0, VIDEO_DEADLINE, WITHOUT_CALLBACKS, Media.VIDEO) == T0 + seconds(30)
    # images keep theirs
    assert first_check_at(T0, VIDEO_DEADLINE, WITH_CALLBACKS, Media.IMAGE) == T0 + seconds(12)
    assert first_check_at(T0, VIDEO_DEADLINE, WITHOUT_CALLBACKS) == T0 + seconds(2.5)


def test_video_backoff_is_15_30_then_capped_at_a_minute() -> None:
    assert [WITH_CALLBACKS.backoff_s(n, Media.VIDEO) for n in range(1, 6)] == [15, 30, 60, 60, 60]
    assert [WITH_CALLBACKS.backoff_s(n, Media.IMAGE) for n in range(1, 6)] == [2, 4, 8, 16, 30]


def test_a_video_job_is_rescheduled_by_the_video_backoff() -> None:
    now = T0 + seconds(300)
    job = video_job(checks=4)

    assert schedule_after_check(job, now, WITH_CALLBACKS) == now + seconds(60)
    assert schedule_after_check(attrs.evolve(job, media=Media.IMAGE), now, WITH_CALLBACKS) == now + seconds(16)


def test_a_submitted_video_job_without_a_stored_check_waits_a_minute_before_asking_kie() -> None:
    job = attrs.evolve(video_job(), submitted_at=T0, next_check_at=None)

    assert decide(job, T0 + seconds(20), WITH_CALLBACKS) == Decision(Verdict.WAIT, T0 + seconds(60))
    assert decide(job, T0 + seconds(60), WITH_CALLBACKS) == Decision(Verdict.CHECK)


def test_a_30_minute_video_wait_makes_31_checks_where_image_pacing_would_make_63() -> None:
    def checks_until_deadline(media: Media) -> int:
        job = attrs.evolve(video_job(), media=media, submitted_at=T0, next_check_at=None, checks=0)
        now = first_check_at(T0, VIDEO_DEADLINE, WITHOUT_CALLBACKS, media)
        count = 0
        while now < VIDEO_DEADLINE:
            count += 1
            job = attrs.evolve(job, checks=count)
            now = schedule_after_check(job, now, WITHOUT_CALLBACKS)
        return count

    assert (checks_until_deadline(Media.VIDEO), checks_until_deadline(Media.IMAGE)) == (31, 63)
