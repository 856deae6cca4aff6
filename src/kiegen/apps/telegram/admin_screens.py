"""What the operator commands show: /stats (today and the last 7 days) and /user ID (balance, recent jobs,
payments with their refunds, the last ledger entries). Read-only; the figures come from the console's queries
(``kiegen.ports.console``) and the bot store's Stars figures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from kiegen.apps.telegram.account_screens import price_text
from kiegen.apps.telegram.deps import Deps, user_key
from kiegen.apps.telegram.i18n import Markup, Translator
from kiegen.apps.telegram.screens import when
from kiegen.core.billing import utc_day
from kiegen.core.jobs import JobStatus
from kiegen.ports.bot import RefundStatus, StarsFigures
from kiegen.ports.console import ConsoleQueries, JobFilter, JobStats

__all__ = ["stats", "user"]

RECENT = 5
"""Jobs and payments /user lists (newest first); the ledger shows one more."""
TOP_MODELS = 10
"""Models /stats lists per period, busiest first (the message must stay within Telegram's 4,096 characters)."""
_STATUS_ORDER = [status.value for status in JobStatus]


def _statuses(counts: dict[str, int]) -> str:
    ordered = sorted(counts.items(), key=lambda kv: _STATUS_ORDER.index(kv[0]) if kv[0] in _STATUS_ORDER else 99)
    return ", ".join(f"{status} {n}" for status, n in ordered)


def _period(tr: Translator, jobs: JobStats, stars: StarsFigures) -> str:
    by_status = jobs.by_status()
    lines = [tr("admin_stats_jobs", total=jobs.total, statuses=f" — {_statuses(by_status)}" if by_status else "")]
    busiest = sorted(jobs.jobs, key=lambda model: (-sum(jobs.jobs[model].values()), model))
    for model in busiest[:TOP_MODELS]:
        lines.append(tr("admin_stats_model", model=model, statuses=_statuses(dict(jobs.jobs[model]))))
    if len(busiest) > TOP_MODELS:
        lines.append(tr("admin_stats_more_models", n=len(busiest) - TOP_MODELS))
    failures = sorted(jobs.failures.items(), key=lambda kv: (-kv[1], kv[0]))
    codes = ", ".join(f"{code} {n}" for code, n in failures) if failures else tr.plain("admin_none")
    lines.append(tr("admin_stats_failures", codes=codes))
    lines.append(tr("admin_stats_kie", credits=f"{jobs.kie_credits:g}"))
    lines.append(
        tr(
            "admin_stats_stars",
            stars=stars.stars,
            payments=stars.payments,
            refunded=stars.refunded_stars,
            refunds=stars.refunds,
        )
    )
    return "\n".join(lines)


async def stats(deps: Deps, queries: ConsoleQueries, tr: Translator) -> str:
    """Today is the UTC day of now (the free quota's day too); the week is the 7 x 24 hours before now."""
    now = deps.now()
    midnight = datetime.combine(utc_day(now), datetime.min.time(), tzinfo=UTC)
    end = midnight + timedelta(days=1)
    week = now - timedelta(days=7)
    today = _period(tr, await queries.job_stats(midnight, end), await deps.bots.stars(midnight, end))
    last_week = _period(tr, await queries.job_stats(week, end), await deps.bots.stars(week, end))
    return tr("admin_stats", today=Markup(today), week=Markup(last_week))


async def user(deps: Deps, queries: ConsoleQueries, tr: Translator, telegram_user: int) -> str:
    user_id = user_key(telegram_user)
    store, now = deps.client.store, deps.now()
    known = await deps.bots.get_user(user_id)
    jobs = (await queries.find_jobs(JobFilter(user_id=user_id), limit=RECENT)).jobs
    payments = list(reversed((await deps.bots.payments(user_id))[-RECENT:]))
    entries = list(reversed((await store.ledger(user_id))[-(RECENT + 1) :]))
    if known is None and not jobs and not payments and not entries:
        return tr("admin_user_unknown", user=telegram_user)
    head = tr(
        "admin_user_head",
        user=telegram_user,
        locale=(known.locale if known is not None else None) or "—",
        since=known.created_at.strftime("%Y-%m-%d") if known is not None else "—",
        balance=tr.plain("balance_line", n=await store.balance(user_id)),
    )
    job_lines = [
        tr(
            "admin_job_line",
            status=job.status.value,
            date=when(tr, job.created_at, now),
            model=job.model,
            price=price_text(tr, job.price),
            job=job.id,
        )
        for job in jobs
    ]
    payment_lines = []
    for payment in payments:
        refund = await deps.bots.refund_of(payment.telegram_payment_charge_id)
        if refund is None:
            note = ""
        elif refund.status is RefundStatus.DONE:
            note = tr("admin_payment_refunded", taken=refund.taken_back or 0)
        else:
            note = tr("admin_payment_refunding")
        payment_lines.append(
            tr(
                "admin_payment_line",
                date=when(tr, payment.created_at, now),
                stars=payment.total_amount,
                credits=payment.credits,
                charge=payment.telegram_payment_charge_id,
                refund=Markup(note),
            )
        )
    entry_lines = [
        tr(
            "entry_line",
            date=when(tr, entry.created_at, now),
            sign="+" if entry.delta > 0 else "-" if entry.delta < 0 else "",
            amount=entry.amount,
            kind=tr.plain(f"kind_{entry.kind.value}"),
        )
        for entry in entries
    ]
    none = tr("admin_none")
    sections = [
        head,
        tr("admin_user_jobs") + "\n" + ("\n".join(job_lines) or none),
        tr("admin_user_payments") + "\n" + ("\n".join(payment_lines) or none),
        tr("admin_user_ledger") + "\n" + ("\n".join(entry_lines) or none),
    ]
    return "\n\n".join(sections)
