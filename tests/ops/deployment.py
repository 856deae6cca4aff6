"""A small deployment on loopback: ``kiegen serve`` as a process (the command the systemd unit runs), KIE played
by the simulator over HTTP (so that the gateway's requests are real and counted), and a webhook receiver that
verifies signatures. ``KIEGEN_PUBLIC_URL`` may point at a reverse proxy in front of the service."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import attrs
import httpx

from kiegen.simulator.app import running_in_thread
from kiegen.simulator.engine import SimulatorConfig
from tests.http.servers import API_KEY, RandomDelayKie, WebhookReceiver, app_env, simulator
from tests.ops.procs import Service, clean_env, free_port

AUTH = {"Authorization": f"Bearer {API_KEY}"}


@attrs.define
class Deployment:
    url: str
    port: int
    hook: str
    receiver: WebhookReceiver
    kie: RandomDelayKie
    service: Service

    def generate(self, *, via: str | None = None, wait: float = 30.0) -> dict[str, object]:
        """One generation through ``via`` (default: the service itself), waited for by long polling."""
        base = via or self.url
        with httpx.Client(base_url=base, headers=AUTH, timeout=wait + 15) as http:
            body = {"model": "z-image", "input": {"prompt": "a fox"}, "webhook_url": self.hook}
            created = http.post("/v1/generations", json=body)
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            done = http.get(f"/v1/generations/{job_id}", params={"wait": wait})
            assert done.status_code == 200, done.text
            result: dict[str, object] = done.json()
            return result


@contextlib.contextmanager
def deployed(where: Path, *, port: int | None = None, public_url: str | None = None) -> Iterator[Deployment]:
    port = port or free_port()
    kie = RandomDelayKie(0.3, 0.6, SimulatorConfig())
    receiver = WebhookReceiver()
    with simulator(kie) as kie_url, running_in_thread(receiver) as hook_base:
        env = app_env(
            port=port,
            kie_url=kie_url,
            database_url=f"sqlite:///{where / 'kiegen.db'}",
            log_level="INFO",
            KIEGEN_CALLBACK_GRACE_S="2",
            KIEGEN_WORKER_INTERVAL_S="0.1",
        )
        if public_url is not None:
            env["KIEGEN_PUBLIC_URL"] = public_url
        service = Service(
            [sys.executable, "-m", "kiegen", "serve"], cwd=where, env=clean_env(**env), log=where / "kiegen.log"
        )
        with service:
            url = f"http://127.0.0.1:{port}"
            service.wait_http(f"{url}/readyz")
            yield Deployment(url, port, f"{hook_base}/hooks/kiegen", receiver, kie, service)
