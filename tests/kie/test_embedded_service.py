"""With no KIE_API_KEY the HTTP service (``python -m kiegen.apps.http``, run by ``kiegen serve``) serves the
embedded simulator's results itself, so a client of ``/v1`` can fetch them: tested over a real socket. The
same run shows what KIE charged: ``kie_credits`` in the job JSON and ``kiegen_kie_credits_total`` by model."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
import pytest

from kiegen.apps.http.serve import app_from_env
from kiegen.simulator.app import running_in_thread
from kiegen.simulator.png import PNG_MAGIC

API_KEY = "embedded-test-key-123456"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_results_made_without_a_kie_key_are_fetched_from_the_service_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    port = free_port()
    env = {
        "KIEGEN_PORT": str(port),
        "KIEGEN_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
        "KIEGEN_API_KEYS": API_KEY,
    }
    app, settings = app_from_env(env)
    assert settings.simulated
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with running_in_thread(app, port=port) as base, httpx.Client(base_url=base, headers=headers, timeout=10) as http:
        created = http.post("/v1/generations", json={"model": "z-image", "input": {"prompt": "a red fox"}})
        assert created.status_code == 202
        job = http.get(f"/v1/generations/{created.json()['id']}", params={"wait": 8}).json()
        assert job["status"] == "succeeded"
        url = job["result_urls"][0]
        # before: https://kie-simulator.invalid/results/..., which nobody can fetch
        assert url.startswith(f"http://127.0.0.1:{port}/simulator/results/")
        image = httpx.get(url, timeout=10)  # a plain client of the service, no key needed
        assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
        assert image.content.startswith(PNG_MAGIC)
        assert httpx.get(f"{base}/simulator/results/no-such-task/0.png").status_code == 404
        assert job["kie_credits"] == 0.8
        deadline = time.monotonic() + 10
        while 'kiegen_kie_credits_total{model="z-image"} 0.8' not in http.get("/metrics").text:
            assert time.monotonic() < deadline, "the delivered job's KIE credits were not counted"
            time.sleep(0.1)


def test_the_result_urls_follow_kiegen_public_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "KIEGEN_PUBLIC_URL": "https://gen.example.com",
        "KIEGEN_CALLBACK_SECRET": "s" * 32,
        "KIEGEN_DATABASE_URL": f"sqlite:///{tmp_path / 'k.db'}",
        "KIEGEN_API_KEYS": API_KEY,
    }
    app, _ = app_from_env(env)
    state = app.state.kiegen
    assert state.client.simulator.config.result_base_url == "https://gen.example.com/simulator"
