"""The console in a real browser: headless Chromium from Debian's packages (``/usr/bin/chromium``), driven by
Playwright's Python package (never a browser Playwright downloads), against the real service started as a
subprocess (``python -m kiegen.apps.http``) on a socket, with a SQLite file, the KIE simulator served by uvicorn
in a thread of this process (its task duration turned up for the job to cancel) and a webhook receiver that
answers 410 Gone until it is told to accept.

One journey, step by step: sign in, find a job by its KIE task id, read its story, see its delivery fail and
retry it, cancel a running job, check that a hostile prompt is text, look at health and the audit log, and the
job page on a phone's screen. Each page is photographed into ``reports/console/`` (listed at the end of the
test run and kept as the test's properties); ``KIEGEN_UPDATE_SCREENSHOTS=1`` also writes ``docs/console/``.

Without Chromium (or Playwright) these tests skip with the reason, except in CI (``CI=true``) or with
``KIEGEN_REQUIRE_BROWSER=1``, where they fail instead.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from kiegen.simulator.app import SimulatorApp, running_in_thread
from kiegen.simulator.engine import SimulatorConfig
from tests.http.servers import (
    API_KEY,
    KIE_KEY,
    ROOT,
    AppProcess,
    RandomDelayKie,
    WebhookReceiver,
    app_env,
    free_port,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path(os.environ.get("KIEGEN_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REQUIRED = os.environ.get("CI", "").lower() == "true" or os.environ.get("KIEGEN_REQUIRE_BROWSER") == "1"
CONSOLE_KEY = "browser-console-key-" + "7c1e9a40d25b8f36"
HOSTILE = '<script>window.__owned = 1; alert("owned")</script><img src=x onerror="window.__owned = 2">'
REPORT = ROOT / "reports" / "console"
DOCS = ROOT / "docs" / "console"
SHOTS: list[Path] = []


def _browser_missing() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright's Python package is not installed (pip install playwright)"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    missing = _browser_missing()
    if missing is not None:
        if REQUIRED:
            pytest.fail(f"the browser tests must run here (CI or KIEGEN_REQUIRE_BROWSER=1): {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


class Service:
    """The service on a socket, its simulator, its webhook receiver and a /v1 client."""

    def __init__(self, app: AppProcess, kie: RandomDelayKie, receiver: WebhookReceiver, hook_url: str) -> None:
        self.app = app
        self.kie = kie
        self.receiver = receiver
        self.hook_url = hook_url
        self.api = httpx.Client(base_url=app.url, headers={"Authorization": f"Bearer {API_KEY}"}, timeout=10)

    def submit(self, prompt: str, **body: Any) -> dict[str, Any]:
        response = self.api.post("/v1/generations", json={"model": "z-image", "input": {"prompt": prompt}, **body})
        response.raise_for_status()
        job: dict[str, Any] = response.json()
        return job

    def job(self, job_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/v1/generations/{job_id}").raise_for_status().json()
        return found


def until(check: Callable[[], Any], timeout: float = 20.0, what: str = "the condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    work = tmp_path_factory.mktemp("console-browser")
    receiver = WebhookReceiver(status=410)  # refuses until the test says otherwise
    kie = RandomDelayKie(0.3, 0.3, SimulatorConfig())  # POSTs its callbacks to the service over the socket
    with (
        running_in_thread(SimulatorApp(kie, api_key=KIE_KEY, own_engine=True)) as kie_url,
        running_in_thread(receiver) as hook_base,
    ):
        port = free_port()
        env = app_env(
            port=port,
            kie_url=kie_url,
            database_url=f"sqlite:///{work / 'kiegen.db'}",
            log_level="INFO",
            KIEGEN_CONSOLE_KEY=CONSOLE_KEY,
            KIEGEN_WORKER_INTERVAL_S="0.2",
        )
        app = AppProcess(env, cwd=work, log=work / "app.log", port=port)
        app.start()
        service = Service(app, kie, receiver, f"{hook_base}/hook")
        try:
            yield service
        finally:
            service.api.close()
            app.stop()


def shoot(page: Any, name: str, record: Callable[[str, object], None]) -> None:
    """A full-page screenshot into the report (and into docs/ when asked)."""
    REPORT.mkdir(parents=True, exist_ok=True)
    path = REPORT / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    SHOTS.append(path)
    record(f"screenshot:{name}", str(path))
    if os.environ.get("KIEGEN_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, DOCS / path.name)


@contextlib.contextmanager
def browsing(chromium: Any, service: Service, **context: Any) -> Iterator[Any]:
    ctx = chromium.new_context(base_url=service.app.url, **context)
    page = ctx.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.dialogs = dialogs
    try:
        yield page
    finally:
        ctx.close()


def sign_in(page: Any) -> None:
    page.goto("/console/")
    assert "/console/login" in page.url  # not signed in: the login form
    page.fill("#key", CONSOLE_KEY)
    page.click("form.login button[type=submit]")
    page.wait_for_url("**/console/")


def test_an_operator_finds_a_job_reads_its_story_retries_its_delivery_and_cancels_another(
    chromium: Any, service: Service, record_property: Callable[[str, object], None]
) -> None:
    delivered = service.submit("a lighthouse at dusk", webhook_url=service.hook_url)
    hostile = service.submit(HOSTILE)
    until(lambda: service.job(delivered["id"])["status"] == "succeeded", what="the first job to succeed")
    until(lambda: service.receiver.counts[delivered["id"]] >= 1, what="the refused webhook")
    task_id = service.job(delivered["id"])["task_id"]
    until(lambda: service.job(hostile["id"])["status"] == "succeeded", what="the hostile job to succeed")

    with browsing(chromium, service, viewport={"width": 1280, "height": 900}) as page:
        page.goto("/console/")
        page.wait_for_url("**/console/login**")
        shoot(page, "login", record_property)
        sign_in(page)

        # the list: a hostile prompt is text, and nothing ran
        assert page.get_by_text("<script>window.__owned = 1;", exact=False).count() >= 1
        assert page.locator("main script").count() == 0 and page.locator("main img[src=x]").count() == 0
        assert page.evaluate("window.__owned") is None and page.dialogs == []
        shoot(page, "jobs", record_property)

        # find the job by its KIE task id; its story says the webhook was refused
        page.fill("input[name=q]", task_id)
        page.click("form.search button")
        page.wait_for_url(f"**/console/jobs/{delivered['id']}")
        story = page.locator("ol.timeline")
        assert story.get_by_text("Delivery attempt 1: gone").count() == 1
        assert page.get_by_text("answered 410 Gone").count() >= 1
        assert page.get_by_text("Not delivered: the recipient is gone").count() == 1
        shoot(page, "job", record_property)
        page.locator("details", has_text="Raw body").first.click()  # a callback's body, behind a click
        assert page.locator("pre.body").first.is_visible()

        # retry it: confirmed on its own page, then sent
        service.receiver.status = 200
        page.click("text=Retry…")
        page.wait_for_url("**/retry?delivery=**")
        shoot(page, "confirm-retry", record_property)
        page.click("text=Yes, retry this delivery")
        page.wait_for_url("**?notice=retried")
        until(lambda: service.receiver.counts[delivered["id"]] >= 2, what="the retried webhook")
        until(lambda: page.reload() and story.get_by_text("Delivery attempt 2: sent").count() == 1, what="the story")
        assert story.get_by_text("Operator: retry_delivery").count() == 1
        shoot(page, "job-retried", record_property)

        # the hostile job's page: its prompt shown, not run
        page.goto(f"/console/jobs/{hostile['id']}")
        assert page.locator("pre.inputs").inner_text().count("<script>window.__owned = 1;") == 1
        assert page.evaluate("window.__owned") is None and page.dialogs == []
        shoot(page, "hostile-prompt", record_property)

        # cancel a running job (a slow simulated task)
        service.kie.low = service.kie.high = 120.0
        slow = service.submit("a slow one")
        until(lambda: service.job(slow["id"])["task_id"], what="the slow job to be submitted")
        page.goto(f"/console/jobs/{slow['id']}")
        assert page.get_by_text("At KIE as task").count() == 1
        page.click("text=Cancel job…")
        shoot(page, "confirm-cancel", record_property)
        page.click("text=Yes, cancel this job")
        page.wait_for_url("**?notice=cancelled")
        assert page.locator("h1 .badge").inner_text() == "cancelled"
        assert page.get_by_text("Cancelled by the operator").count() == 1
        shoot(page, "job-cancelled", record_property)
        assert service.job(slow["id"])["status"] == "cancelled"

        page.goto("/console/health")
        assert page.get_by_text("deliveries pending").count() == 1
        shoot(page, "health", record_property)
        page.goto("/console/audit")
        assert page.get_by_text("retry_delivery").count() >= 1 and page.locator("td", has_text="cancel").count() >= 1
        shoot(page, "audit", record_property)

    # on a phone: the job page fits the screen's width
    with browsing(chromium, service, viewport={"width": 390, "height": 844}, is_mobile=True) as phone:
        sign_in(phone)
        phone.goto(f"/console/jobs/{delivered['id']}")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(phone, "phone-job", record_property)
        phone.goto("/console/")
        assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        shoot(phone, "phone-jobs", record_property)


def test_a_browser_without_the_key_sees_only_the_login_form(chromium: Any, service: Service) -> None:
    with browsing(chromium, service) as page:
        for path in ["/console/", "/console/health", "/console/audit"]:
            page.goto(path)
            assert "/console/login" in page.url
        page.fill("#key", "not-the-console-key-000")
        page.click("button[type=submit]")
        assert page.get_by_text("That is not the console key.").count() == 1
        response = page.request.post("/console/jobs/x/cancel", form={"confirm": "yes"})
        assert response.status == 401
