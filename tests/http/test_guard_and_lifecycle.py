"""The SSRF guard on result downloads (redirects included), the graceful drain of deliveries at shutdown, and
readiness against a real database."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import httpx
import pytest

from kiegen import Client
from kiegen.adapters import urlguard
from kiegen.adapters.kie_httpx.download import download_image
from kiegen.adapters.memory import InMemoryJobStore, SimulatedKie, SimulatorConfig
from kiegen.adapters.sqlalchemy.migrate import migrate
from kiegen.adapters.sqlalchemy.store import SqlAlchemyJobStore
from kiegen.adapters.system import SystemClock
from kiegen.apps.http import create_app
from kiegen.core.errors import UnsafeURL
from kiegen.core.jobs import Job
from kiegen.ports.messaging import Receipt
from kiegen.services import Config
from kiegen.simulator.png import make_png
from tests.http.conftest import BASE, make_settings, public_dns
from tests.http.test_webhook import SSRF

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("url", SSRF)
async def test_the_ssrf_matrix_is_refused_for_result_downloads(tmp_path: Path, url: str) -> None:
    seen: list[httpx.Request] = []
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(200)))
    with pytest.raises(UnsafeURL):
        await download_image(client, url, tmp_path, stem="r", resolver=public_dns)
    assert seen == []


@pytest.mark.parametrize("target", ["http://127.0.0.1/a.png", "http://0x7f000001/a.png", "file:///etc/passwd"])
async def test_a_redirect_to_a_private_address_is_refused_before_it_is_followed(tmp_path: Path, target: str) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": target})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(UnsafeURL):
        await download_image(client, "https://cdn.example.com/a.png", tmp_path, stem="r", resolver=public_dns)
    assert seen == ["https://cdn.example.com/a.png"]


async def test_a_redirect_to_a_public_address_is_followed(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/a.png":
            return httpx.Response(301, headers={"Location": "/b.png"})
        return httpx.Response(200, content=make_png("x"))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    result = await download_image(client, "https://cdn.example.com/a.png", tmp_path, stem="r", resolver=public_dns)
    assert result.kind == "png"


@pytest.mark.parametrize(
    ("host", "address"),
    [("2130706433", "127.0.0.1"), ("0x7f.1", "127.0.0.1"), ("0177.0.0.01", "127.0.0.1"), ("10.1", "10.0.0.1")],
)
def test_numeric_hosts_are_read_as_inet_aton_reads_them(host: str, address: str) -> None:
    assert str(urlguard.parse_ip(host)) == address


def test_public_addresses_and_names_pass_the_static_check() -> None:
    assert urlguard.check_url_static("https://93.184.216.34/x") is None
    assert urlguard.check_url_static("https://hooks.example.com/x") == ("hooks.example.com", 443)


class SlowMessenger:
    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.started = 0
        self.finished = 0

    schemes = frozenset({"slow"})

    def handles(self, recipient: str) -> bool:
        return recipient.startswith("slow:")

    async def deliver(self, job: Job) -> Receipt:  # noqa: ARG002 (the port's signature)
        self.started += 1
        await anyio.sleep(self.seconds)
        self.finished += 1
        return Receipt(detail="slow")


async def _run_until_delivery_starts(messenger: SlowMessenger, drain_s: float) -> tuple[Client, float]:
    kie = SimulatedKie(SystemClock(), SimulatorConfig(delay_s=0.0))
    config = Config(public_url=BASE, callback_secret=b"s", worker_interval_s=0.02)
    client = Client(store=InMemoryJobStore(), kie=kie, messengers=[messenger], config=config, resources=[kie])
    kie.callback_sink = client.receive_callback
    app = create_app(client, make_settings(), drain_s=drain_s)
    async with app.router.lifespan_context(app):
        await client.submit("z-image", {"prompt": "x"}, recipient="slow:1")
        with anyio.fail_after(5):
            while not messenger.started:  # noqa: ASYNC110 - the deliverer is the app's own task
                await anyio.sleep(0.01)
        stopping = time.monotonic()
    return client, time.monotonic() - stopping


async def test_shutdown_lets_a_delivery_in_flight_finish_within_the_drain() -> None:
    messenger = SlowMessenger(0.3)
    client, took = await _run_until_delivery_starts(messenger, drain_s=5.0)
    assert messenger.finished == 1 and took < 2
    [job] = await client.jobs()
    assert [d.status.value for d in await client.store.deliveries_for(job.id)] == ["sent"]


async def test_shutdown_cuts_a_delivery_off_at_the_drain_bound_and_leaves_it_to_its_lease() -> None:
    messenger = SlowMessenger(30.0)
    client, took = await _run_until_delivery_starts(messenger, drain_s=0.2)
    assert messenger.finished == 0 and took < 2
    [job] = await client.jobs()
    [delivery] = await client.store.deliveries_for(job.id)
    assert delivery.status.value == "pending" and delivery.lease_until is not None


async def test_readiness_follows_the_database_schema(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'k.db'}"
    await migrate(url, revision="0001")
    store = SqlAlchemyJobStore.from_url(url, migrate=False)
    client = Client(store=store, config=Config(callback_secret=b"s"), workers=False)
    app = create_app(client, make_settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as http:
        stale = await http.get("/readyz")
        assert stale.status_code == 503 and stale.json()["migration"] == "0001"
        await migrate(url)
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json()["migration"] == ready.json()["head"]
        text = (await http.get("/metrics")).text
        assert 'kiegen_jobs{status="pending"} 0.0' in text  # counted in the database
    await store.aclose()
