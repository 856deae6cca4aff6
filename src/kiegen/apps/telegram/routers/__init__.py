"""One router per feature. ``routers()`` builds them in the order they must be tried: the commands first (they
work whatever is going on), the catch-all last."""

from __future__ import annotations

from aiogram import Router

from kiegen.apps.telegram.routers import balance, cancel, common, create, fallback, history, inputs, results

__all__ = ["routers"]


def routers() -> list[Router]:
    return [m.make_router() for m in (common, cancel, balance, history, results, create, inputs, fallback)]
