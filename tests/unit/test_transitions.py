"""The job state machine: every (status, evidence) pair, and what each transition settles and delivers."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from kiegen.core.billing import LedgerKind, balance_of, hold_for, settlement, topup
from kiegen.core.delivery import delivery_for, inbox_key
from kiegen.core.jobs import TERMINAL, TRANSITIONS, Evidence, EvidenceKind, JobStatus, apply

from .factories import RESULT_URL, T0, evidence_of, make_job

S, E = JobStatus, EvidenceKind
NOW = T0 + timedelta(minutes=3)
LATER = NOW + timedelta(minutes=1)

# Written from DESIGN.md, independently of the table in jobs.py: the status a job has after the evidence.
EXPECTED: dict[tuple[JobStatus, EvidenceKind], JobStatus] = {
    (S.PENDING, E.SUBMITTED): S.SUBMITTED,
    (S.PENDING, E.PROGRESS): S.RUNNING,
    (S.PENDING, E.SUCCEEDED): S.SUCCEEDED,
    (S.PENDING, E.FAILED): S.FAILED,
    (S.PENDING, E.DEADLINE): S.TIMED_OUT,
    (S.PENDING, E.CANCELLED): S.CANCELLED,
    (S.SUBMITTED, E.SUBMITTED): S.SUBMITTED,
    (S.SUBMITTED, E.PROGRESS): S.RUNNING,
    (S.SUBMITTED, E.SUCCEEDED): S.SUCCEEDED,
    (S.SUBMITTED, E.FAILED): S.FAILED,
    (S.SUBMITTED, E.DEADLINE): S.TIMED_OUT,
    (S.SUBMITTED, E.CANCELLED): S.CANCELLED,
    (S.RUNNING, E.SUBMITTED): S.RUNNING,
    (S.RUNNING, E.PROGRESS): S.RUNNING,
    (S.RUNNING, E.SUCCEEDED): S.SUCCEEDED,
    (S.RUNNING, E.FAILED): S.FAILED,
    (S.RUNNING, E.DEADLINE): S.TIMED_OUT,
    (S.RUNNING, E.CANCELLED): S.CANCELLED,
    (S.SUCCEEDED, E.SUBMITTED): S.SUCCEEDED,
    (S.SUCCEEDED, E.PROGRESS): S.SUCCEEDED,
    (S.SUCCEEDED, E.SUCCEEDED): S.SUCCEEDED,
    (S.SUCCEEDED, E.FAILED): S.SUCCEEDED,
    (S.SUCCEEDED, E.DEADLINE): S.SUCCEEDED,
    (S.SUCCEEDED, E.CANCELLED): S.SUCCEEDED,
    (S.FAILED, E.SUBMITTED): S.FAILED,
    (S.FAILED, E.PROGRESS): S.FAILED,
    (S.FAILED, E.SUCCEEDED): S.FAILED,
    (S.FAILED, E.FAILED): S.FAILED,
    (S.FAILED, E.DEADLINE): S.FAILED,
    (S.FAILED, E.CANCELLED): S.FAILED,
    (S.TIMED_OUT, E.SUBMITTED): S.TIMED_OUT,
    (S.TIMED_OUT, E.PROGRESS): S.TIMED_OUT,
    (S.TIMED_OUT, E.SUCCEEDED): S.SUCCEEDED,
    (S.TIMED_OUT, E.FAILED): S.TIMED_OUT,
    (S.TIMED_OUT, E.DEADLINE): S.TIMED_OUT,
    (S.TIMED_OUT, E.CANCELLED): S.TIMED_OUT,
    (S.CANCELLED, E.SUBMITTED): S.CANCELLED,
    (S.CANCELLED, E.PROGRESS): S.CANCELLED,
    (S.CANCELLED, E.SUCCEEDED): S.CANCELLED,
    (S.CANCELLED, E.FAILED): S.CANCELLED,
    (S.CANCELLED, E.DEADLINE): S.CANCELLED,
    (S.CANCELLED, E.CANCELLED): S.CANCELLED,
}
RANK = {S.PENDING: 0, S.SUBMITTED: 1, S.RUNNING: 2, S.SUCCEEDED: 3, S.FAILED: 3, S.TIMED_OUT: 3, S.CANCELLED: 3}

# Parametrised from the enums, not from the table: a new status or evidence kind fails here until both the
# table and EXPECTED say what it does.
ALL_PAIRS = list(itertools.product(JobStatus, EvidenceKind))
PAIR_IDS = [f"{status.value}+{kind.value}" for status, kind in ALL_PAIRS]
NON_TERMINAL = [status for status in JobStatus if not status.terminal]
ENDINGS = {E.SUCCEEDED: S.SUCCEEDED, E.FAILED: S.FAILED, E.DEADLINE: S.TIMED_OUT, E.CANCELLED: S.CANCELLED}


def test_table_has_a_row_for_every_status_and_evidence_pair() -> None:
    assert set(TRANSITIONS) == set(ALL_PAIRS)


def test_terminal_statuses_are_exactly_succeeded_failed_timed_out_and_cancelled() -> None:
    terminal = {S.SUCCEEDED, S.FAILED, S.TIMED_OUT, S.CANCELLED}
    assert {status for status in JobStatus if status.terminal} == terminal == TERMINAL


@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=PAIR_IDS)
def test_every_pair_leads_to_the_status_the_design_gives(status: JobStatus, kind: EvidenceKind) -> None:
    transition = apply(make_job(status), evidence_of(kind), NOW)

    assert transition.after.status is EXPECTED[(status, kind)]


@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=PAIR_IDS)
def test_no_pair_moves_a_job_backward(status: JobStatus, kind: EvidenceKind) -> None:
    transition = apply(make_job(status), evidence_of(kind), NOW)

    assert RANK[transition.after.status] >= RANK[status]


@pytest.mark.parametrize(("status", "kind"), list(itertools.product(TERMINAL, EvidenceKind)))
def test_terminal_jobs_absorb_every_evidence_except_the_late_success_upgrade(
    status: JobStatus, kind: EvidenceKind
) -> None:
    job = make_job(status)
    transition = apply(job, evidence_of(kind), NOW)

    if (status, kind) == (S.TIMED_OUT, E.SUCCEEDED):
        assert transition.after.status is S.SUCCEEDED
        assert transition.after.late is True
        assert transition.ignored is None
    elif (status, kind) == (S.CANCELLED, E.SUCCEEDED):
        assert transition.after.status is S.CANCELLED
        assert transition.after.result_urls == (RESULT_URL,)  # kept for history, nothing else changes
        assert transition.ignored == "cancelled"
    else:
        assert transition.after == job
        assert not transition.changed
        assert transition.ignored == "terminal"


@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=PAIR_IDS)
def test_applying_the_same_evidence_twice_changes_nothing_the_second_time(
    status: JobStatus, kind: EvidenceKind
) -> None:
    evidence = evidence_of(kind)
    once = apply(make_job(status), evidence, NOW)
    twice = apply(once.after, evidence, LATER)

    assert twice.after == once.after
    assert not twice.changed
    assert twice.ignored is not None
    assert delivery_for(twice) is None
    assert settlement(twice) is None


def test_backward_evidence_is_ignored_and_says_so() -> None:
    job = make_job(S.RUNNING)
    transition = apply(job, evidence_of(E.SUBMITTED), NOW)

    assert transition.after == job
    assert transition.ignored == "backward"


def test_repeated_progress_is_a_duplicate_that_changes_nothing() -> None:
    job = make_job(S.RUNNING)
    transition = apply(job, evidence_of(E.PROGRESS), NOW)

    assert transition.after == job
    assert transition.ignored == "duplicate"


def test_submission_records_the_task_id_and_the_submission_time() -> None:
    after = apply(make_job(S.PENDING), Evidence.submitted("task-7"), NOW).after

    assert after.status is S.SUBMITTED
    assert after.task_id == "task-7"
    assert after.submitted_at == NOW
    assert after.updated_at == NOW
    assert after.completed_at is None


def test_a_second_task_id_never_replaces_the_first() -> None:
    job = make_job(S.SUBMITTED, task_id="task-1")

    after = apply(job, Evidence.submitted("task-2"), NOW).after

    assert after.task_id == "task-1"


def test_progress_moves_a_submitted_job_to_running_without_touching_submitted_at() -> None:
    after = apply(make_job(S.SUBMITTED), evidence_of(E.PROGRESS), NOW).after

    assert after.status is S.RUNNING
    assert after.submitted_at == T0


@pytest.mark.parametrize("status", NON_TERMINAL)
@pytest.mark.parametrize("kind", list(ENDINGS))
def test_becoming_terminal_stamps_completed_at_and_clears_the_next_check(status: JobStatus, kind: EvidenceKind) -> None:
    job = make_job(status, next_check_at=NOW + timedelta(seconds=5))

    after = apply(job, evidence_of(kind), NOW).after

    assert after.status is ENDINGS[kind]
    assert after.completed_at == NOW
    assert after.next_check_at is None
    assert after.updated_at == NOW


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_success_records_result_urls_and_kie_credits_and_no_error(status: JobStatus) -> None:
    after = apply(make_job(status), evidence_of(E.SUCCEEDED), NOW).after

    assert after.result_urls == (RESULT_URL,)
    assert after.kie_credits == 0.8
    assert after.error_code is None
    assert after.error_message is None
    assert after.late is False


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_failure_records_the_error_code_and_message(status: JobStatus) -> None:
    after = apply(make_job(status), evidence_of(E.FAILED), NOW).after

    assert after.status is S.FAILED
    assert (after.error_code, after.error_message) == ("501", "content policy")
    assert after.result_urls == ()


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_cancelling_a_running_job_records_why_and_stops_its_checks(status: JobStatus) -> None:
    job = make_job(status, next_check_at=NOW + timedelta(seconds=5))

    after = apply(job, Evidence.cancelled("changed my mind"), NOW).after

    assert after.status is S.CANCELLED
    assert (after.error_code, after.error_message) == ("cancelled", "changed my mind")
    assert after.next_check_at is None
    assert after.completed_at == NOW
    assert after.result_urls == ()


def test_a_success_after_the_cancel_keeps_the_result_and_stays_cancelled_undelivered_and_unsettled() -> None:
    cancelled = apply(make_job(S.RUNNING, price=5), Evidence.cancelled(), NOW)
    late = apply(cancelled.after, evidence_of(E.SUCCEEDED), LATER)

    assert settlement(cancelled) is not None and delivery_for(cancelled) is None
    assert late.after.status is S.CANCELLED
    assert late.after.result_urls == (RESULT_URL,)
    assert late.after.kie_credits == 0.8
    assert late.after.updated_at == LATER
    assert late.changed and late.ignored == "cancelled"
    assert delivery_for(late) is None
    assert settlement(late) is None
    assert late.after.charged is False


def test_create_task_answering_after_the_cancel_records_its_task_id() -> None:
    cancelled = apply(make_job(S.PENDING), Evidence.cancelled(), NOW).after

    answer = apply(cancelled, Evidence.submitted("task-late"), LATER)

    assert (answer.after.status, answer.after.task_id) == (S.CANCELLED, "task-late")


@pytest.mark.parametrize("status", NON_TERMINAL)
def test_deadline_records_a_timeout_error(status: JobStatus) -> None:
    after = apply(make_job(status), Evidence.deadline(), NOW).after

    assert after.status is S.TIMED_OUT
    assert after.error_code == "timeout"
    assert after.error_message


def test_late_success_after_timeout_is_marked_late_and_clears_the_timeout_error() -> None:
    job = make_job(S.TIMED_OUT)

    after = apply(job, evidence_of(E.SUCCEEDED), NOW).after

    assert after.status is S.SUCCEEDED
    assert after.late is True
    assert after.result_urls == (RESULT_URL,)
    assert after.error_code is None
    assert after.error_message is None
    assert after.completed_at == NOW


def test_a_callback_that_beats_create_task_completes_the_pending_job_and_keeps_its_task_id() -> None:
    pending = make_job(S.PENDING)
    assert pending.task_id is None

    done = apply(pending, evidence_of(E.SUCCEEDED, task_id="task-early"), NOW).after
    answer = apply(done, Evidence.submitted("task-early"), LATER)

    assert done.status is S.SUCCEEDED
    assert done.task_id == "task-early"
    assert answer.after == done
    assert answer.ignored == "terminal"


def test_create_task_answer_after_a_terminal_job_without_task_id_records_the_task_id() -> None:
    timed_out = apply(make_job(S.PENDING), Evidence.deadline(), NOW).after
    assert timed_out.task_id is None

    answer = apply(timed_out, Evidence.submitted("task-slow"), LATER)

    assert answer.after.status is S.TIMED_OUT
    assert answer.after.task_id == "task-slow"
    assert answer.after.updated_at == LATER
    assert answer.ignored == "terminal"
    assert delivery_for(answer) is None
    assert settlement(answer) is None


def test_the_recorded_task_id_lets_the_late_success_upgrade_follow() -> None:
    timed_out = apply(make_job(S.PENDING), Evidence.deadline(), NOW).after
    with_task = apply(timed_out, Evidence.submitted("task-slow"), NOW).after

    late = apply(with_task, evidence_of(E.SUCCEEDED, task_id="task-slow"), LATER).after

    assert (late.status, late.late, late.task_id) == (S.SUCCEEDED, True, "task-slow")


# --- settlement (billing) -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", NON_TERMINAL)
@pytest.mark.parametrize(
    ("kind", "ledger_kind"),
    [
        (E.SUCCEEDED, LedgerKind.CAPTURE),
        (E.FAILED, LedgerKind.RELEASE),
        (E.DEADLINE, LedgerKind.RELEASE),
        (E.CANCELLED, LedgerKind.RELEASE),
    ],
)
def test_a_paid_job_settles_its_hold_once_when_it_ends(
    status: JobStatus, kind: EvidenceKind, ledger_kind: LedgerKind
) -> None:
    transition = apply(make_job(status, price=5), evidence_of(kind), NOW)

    entry = settlement(transition)

    assert entry is not None
    assert entry.kind is ledger_kind
    assert (entry.key, entry.user_id, entry.amount, entry.job_id) == ("settle:job-1", "user-1", 5, "job-1")
    assert entry.created_at == NOW


@pytest.mark.parametrize("kind", list(ENDINGS))
def test_a_free_job_settles_nothing(kind: EvidenceKind) -> None:
    assert settlement(apply(make_job(S.RUNNING, price=0), evidence_of(kind), NOW)) is None


def test_a_paid_job_without_a_user_settles_nothing() -> None:
    job = make_job(S.RUNNING, price=5, user_id=None)

    assert hold_for(job) is None
    assert settlement(apply(job, evidence_of(E.SUCCEEDED), NOW)) is None


def test_a_late_success_is_delivered_but_not_charged() -> None:
    transition = apply(make_job(S.TIMED_OUT, price=5), evidence_of(E.SUCCEEDED), NOW)

    assert settlement(transition) is None
    assert transition.after.charged is False


@pytest.mark.parametrize("kind", [E.PROGRESS, E.SUBMITTED])
def test_non_terminal_transitions_settle_nothing(kind: EvidenceKind) -> None:
    assert settlement(apply(make_job(S.PENDING, price=5), evidence_of(kind), NOW)) is None


def test_only_an_in_time_paid_success_counts_as_charged() -> None:
    assert apply(make_job(S.RUNNING, price=5), evidence_of(E.SUCCEEDED), NOW).after.charged
    assert not apply(make_job(S.RUNNING, price=5), evidence_of(E.FAILED), NOW).after.charged
    assert not apply(make_job(S.RUNNING, price=0), evidence_of(E.SUCCEEDED), NOW).after.charged


@pytest.mark.parametrize(
    ("kind", "balance"), [(E.SUCCEEDED, 5), (E.FAILED, 10), (E.DEADLINE, 10), (E.CANCELLED, 10)]
)
def test_the_balance_after_a_hold_and_its_settlement(kind: EvidenceKind, balance: int) -> None:
    job = make_job(S.RUNNING, price=5)
    hold = hold_for(job)
    settle = settlement(apply(job, evidence_of(kind), NOW))
    assert hold is not None
    assert settle is not None

    entries = [topup("user-1", 10, key="stars:1", at=T0), hold]
    assert balance_of(entries) == 5
    assert balance_of([*entries, settle]) == balance


def test_a_top_up_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        topup("user-1", 0, key="stars:2", at=T0)


# --- delivery (outbox) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("status", "kind"), ALL_PAIRS, ids=PAIR_IDS)
def test_a_delivery_is_written_only_when_the_job_becomes_terminal_and_not_cancelled(
    status: JobStatus, kind: EvidenceKind
) -> None:
    transition = apply(make_job(status), evidence_of(kind), NOW)
    becomes_terminal = transition.after.status.terminal and transition.after.status is not status

    delivery = delivery_for(transition)

    if becomes_terminal and transition.after.status is not S.CANCELLED:
        assert delivery is not None
        assert delivery.id == f"job-1:{transition.after.status.value}"
        assert (delivery.job_id, delivery.recipient) == ("job-1", "telegram:42")
        assert delivery.next_attempt_at == NOW
    else:
        assert delivery is None


def test_a_late_success_gets_its_own_delivery_besides_the_timeout_notice() -> None:
    timeout = apply(make_job(S.RUNNING), Evidence.deadline(), NOW)
    late = apply(timeout.after, evidence_of(E.SUCCEEDED), LATER)

    first, second = delivery_for(timeout), delivery_for(late)

    assert first is not None
    assert second is not None
    assert first.id != second.id
    assert second.id == "job-1:succeeded"


def test_inbox_key_deduplicates_the_same_body_for_the_same_job_only() -> None:
    body = b'{"code": 200}'

    assert inbox_key("job-1", body) == inbox_key("job-1", body)
    assert inbox_key("job-1", body) != inbox_key("job-2", body)
    assert inbox_key("job-1", body) != inbox_key("job-1", body + b" ")
    assert inbox_key(None, body).startswith("-:")
