"""Storage-first waiting: when to look at storage, when to ask KIE, when to give up.

``decide(job, now, policy)`` is pure. Storage is cheap and is re-read whenever the Notifier fires and at
``policy.reread_s``; KIE's recordInfo is expensive and rate-limited, so it is asked only when ``decide`` says
``CHECK``: first after a grace period that gives the callback its chance, then with capped exponential backoff,
and never after the job's deadline. A video job (``Job.media``) is paced in minutes, not seconds: KIE takes
minutes to make one, so its first check comes later and its backoff grows to a longer cap (``video_*``): a
30-minute wait makes 31 checks where image pacing would make 63. ``schedule_after_check`` and
``first_check_at`` compute the ``next_check_at`` that storage keeps, so any process can tell when a job is due.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from kiegen.core.jobs import Job, JobStatus
from kiegen.core.models import Media

__all__ = ["Decision", "PollPolicy", "Verdict", "decide", "first_check_at", "schedule_after_check"]


@attrs.frozen(kw_only=True)
class PollPolicy:
    callbacks: bool = True
    """Whether KIE was given a callBackUrl; without one the first check comes much sooner."""
    grace_with_callback_s: float = 12.0
    grace_without_callback_s: float = 2.5
    backoff_base_s: float = 2.0
    backoff_factor: float = 2.0
    backoff_cap_s: float = 30.0
    video_grace_with_callback_s: float = 60.0
    """A video's first check (callbacks configured): no video model finishes in under a minute."""
    video_grace_without_callback_s: float = 30.0
    video_backoff_base_s: float = 15.0
    video_backoff_cap_s: float = 60.0
    reread_s: float = 1.0
    """How soon a waiter re-reads storage when nothing woke it; each re-read that finds the job unchanged
    doubles the pause, up to ``reread_max_s`` (notifications wake waiters at once: the re-read is the fallback
    for one lost, and for changes made by another process on SQLite, which has no NOTIFY)."""
    reread_max_s: float = 8.0
    submit_grace_s: float = 60.0
    """A job still PENDING this long after creation had its submission interrupted (crash, ambiguous answer)."""
    not_visible_grace_s: float = 30.0
    """KIE may answer 404/422 for a task this soon after createTask; that is lag, not an unknown task."""

    @property
    def grace_s(self) -> float:
        return self.grace_with_callback_s if self.callbacks else self.grace_without_callback_s

    def grace_for(self, media: Media) -> float:
        """How long after submission the first check of a job making ``media`` comes."""
        if media is Media.VIDEO:
            return self.video_grace_with_callback_s if self.callbacks else self.video_grace_without_callback_s
        return self.grace_s

    def backoff_s(self, checks_done: int, media: Media = Media.IMAGE) -> float:
        """Delay after the ``checks_done``-th check (1-based): base, base*factor, ... capped (by media)."""
        exponent = max(0, checks_done - 1)
        base, cap = (
            (self.video_backoff_base_s, self.video_backoff_cap_s)
            if media is Media.VIDEO
            else (self.backoff_base_s, self.backoff_cap_s)
        )
        return float(min(cap, base * self.backoff_factor**exponent))


class Verdict(enum.StrEnum):
    DONE = "done"
    TIME_OUT = "time_out"
    CHECK = "check"
    WAIT = "wait"


@attrs.frozen
class Decision:
    verdict: Verdict
    until: datetime | None = None
    """For WAIT: when the next check (or the deadline) falls due."""


def first_check_at(
    submitted_at: datetime, deadline_at: datetime, policy: PollPolicy, media: Media = Media.IMAGE
) -> datetime:
    return min(submitted_at + timedelta(seconds=policy.grace_for(media)), deadline_at)


def schedule_after_check(job: Job, now: datetime, policy: PollPolicy) -> datetime:
    """``next_check_at`` after a check that left the job unfinished (``job.checks`` already counts it)."""
    return min(now + timedelta(seconds=policy.backoff_s(job.checks, job.media)), job.deadline_at)


def decide(job: Job, now: datetime, policy: PollPolicy) -> Decision:
    if job.terminal:
        return Decision(Verdict.DONE)
    if now >= job.deadline_at:
        return Decision(Verdict.TIME_OUT)
    if job.status is JobStatus.PENDING or job.task_id is None:
        # Nothing to ask KIE about yet: createTask is in flight (or was interrupted; recovery handles that).
        return Decision(Verdict.WAIT, job.deadline_at)
    due = job.next_check_at or first_check_at(job.submitted_at or job.created_at, job.deadline_at, policy, job.media)
    if now >= due:
        return Decision(Verdict.CHECK)
    # next_check_at doubles as the lease of a claimed check, which may reach past the deadline.
    return Decision(Verdict.WAIT, min(due, job.deadline_at))
