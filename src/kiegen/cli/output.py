"""How the command line talks to people: one-line errors on stderr, JSON on stdout, no tracebacks for mistakes."""

from __future__ import annotations

import json
import sys
from typing import Any

from kiegen.core.jobs import Job
from kiegen.core.models import ModelRegistry
from kiegen.core.wire import job_json, model_json

__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_USAGE", "job_dict", "models_json", "print_json", "say"]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False, default=str))


def job_dict(job: Job, *, files: list[str] | None = None) -> dict[str, Any]:
    """The API's view of a job plus the files this command saved."""
    return {**job_json(job), "files": files or []}


def models_json(registry: ModelRegistry) -> list[dict[str, Any]]:
    return [model_json(spec) for spec in registry]


def models_text(registry: ModelRegistry) -> str:
    lines = []
    for spec in registry:
        price = "free" if spec.price == 0 else f"{spec.price} credits"
        lines.append(f"{spec.id}  ({spec.title}, {spec.kind.value}, {price})")
        for i in spec.inputs:
            facts = ["required" if i.required else "optional", i.type.value]
            if i.enum is not None:
                facts.append("one of " + "|".join(map(str, i.enum)))
            if i.min is not None or i.max is not None:
                facts.append(f"{_num(i.min)}..{_num(i.max)}")
            if i.max_length is not None:
                facts.append(f"<= {i.max_length} chars")
            if i.default is not None:
                facts.append(f"default {i.default!r}")
            lines.append(f"    {i.name:<22} {', '.join(facts)}")
        lines.append("")
    return "\n".join(lines).rstrip()


def _num(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else str(value)
