"""``kiegen e2e --record DIR``: every raw KIE answer and callback saved as corpus files, secrets redacted, each
with what kiegen made of it (the same reading as the corpus test), against the built-in simulator and against
the simulator standing in for KIE over real HTTP (``--real`` with its base URL)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from kiegen.adapters.system import SystemClock
from kiegen.cli.main import main
from kiegen.cli.record import ENDPOINTS, reading
from kiegen.simulator.app import create_app, running_in_thread
from kiegen.simulator.engine import SimulatorConfig

SIM_KEY = "sim-secret-key-1234567"
CALLBACK_SECRET = "callback-secret-abcdefgh"


@pytest.fixture
def standing_in() -> Iterator[str]:
    app = create_app(clock=SystemClock(), config=SimulatorConfig(delay_s=0.3), api_key=SIM_KEY)
    with running_in_thread(app) as base:
        yield base


def recorded(directory: Path) -> list[dict[str, object]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


def readings_hold(entries: list[dict[str, object]]) -> bool:
    async def check() -> bool:
        return all([await reading(e) == e["kiegen_read"] for e in entries])

    return anyio.run(check)


def test_e2e_records_the_callbacks_of_the_built_in_simulator(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["e2e", "--record", str(workdir / "rec")]) == 0
    out = capsys.readouterr().out
    # the four free models and one video model of each kind: 6 tasks at 0.8 credits
    assert "SUMMARY: 6/6 passed" in out and "kie_credits=4.8" in out
    entries = recorded(workdir / "rec")
    assert [e["endpoint"] for e in entries] == ["callback"] * 6
    assert all(e["source"] for e in entries) and readings_hold(entries)

    # the jobs are stored (kiegen.db here): `kiegen jobs show` says what KIE charged for each
    assert main(["jobs", "list", "--json"]) == 0
    job_id = json.loads(capsys.readouterr().out)[0]["id"]
    assert main(["jobs", "show", job_id]) == 0
    assert re.search(r"^kie_credits\s+0\.8$", capsys.readouterr().out, re.MULTILINE)


def test_e2e_real_records_every_kie_answer_with_secrets_and_tokens_redacted(
    workdir: Path, standing_in: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KIE_API_KEY", SIM_KEY)
    monkeypatch.setenv("KIEGEN_KIE_BASE_URL", standing_in)
    monkeypatch.setenv("KIEGEN_KIE_UPLOAD_URL", standing_in)
    monkeypatch.setenv("KIEGEN_ALLOW_PRIVATE_URLS", "1")
    # Callbacks go nowhere (a closed port): the jobs finish by polling; callBackUrl, with its token, is in param.
    monkeypatch.setenv("KIEGEN_PUBLIC_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("KIEGEN_CALLBACK_SECRET", CALLBACK_SECRET)

    assert main(["e2e", "--real", "--record", str(workdir / "rec"), "--timeout", "60"]) == 0
    assert "SUMMARY: 4/4 passed" in capsys.readouterr().out
    entries = recorded(workdir / "rec")
    endpoints = {str(e["endpoint"]) for e in entries}
    assert {"upload", "createTask", "recordInfo"} <= endpoints <= set(ENDPOINTS)
    text = "".join(p.read_text() for p in (workdir / "rec").glob("*.json"))
    assert SIM_KEY not in text and CALLBACK_SECRET not in text
    tokens = re.findall(r"token=([^&\"\\\\]+)", text)
    assert tokens and set(tokens) == {"[redacted]"}
    assert readings_hold(entries)
