"""NUL characters and unpaired surrogates, in every field an outsider controls, answer a 4xx naming the field:
never a 5xx, on the in-memory store, SQLite and PostgreSQL alike (PostgreSQL stores neither NUL in text nor
``\\u0000`` in jsonb; no engine encodes a lone surrogate as UTF-8), and nothing is stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from kiegen.ports.store import JobStore
from tests.conftest import drop_schema
from tests.http.conftest import AUTH, Harness, serving

pytestmark = pytest.mark.anyio

NUL = "\\u0000"
SURROGATE = "\\ud800"


@pytest.fixture(params=["memory", "sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def hostile(request: pytest.FixtureRequest, anyio_backend: str, tmp_path: Path) -> AsyncIterator[Harness]:
    if request.param == "memory":
        async with serving() as h:
            yield h
        return
    from kiegen.adapters.sqlalchemy import SqlAlchemyJobStore

    store: JobStore
    if request.param == "sqlite":
        sql = await SqlAlchemyJobStore.open(f"sqlite+aiosqlite:///{tmp_path / 'kiegen.db'}")
        schema = None
    else:
        url: str = request.getfixturevalue("postgres_url")
        schema = f"kiegen_test_{uuid.uuid4().hex[:12]}"
        sql = await SqlAlchemyJobStore.open(url, schema=schema)
    store = sql
    try:
        async with serving(store=store) as h:
            yield h
    finally:
        await sql.aclose()
        if schema is not None:
            await drop_schema(request.getfixturevalue("postgres_url"), schema)


def _raw(template: str, bad: str) -> bytes:
    """JSON text with ``bad`` (a JSON escape) spliced in where ``@`` is: json.dumps cannot write a lone surrogate."""
    return template.replace("@", bad).encode()


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
@pytest.mark.parametrize(
    ("template", "field"),
    [
        ('{"model": "z-image", "input": {"prompt": "a fox @ in the snow"}}', "input.prompt"),
        ('{"model": "z-image", "input": {"prompt": "a fox"}, "user_id": "ali@ce"}', "user_id"),
        ('{"model": "z-image@", "input": {"prompt": "a fox"}}', "model"),
        ('{"model": "z-image", "input": {"prompt": "a fox", "negative@": "x"}}', "input.<key>"),
        ('{"model": "z-image", "input": {"prompt": "a fox"}, "webhook_url": "https://h.example.com/@"}', "webhook_url"),
    ],
)
async def test_unstorable_text_in_a_generation_request_is_422_naming_the_field(
    hostile: Harness, template: str, field: str, bad: str
) -> None:
    response = await hostile.http.post("/v1/generations", content=_raw(template, bad), headers=AUTH)
    assert response.status_code == 422, response.text
    assert field in [p["field"] for p in response.json()["error"]["problems"]]
    assert await hostile.store.list_jobs() == []


async def test_a_nul_in_a_generation_id_is_422_naming_job_id(hostile: Harness) -> None:
    response = await hostile.http.get("/v1/generations/abc%00def", headers=AUTH)
    assert response.status_code == 422
    assert response.json()["error"]["problems"][0]["field"] == "job_id"


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["NUL", "surrogate"])
async def test_unstorable_text_in_a_bare_callbacks_task_id_is_400_naming_task_id(hostile: Harness, bad: str) -> None:
    body = _raw('{"code": 200, "data": {"taskId": "task@1", "state": "success"}}', bad)
    response = await hostile.http.post("/callbacks/kie", content=body)
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "taskId"
    in_query = await hostile.http.post("/callbacks/kie?taskId=t%00", content=b"")
    assert in_query.status_code == 400 and in_query.json()["error"]["field"] == "taskId"


async def test_a_nul_in_a_callbacks_job_id_is_400_naming_job_id(hostile: Harness) -> None:
    response = await hostile.http.post("/callbacks/kie/abc%00?token=x", content=b"{}")
    assert response.status_code == 400
    assert response.json()["error"]["field"] == "job_id"


async def test_with_a_valid_token_an_unstorable_task_id_is_refused_and_the_job_untouched(hostile: Harness) -> None:
    created = await hostile.create()
    job_id = created.json()["id"]
    body = _raw('{"code": 200, "data": {"taskId": "task@1", "state": "success"}}', NUL)
    response = await hostile.http.post(hostile.callback_url(job_id), content=body)
    assert response.status_code == 400 and response.json()["error"]["field"] == "taskId"
    assert json.loads((await hostile.http.get(f"/v1/generations/{job_id}", headers=AUTH)).text)["id"] == job_id
