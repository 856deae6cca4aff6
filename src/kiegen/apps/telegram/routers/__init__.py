"""One router per feature. ``routers()`` builds them in the order they must be tried: /cancel and the other
commands first (they work in every state), the catch-all last."""

from __future__ import annotations

from aiogram import Router

from kiegen.apps.telegram.routers import balance, common, create, fallback, history, results

__all__ = ["routers"]


def routers() -> list[Router]:
    return [m.make_router() for m in (common, balance, history, results, create, fallback)]
