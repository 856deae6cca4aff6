"""The soak's conservation check: after the load, the database, the fake Telegram's chats and the webhook
receiver must agree. Every job terminal; every terminal job's deliveries sent; its person got it (a message in
its own chat carrying the job's buttons, or a signed webhook) and nobody else did; a send beyond the job's
deliveries is a duplicate, explained only by a re-claim after its deliverer was SIGKILLed; the ledger balanced.
"""

from __future__ import annotations

import collections
import statistics
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs

from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore
from kiegen.core.delivery import Delivery, DeliveryStatus, recipient_scheme
from kiegen.core.jobs import Job, JobStatus
from kiegen.core.tenancy import shown_user_id
from tests.http.servers import WebhookReceiver
from tests.reliability.harness import ledger_audit
from tests.reliability.soak_fakes import REFUSED, TIMED_OUT, ChaosKie, SoakTelegram

SEED_CREDITS = 1_000
"""What each ``payer-*`` user is given before the load (their paid jobs spend it)."""


@attrs.frozen
class Conservation:
    jobs: int
    telegram_jobs: int
    api_jobs: int
    paid_jobs: int
    unfinished: int
    undelivered: int
    """Terminal jobs with a delivery not SENT, or none at all."""
    lost: int
    """Terminal jobs whose person (the chat, the webhook receiver) got nothing."""
    wrong_recipient: int
    """Messages carrying a job's buttons in another person's chat."""
    duplicates: int
    unexplained_duplicates: int
    """Duplicates not explained by a re-claim (attempt > 1) after the delivering process was SIGKILLed while the
    delivery was outstanding."""
    succeeded: int
    failed: int
    timed_out: int
    gave_up: int
    """Timed out as ``submit_failed``: KIE refused createTask twice (told, not charged)."""
    double_settled: int
    charged_wrongly: int
    balance_errors: int

    @property
    def broken(self) -> int:
        return (
            self.unfinished
            + self.undelivered
            + self.lost
            + self.wrong_recipient
            + self.unexplained_duplicates
            + self.double_settled
            + self.charged_wrongly
            + self.balance_errors
        )


async def conserve(
    database_url: str,
    fake: SoakTelegram | None,
    receiver: WebhookReceiver,
    killed: Mapping[str, Sequence[datetime]],
) -> tuple[Conservation, list[Job]]:
    """``killed``: per recipient scheme, when the processes that deliver it were SIGKILLed. Returns the figures
    and the jobs (for the callers' own checks)."""
    store = await SqlAlchemyJobStore.open(database_url, migrate=False)
    try:
        jobs = await store.list_jobs(limit=1_000_000)
        counts = collections.Counter[str]()
        undelivered = lost = wrong = duplicates = unexplained = 0
        for job in jobs:
            deliveries = await store.deliveries_for(job.id) if job.terminal else []
            if not deliveries or any(d.status is not DeliveryStatus.SENT for d in deliveries):
                undelivered += job.terminal
            sending = [d for d in deliveries if d.receipt != "superseded"]  # a superseded one sends nothing
            seen, elsewhere = _seen(job, fake, receiver)
            wrong += elsewhere
            lost += job.terminal and seen == 0
            extra = max(0, seen - len(sending))
            duplicates += extra
            if extra and not _explained(sending, killed.get(recipient_scheme(job.recipient), ())):
                unexplained += extra
            counts[job.status.value] += 1
        ledger = await ledger_audit(
            store, jobs, lambda user: SEED_CREDITS if (shown_user_id(user) or "").startswith("payer-") else 0
        )
        figures = Conservation(
            jobs=len(jobs),
            telegram_jobs=sum(1 for j in jobs if j.recipient.startswith("telegram:")),
            api_jobs=sum(1 for j in jobs if j.recipient.startswith("webhook:")),
            paid_jobs=sum(1 for j in jobs if j.price > 0),
            unfinished=sum(1 for j in jobs if not j.terminal),
            undelivered=undelivered,
            lost=lost,
            wrong_recipient=wrong,
            duplicates=duplicates,
            unexplained_duplicates=unexplained,
            succeeded=counts[JobStatus.SUCCEEDED.value],
            failed=counts[JobStatus.FAILED.value],
            timed_out=counts[JobStatus.TIMED_OUT.value],
            gave_up=sum(1 for j in jobs if j.error_code == "submit_failed"),
            **attrs.asdict(ledger),
        )
        return figures, jobs
    finally:
        await store.aclose()


def _explained(sending: Sequence[Delivery], killed: Sequence[datetime]) -> bool:
    """A second send of a delivery needs a second claim (attempt > 1), and with the delivery lease longer than
    any send, a second claim needs the first deliverer to have died: a kill between the delivery's creation
    and its recorded send."""
    reclaimed = [d for d in sending if d.attempt > 1 and d.sent_at is not None]
    return any(d.created_at <= at <= d.sent_at for d in reclaimed for at in killed if d.sent_at is not None)


def _seen(job: Job, fake: SoakTelegram | None, receiver: WebhookReceiver) -> tuple[int, int]:
    """How many times the job's person got it, and how many of its messages went to someone else. A Telegram
    result or failure notice carries the job's buttons (callback data ``r:<action>:<job id>``) whatever rung
    delivered it; a webhook is counted by the receiver under the job id it verified."""
    if job.recipient.startswith("webhook:"):
        return receiver.counts[job.id], 0
    assert fake is not None and job.recipient.startswith("telegram:")
    chat = int(job.recipient.removeprefix("telegram:"))

    def about_this_job(message: dict[str, Any]) -> bool:
        rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
        return any(
            str(b.get("callback_data", "")).startswith("r:") and str(b.get("callback_data", "")).endswith(f":{job.id}")
            for row in rows
            for b in row
        )

    mine = sum(1 for m in fake.by_chat[chat] if about_this_job(m))
    elsewhere = sum(1 for c, messages in fake.by_chat.items() if c != chat for m in messages if about_this_job(m))
    return mine, elsewhere


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def answer_figures(kie: ChaosKie, names: Mapping[int, str]) -> dict[str, Any]:
    """Callback answers per receiver: count, p50/p99/max/mean seconds of those answered, refused (the process
    was down), timed out (no answer within KIE's 15 s) and answers other than 200."""
    figures: dict[str, Any] = {}
    for port, name in names.items():
        mine = [(s, status) for origin, s, status in kie.answers if origin == str(port)]
        answered = [s for s, status in mine if status > 0]
        figures[name] = {
            "callbacks": len(mine),
            "p50_ms": round(1000 * percentile(answered, 0.5), 1),
            "p99_ms": round(1000 * percentile(answered, 0.99), 1),
            "max_ms": round(1000 * max(answered, default=0.0), 1),
            "mean_ms": round(1000 * statistics.fmean(answered), 1) if answered else 0.0,
            "refused": sum(1 for _, status in mine if status == REFUSED),
            "timed_out": sum(1 for _, status in mine if status == TIMED_OUT),
            "non_200": sum(1 for _, status in mine if status > 0 and status != 200),
        }
    return figures


def prompts_to_jobs(jobs: Sequence[Job]) -> Callable[[int, str], int]:
    """How many Telegram jobs chat ``c`` has with prompt ``p``."""
    index = collections.Counter((j.recipient, str(j.inputs.get("prompt", ""))) for j in jobs)
    return lambda chat, prompt: index[(f"telegram:{chat}", prompt)]
