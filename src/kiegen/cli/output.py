"""How the command line talks to people: one-line errors on stderr, JSON on stdout, no tracebacks for mistakes."""

from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

from kiegen.core.jobs import Job
from kiegen.core.models import InputSpec, ModelSpec
from kiegen.core.pricing import kie_cost, margin
from kiegen.core.registry import ModelRegistry
from kiegen.core.validation import is_raw
from kiegen.core.wire import job_json, model_json

__all__ = [
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_USAGE",
    "job_dict",
    "models_json",
    "models_text",
    "prices_text",
    "print_json",
    "say",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def job_dict(job: Job, *, files: list[str] | None = None) -> dict[str, Any]:
    """The API's view of a job plus the files this command saved, and whether its input skipped validation."""
    return {**job_json(job), "raw": is_raw(job), "files": files or []}


def _shown(registry: ModelRegistry, enabled_only: bool) -> list[ModelSpec]:
    return registry.enabled_models() if enabled_only else list(registry)


def models_json(registry: ModelRegistry, *, enabled_only: bool = False) -> list[dict[str, Any]]:
    return [model_json(spec, enabled=registry.is_enabled(spec.id)) for spec in _shown(registry, enabled_only)]


def _credits(value: Decimal | float) -> str:
    number = Decimal(str(value)).normalize()
    return f"{number:f}"


def _cost(spec: ModelSpec) -> str:
    cost = kie_cost(spec)
    return _credits(cost.credits) if cost.documented else f"<={_credits(cost.credits)}*"


def _price(spec: ModelSpec) -> str:
    return "free" if spec.price == 0 else f"{spec.price} credits"


def models_text(registry: ModelRegistry, *, enabled_only: bool = False) -> str:
    """Every model, grouped by kind: id, title, KIE's cost, the end-user price, then its inputs."""
    shown = {spec.id for spec in _shown(registry, enabled_only)}
    lines = []
    for kind, specs in registry.by_kind().items():
        specs = [spec for spec in specs if spec.id in shown]
        if not specs:
            continue
        lines += [f"== {kind.value} ({len(specs)}) ==", ""]
        for spec in specs:
            offered = "" if registry.is_enabled(spec.id) else ", not offered by the bot"
            lines.append(f"{spec.id}  ({spec.title}: KIE {_cost(spec)} credits, price {_price(spec)}{offered})")
            if spec.description:
                lines.append(f"    {spec.description}")
            lines += [f"    {i.name:<22} {_facts(i)}" for i in spec.inputs]
            lines.append("")
    lines.append(_FOOTNOTE)
    return "\n".join(lines).rstrip()


_FOOTNOTE = (
    "* the model's KIE page states no price: the top of KIE's documented range for its media "
    "(the default end-user price is based on it)"
)


def _facts(i: InputSpec) -> str:
    facts = ["required" if i.required else "optional", i.type.value]
    if i.enum is not None:
        facts.append("one of " + "|".join(map(str, i.enum)))
    if i.min is not None or i.max is not None:
        facts.append(f"{_num(i.min)}..{_num(i.max)}")
    if i.min_length is not None:
        facts.append(f">= {i.min_length} chars")
    if i.max_length is not None:
        facts.append(f"<= {i.max_length} chars")
    if i.min_items is not None or i.max_items is not None:
        facts.append(f"{_num(i.min_items)}..{_num(i.max_items)} items")
    if i.default is not None:
        facts.append(f"default {i.default!r}")
    return ", ".join(facts)


def prices_text(registry: ModelRegistry, *, enabled_only: bool = False) -> str:
    """A price list: per model, KIE's cost, the end-user price and the margin, in credits."""
    rows = [("model", "kind", "KIE cost", "price", "margin")]
    for spec in _shown(registry, enabled_only):
        gain = _credits(margin(spec)) if kie_cost(spec).documented else f">={_credits(margin(spec))}*"
        rows.append((spec.id, spec.kind.value, _cost(spec), "free" if spec.price == 0 else str(spec.price), gain))
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([*lines, "", _FOOTNOTE])


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
