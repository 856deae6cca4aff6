"""Credits: an append-only ledger with holds.

A paid job places a HOLD when it is created (the store checks the balance atomically). When the job ends, its
hold resolves exactly once: CAPTURE on success in time, RELEASE on failure, timeout or cancellation. A late
success after a timeout or a cancellation was already released: it is not charged. Free jobs write no money
entries; a per-user daily free quota is counted instead. Every entry has an idempotency ``key`` that storage
keeps unique, and the settlement of a job always uses the key ``settle:<job id>``, so a hold can never resolve
twice.

Balance = top-ups - holds + releases - debits (a capture moves no money: it turns the hold into a charge). A DEBIT
is credits an operator took back (``/take``, the reversal of a refunded Stars payment); the store writes one only
while the balance covers it (``ConsoleQueries.take_credits``), so it never makes a balance negative.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import UTC, date, datetime

import attrs

from kiegen.core.errors import InsufficientCredits
from kiegen.core.jobs import Job, JobStatus, Transition

__all__ = [
    "LedgerEntry",
    "LedgerKind",
    "balance_of",
    "debit",
    "hold_for",
    "require_debit",
    "settlement",
    "topup",
    "utc_day",
    "within_balance",
]


class LedgerKind(enum.StrEnum):
    TOPUP = "topup"
    HOLD = "hold"
    CAPTURE = "capture"
    RELEASE = "release"
    DEBIT = "debit"


@attrs.frozen(kw_only=True)
class LedgerEntry:
    key: str
    user_id: str
    kind: LedgerKind
    amount: int
    created_at: datetime
    job_id: str | None = None
    note: str = ""

    @property
    def delta(self) -> int:
        """Effect on the spendable balance."""
        if self.kind is LedgerKind.TOPUP or self.kind is LedgerKind.RELEASE:
            return self.amount
        if self.kind is LedgerKind.HOLD or self.kind is LedgerKind.DEBIT:
            return -self.amount
        return 0


def balance_of(entries: Iterable[LedgerEntry]) -> int:
    return sum(entry.delta for entry in entries)


def hold_for(job: Job) -> LedgerEntry | None:
    if job.price <= 0 or job.user_id is None:
        return None
    return LedgerEntry(
        key=f"hold:{job.id}",
        user_id=job.user_id,
        kind=LedgerKind.HOLD,
        amount=job.price,
        job_id=job.id,
        created_at=job.created_at,
    )


def settlement(transition: Transition) -> LedgerEntry | None:
    """The entry that resolves a paid job's hold when the job first becomes terminal; None otherwise."""
    before, after = transition.before, transition.after
    if after.price <= 0 or after.user_id is None or before.terminal or not after.terminal:
        return None
    kind = LedgerKind.CAPTURE if after.status is JobStatus.SUCCEEDED else LedgerKind.RELEASE
    return LedgerEntry(
        key=f"settle:{after.id}",
        user_id=after.user_id,
        kind=kind,
        amount=after.price,
        job_id=after.id,
        created_at=after.updated_at,
    )


def topup(user_id: str, amount: int, *, key: str, at: datetime, note: str = "") -> LedgerEntry:
    if amount <= 0:
        raise ValueError(f"a top-up must be positive, got {amount}")
    return LedgerEntry(key=key, user_id=user_id, kind=LedgerKind.TOPUP, amount=amount, created_at=at, note=note)


def debit(user_id: str, amount: int, *, key: str, at: datetime, note: str = "") -> LedgerEntry:
    if amount < 0:
        raise ValueError(f"a debit cannot be negative, got {amount}")
    return LedgerEntry(key=key, user_id=user_id, kind=LedgerKind.DEBIT, amount=amount, created_at=at, note=note)


def require_debit(entry: LedgerEntry) -> None:
    if entry.kind is not LedgerKind.DEBIT:
        raise ValueError(f"only a debit is taken within the balance, not a {entry.kind.value} ({entry.key!r})")


def within_balance(entry: LedgerEntry, balance: int, *, up_to: bool) -> LedgerEntry:
    """The debit ``entry`` as a store may write it against ``balance``: whole when covered, else (``up_to``) for
    what there is; otherwise ``InsufficientCredits``. A balance never goes below zero."""
    require_debit(entry)
    if entry.amount <= balance:
        return entry
    if not up_to:
        raise InsufficientCredits(entry.user_id, balance=max(balance, 0), needed=entry.amount)
    return attrs.evolve(entry, amount=max(balance, 0))


def utc_day(moment: datetime) -> date:
    """The day a free-quota use counts against (UTC)."""
    return moment.astimezone(UTC).date() if moment.tzinfo else moment.date()
