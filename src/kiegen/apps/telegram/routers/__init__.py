"""One router per feature. ``routers()`` builds them in the order they must be tried: the commands first (they
work whatever is going on; the operators' right after /start, so that nobody else's /stats reaches the
fallback's hint), the catch-all last."""

from __future__ import annotations

from aiogram import Router

from kiegen.apps.telegram.routers import admin, balance, cancel, common, create, fallback, history, inputs, results

__all__ = ["routers"]


def routers() -> list[Router]:
    return [m.make_router() for m in (common, admin, cancel, balance, history, results, create, inputs, fallback)]
