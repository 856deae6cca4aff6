"""The storage-first waiting rule: decide(job, now, policy) and the check schedule it relies on."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import attrs
import pytest

from kiegen.core.jobs import TERMINAL, JobStatus
from kiegen.core.polling import Decision, PollPolicy, Verdict, decide, first_check_at, schedule_after_check

from .factories import DEADLINE, T0, make_job

WITH_CALLBACKS = PollPolicy(callbacks=True)
WITHOUT_CALLBACKS = PollPolicy(callbacks=False)
IN_FLIGHT = [JobStatus.SUBMITTED, JobStatus.RUNNING]


def seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


@pytest.mark.parametrize("status", sorted(TERMINAL))
@pytest.mark.parametrize("now", [T0, DEADLINE, DEADLINE + seconds(3600)])
def test_a_terminal_job_is_done_even_past_its_deadline(status: JobStatus, now: datetime) -> None:
    assert decide(make_job(status), now, WITH_CALLBACKS) == Decision(Verdict.DONE)


@pytest.mark.parametrize("status", [JobStatus.PENDING, *IN_FLIGHT])
@pytest.mark.parametrize("now", [DEADLINE, DEADLINE + seconds(1)])
def test_an_unfinished_job_at_or_past_its_deadline_times_out(status: JobStatus, now: datetime) -> None:
    assert decide(make_job(status), now, WITH_CALLBACKS).verdict is Verdict.TIME_OUT


def test_a_pending_job_waits_until_the_deadline_because_there_is_nothing_to_ask_kie() -> None:
    assert decide(make_job(JobStatus.PENDING), T0 + seconds(30), WITH_CALLBACKS) == Decision(Verdict.WAIT, DEADLINE)


@pytest.mark.parametrize("status", IN_FLIGHT)
def test_a_job_without_a_task_id_waits_until_the_deadline(status: JobStatus) -> None:
    job = make_job(status, task_id=None)

    assert decide(job, T0 + seconds(60), WITH_CALLBACKS) == Decision(Verdict.WAIT, DEADLINE)


@pytest.mark.parametrize(("policy", "grace"), [(WITH_CALLBACKS, 12.0), (WITHOUT_CALLBACKS, 2.5)])
@pytest.mark.parametrize("status", IN_FLIGHT)
def test_before_the_grace_period_ends_the_job_waits_for_the_callback(
    status: JobStatus, policy: PollPolicy, grace: float
) -> None:
    job = make_job(status, submitted_at=T0)

    assert decide(job, T0, policy) == Decision(Verdict.WAIT, T0 + seconds(grace))
    assert decide(job, T0 + seconds(grace - 0.1), policy) == Decision(Verdict.WAIT, T0 + seconds(grace))


@pytest.mark.parametrize(("policy", "grace"), [(WITH_CALLBACKS, 12.0), (WITHOUT_CALLBACKS, 2.5)])
@pytest.mark.parametrize("status", IN_FLIGHT)
def test_once_the_grace_period_ends_kie_is_checked(status: JobStatus, policy: PollPolicy, grace: float) -> None:
    job = make_job(status, submitted_at=T0)

    assert decide(job, T0 + seconds(grace), policy) == Decision(Verdict.CHECK)
    assert decide(job, T0 + seconds(grace + 100), policy) == Decision(Verdict.CHECK)


def test_the_grace_period_counts_from_creation_when_the_submission_time_is_unknown() -> None:
    job = make_job(JobStatus.RUNNING, submitted_at=None, created_at=T0 - seconds(5))

    assert decide(job, T0, WITH_CALLBACKS) == Decision(Verdict.WAIT, T0 + seconds(7))


def test_a_stored_next_check_time_overrides_the_grace_period() -> None:
    due = T0 + seconds(40)
    job = make_job(JobStatus.RUNNING, checks=1, next_check_at=due)

    assert decide(job, due - seconds(1), WITH_CALLBACKS) == Decision(Verdict.WAIT, due)
    assert decide(job, due, WITH_CALLBACKS) == Decision(Verdict.CHECK)


def test_backoff_between_checks_is_2_4_8_16_then_capped_at_30_seconds() -> None:
    assert [WITH_CALLBACKS.backoff_s(n) for n in range(1, 8)] == [2, 4, 8, 16, 30, 30, 30]


@pytest.mark.parametrize(("checks", "delay"), [(1, 2), (2, 4), (3, 8), (4, 16), (5, 30), (6, 30)])
def test_the_next_check_is_scheduled_after_the_backoff_delay(checks: int, delay: float) -> None:
    now = T0 + seconds(60)
    job = make_job(JobStatus.RUNNING, checks=checks)

    assert schedule_after_check(job, now, WITH_CALLBACKS) == now + seconds(delay)


def test_the_next_check_is_never_scheduled_after_the_deadline() -> None:
    job = make_job(JobStatus.RUNNING, checks=6)

    assert schedule_after_check(job, DEADLINE - seconds(5), WITH_CALLBACKS) == DEADLINE


def test_the_first_check_is_never_after_the_deadline() -> None:
    assert first_check_at(T0, T0 + seconds(5), WITH_CALLBACKS) == T0 + seconds(5)
    assert first_check_at(T0, DEADLINE, WITH_CALLBACKS) == T0 + seconds(12)


def test_a_wait_never_lasts_past_the_deadline_even_when_the_stored_next_check_is_later() -> None:
    # next_check_at doubles as the lease of a claimed check, and a lease may reach past the deadline.
    job = make_job(JobStatus.RUNNING, next_check_at=DEADLINE + seconds(60))

    decision = decide(job, DEADLINE - seconds(10), WITH_CALLBACKS)

    assert decision.verdict is Verdict.WAIT
    assert decision.until is not None
    assert decision.until <= DEADLINE


def test_a_waiter_that_follows_decide_checks_on_the_backoff_schedule_and_then_times_out() -> None:
    """Replay a waiter that never hears a callback: every check it makes, and how it ends."""
    policy = WITH_CALLBACKS
    job = make_job(JobStatus.SUBMITTED, submitted_at=T0)
    now = T0
    check_offsets: list[float] = []
    for _ in range(200):
        decision = decide(job, now, policy)
        if decision.verdict is Verdict.CHECK:
            check_offsets.append((now - T0).total_seconds())
            job = attrs.evolve(job, checks=job.checks + 1)
            job = attrs.evolve(job, next_check_at=schedule_after_check(job, now, policy))
        elif decision.verdict is Verdict.WAIT:
            assert decision.until is not None
            assert now < decision.until <= DEADLINE
            now = decision.until
        else:
            break

    assert decision.verdict is Verdict.TIME_OUT
    assert now == DEADLINE
    assert check_offsets[:7] == [12, 14, 18, 26, 42, 72, 102]
    assert all(b - a <= 30 for a, b in itertools.pairwise(check_offsets))
    assert check_offsets[-1] < (DEADLINE - T0).total_seconds()


def test_the_default_policy_matches_the_design() -> None:
    policy = PollPolicy()

    assert policy.callbacks is True
    assert policy.grace_s == 12.0
    assert PollPolicy(callbacks=False).grace_s == 2.5
    assert 10 <= policy.grace_with_callback_s <= 15
    assert 2 <= policy.grace_without_callback_s <= 3
