"""The console's pages without a browser (httpx over ASGITransport, asyncio and trio): off by default, refused
without its key, escaping, redaction, CSRF, rate limits, headers, search, filters and both actions."""

from __future__ import annotations

import base64

import httpx
import pytest

from kiegen.apps.http.console.limits import Window
from kiegen.core.callbacks import callback_token
from kiegen.core.delivery import DeliveryStatus
from kiegen.core.jobs import JobStatus
from tests.console.conftest import CONSOLE_KEY, HTML, bearer, client_at, console_state, csrf_of, sign_in
from tests.http.conftest import AUTH, CALLBACK_SECRET, KEYS, Harness, serving

pytestmark = pytest.mark.anyio

HOSTILE = '<script>alert("owned")</script><img src=x onerror=alert(2)>'
PAGES = ["/console/", "/console/health", "/console/audit", "/console/jobs/some-job"]


def basic(password: str, user: str = "operator") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


async def finished(h: Harness, **body: object) -> str:
    response = await h.create(**body)
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    await h.until(lambda: _terminal(h, job_id), timeout=10)
    return job_id


async def _terminal(h: Harness, job_id: str) -> bool:
    job = await h.store.get(job_id)
    return job is not None and job.terminal


# off by default, and refused without the key


async def test_the_console_is_off_without_a_console_key() -> None:
    async with serving() as h:
        for path in ["/console/", "/console/login", "/console/jobs/x"]:
            response = await h.http.get(path, headers=bearer())
            assert response.status_code == 404
            assert "KIEGEN_CONSOLE_KEY" in response.text
        assert (await h.http.post("/console/login", data={"key": CONSOLE_KEY})).status_code == 404


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_refuses_a_request_without_the_key(console: Harness, path: str) -> None:
    response = await console.http.get(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    browser = await console.http.get(path, headers=HTML)
    assert browser.status_code == 303
    assert browser.headers["location"].startswith("/console/login?next=")


async def test_an_api_key_or_a_wrong_key_does_not_open_the_console(console: Harness) -> None:
    wrong = [AUTH, bearer(KEYS[1]), bearer(CONSOLE_KEY + "x"), basic(KEYS[0]), basic("nope"), basic("")]
    for n, headers in enumerate(wrong):
        async with client_at(console, f"192.0.2.{n + 1}") as http:  # one address each: under the login limit
            assert (await http.get("/console/", headers=headers)).status_code == 401, headers


async def test_bearer_and_basic_open_the_console_for_reading(console: Harness) -> None:
    job_id = await finished(console)
    for headers in [bearer(), basic(CONSOLE_KEY), basic(CONSOLE_KEY, user="")]:
        response = await console.http.get(f"/console/jobs/{job_id}", headers=headers)
        assert response.status_code == 200 and job_id in response.text


async def test_actions_refuse_requests_without_the_key_and_change_nothing(console: Harness) -> None:
    console.kie.configure(delay_s=30)
    job_id = (await console.create()).json()["id"]
    for headers in [{}, AUTH, basic("wrong")]:
        response = await console.http.post(f"/console/jobs/{job_id}/cancel", data={"confirm": "yes"}, headers=headers)
        assert response.status_code == 401
    assert (await console.job(job_id)).status is not JobStatus.CANCELLED


# escaping and secrets


async def test_a_hostile_prompt_is_shown_as_text_on_every_page(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    h, http = signed_in
    job_id = await finished(h, input={"prompt": HOSTILE})
    for path in ["/console/", f"/console/jobs/{job_id}", f"/console/jobs/{job_id}/cancel"]:
        text = (await http.get(path)).text
        assert "<script>" not in text and "<img src=x" not in text, path
    page = (await http.get(f"/console/jobs/{job_id}")).text
    assert "&lt;script&gt;alert(" in page and "&lt;img src=x onerror=alert(2)&gt;" in page
    searched = await http.get("/console/", params={"q": HOSTILE})
    assert searched.status_code == 404 and "<script>" not in searched.text and "&lt;script&gt;" in searched.text


async def test_no_callback_token_or_key_is_ever_rendered(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    h, http = signed_in
    secret_hook = "https://hooks.example.com/kiegen?token=caller-own-secret-123456&x=1"
    job_id = await finished(h, webhook_url=secret_hook)
    token = callback_token(CALLBACK_SECRET, job_id)
    # a callback whose body carries our callback URL (KIE echoes nothing like it today; it must not show if it did)
    leaky = f'{{"data": {{"taskId": "x", "callBackUrl": "{h.callback_url(job_id)}"}}}}'.encode()
    await h.http.post(h.callback_url(job_id), content=leaky)
    pages = [f"/console/jobs/{job_id}", "/console/", "/console/health", "/console/audit"]
    for path in pages:
        text = (await http.get(path)).text
        for secret in (token, "caller-own-secret-123456", CONSOLE_KEY, *KEYS):
            assert secret not in text, (path, secret)
    page = (await http.get(f"/console/jobs/{job_id}")).text
    assert "token=[redacted]" in page  # the callback body's URL, redacted
    assert "webhook https://hooks.example.com/kiegen (query hidden)" in page


# CSRF, origin and HTTP Basic


async def test_a_session_action_without_its_csrf_token_is_refused(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    h, http = signed_in
    h.kie.configure(delay_s=30)
    job_id = (await h.create()).json()["id"]
    confirm = await http.get(f"/console/jobs/{job_id}/cancel")
    for form in [{"confirm": "yes"}, {"confirm": "yes", "csrf": ""}, {"confirm": "yes", "csrf": "forged" * 8}]:
        response = await http.post(f"/console/jobs/{job_id}/cancel", data=form)
        assert response.status_code == 403 and "CSRF" in response.text
    cross_site = {"confirm": "yes", "csrf": csrf_of(confirm.text)}
    response = await http.post(
        f"/console/jobs/{job_id}/cancel", data=cross_site, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    response = await http.post(
        f"/console/jobs/{job_id}/cancel", data=cross_site, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert response.status_code == 403
    assert (await h.job(job_id)).status is not JobStatus.CANCELLED
    done = await http.post(f"/console/jobs/{job_id}/cancel", data=cross_site)
    assert done.status_code == 303 and done.headers["location"].endswith("?notice=cancelled")
    assert (await h.job(job_id)).status is JobStatus.CANCELLED


async def test_http_basic_reads_but_cannot_act(console: Harness) -> None:
    console.kie.configure(delay_s=30)
    job_id = (await console.create()).json()["id"]
    response = await console.http.post(
        f"/console/jobs/{job_id}/cancel", data={"confirm": "yes"}, headers=basic(CONSOLE_KEY)
    )
    assert response.status_code == 403 and "Bearer" in response.text
    assert (await console.job(job_id)).status is not JobStatus.CANCELLED


async def test_an_action_must_be_confirmed(console: Harness) -> None:
    console.kie.configure(delay_s=30)
    job_id = (await console.create()).json()["id"]
    response = await console.http.post(f"/console/jobs/{job_id}/cancel", data={}, headers=bearer())
    assert response.status_code == 400
    assert (await console.job(job_id)).status is not JobStatus.CANCELLED


# rate limits


async def test_wrong_keys_are_limited_per_address_even_for_the_right_key_after(console: Harness) -> None:
    async with client_at(console, "203.0.113.5") as guesser, client_at(console, "198.51.100.7") as other:
        for n in range(5):
            response = await sign_in(guesser, key=f"guess-{n:04d}-0123456789")
            assert response.status_code == 401
        blocked = await sign_in(guesser)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
        assert (await guesser.get("/console/", headers=bearer())).status_code == 429  # headers count too
        assert (await sign_in(other)).status_code == 303  # another address is not blocked


async def test_wrong_bearer_keys_spend_the_same_budget_as_the_form(console: Harness) -> None:
    async with client_at(console, "203.0.113.9") as guesser:
        for _ in range(5):
            assert (await guesser.get("/console/", headers=bearer("wrong-key-0123456789"))).status_code == 401
        assert (await sign_in(guesser)).status_code == 429


async def test_wrong_keys_from_many_addresses_share_one_budget(console: Harness) -> None:
    state = console_state(console)
    state.all_login_failures = Window(3, 60.0)
    for n in range(3):
        async with client_at(console, f"192.0.2.{n + 1}") as guesser:
            assert (await sign_in(guesser, key="not-the-key-0123456789")).status_code == 401
    async with client_at(console, "192.0.2.200") as fresh:
        assert (await sign_in(fresh)).status_code == 429


async def test_console_requests_are_limited_per_address(console: Harness) -> None:
    console_state(console).requests = Window(3, 60.0)
    statuses = [(await console.http.get("/console/health", headers=bearer())).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]


# headers, cookie, login redirect


async def test_console_pages_carry_a_strict_policy_and_a_strict_cookie(console: Harness) -> None:
    async with client_at(console, "10.0.0.1") as http:
        login = await http.get("/console/login")
        assert login.headers["content-security-policy"].startswith("default-src 'none'")
        assert "script-src" not in login.headers["content-security-policy"]  # no script may run at all
        assert login.headers["x-frame-options"] == "DENY"
        assert login.headers["referrer-policy"] == "same-origin"
        assert login.headers["cache-control"] == "no-store"
        response = await sign_in(http)
        cookie = response.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
        assert CONSOLE_KEY.lower() not in cookie


async def test_signing_in_never_redirects_off_the_console(console: Harness) -> None:
    for n, target in enumerate(["https://evil.example/", "//evil.example/", "/\\evil.example", "/v1/generations"]):
        async with client_at(console, f"10.0.1.{n}") as http:
            form = await http.get("/console/login")
            response = await http.post(
                "/console/login", data={"key": CONSOLE_KEY, "csrf": csrf_of(form.text), "next": target}
            )
            assert response.status_code == 303 and response.headers["location"] == "/console/", target
    async with client_at(console, "10.0.1.99") as http:
        form = await http.get("/console/login?next=/console/health")
        response = await http.post(
            "/console/login", data={"key": CONSOLE_KEY, "csrf": csrf_of(form.text), "next": "/console/health"}
        )
        assert response.headers["location"] == "/console/health"


# search, filters, pages


async def test_a_job_is_found_by_its_id_or_its_task_id(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    h, http = signed_in
    job_id = await finished(h)
    task_id = (await h.job(job_id)).task_id
    for q in (job_id, task_id, f"  {task_id} "):
        response = await http.get("/console/", params={"q": q})
        assert response.status_code == 303 and response.headers["location"] == f"/console/jobs/{job_id}"
    missing = await http.get("/console/", params={"q": "no-such-task"})
    assert missing.status_code == 404 and "no-such-task" in missing.text


async def test_bad_filters_are_named_with_their_fix(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    _, http = signed_in
    response = await http.get("/console/", params={"status": "bogus", "from": "yesterday", "telegram": "abc"})
    assert response.status_code == 400
    assert "status: &#39;bogus&#39; is not a status" in response.text
    assert "from: &#39;yesterday&#39; is not a time" in response.text
    assert "telegram: &#39;abc&#39; is not a Telegram user id" in response.text


async def test_the_list_filters_by_status_and_pages_newest_first(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    h, http = signed_in
    console_state(h).page_size = 2
    ids = [await finished(h) for _ in range(3)]
    first = await http.get("/console/", params={"status": "succeeded"})
    assert first.status_code == 200
    assert ids[2] in first.text and ids[1] in first.text and ids[0] not in first.text
    [older] = [part.replace("&amp;", "&") for part in first.text.split('"') if "before=" in part]
    assert "status=succeeded" in older  # the next page keeps the filters
    second = await http.get(older)
    assert ids[0] in second.text and ids[1] not in second.text and ids[2] not in second.text
    assert "before=" not in second.text  # the last page


async def test_unknown_job_and_unknown_page_answer_404(signed_in: tuple[Harness, httpx.AsyncClient]) -> None:
    _, http = signed_in
    assert (await http.get("/console/jobs/nope")).status_code == 404
    assert (await http.get("/console/jobs/%00")).status_code == 404
    assert (await http.get("/console/", params={"q": "a\x00b", "model": "\x00"})).status_code == 404
    assert (await http.get("/console/nowhere")).status_code == 404


# actions


async def test_a_gone_delivery_is_retried_and_both_are_in_the_story_and_the_audit_log(console: Harness) -> None:
    console.receiver.status = 410
    job_id = await finished(console, webhook_url="https://hooks.example.com/kiegen")
    await console.until(lambda: _delivery_is(console, job_id, DeliveryStatus.GONE))
    page = (await console.http.get(f"/console/jobs/{job_id}", headers=bearer())).text
    assert "answered 410 Gone" in page and "Retry…" in page

    console.receiver.status = 200
    delivery = f"{job_id}:succeeded"
    response = await console.http.post(
        f"/console/jobs/{job_id}/retry", data={"confirm": "yes", "delivery": delivery}, headers=bearer()
    )
    assert response.status_code == 303 and response.headers["location"].endswith("?notice=retried")
    await console.until(lambda: _delivery_is(console, job_id, DeliveryStatus.SENT))
    assert console.receiver.count(job_id) == 2  # refused once, then delivered

    again = await console.http.post(
        f"/console/jobs/{job_id}/retry", data={"confirm": "yes", "delivery": delivery}, headers=bearer()
    )
    assert again.headers["location"].endswith("?notice=not_retried")  # a sent delivery is not sent again
    page = (await console.http.get(f"/console/jobs/{job_id}", headers=bearer())).text
    assert "Operator: retry_delivery" in page and "Delivery attempt 2: sent" in page
    audit = (await console.http.get("/console/audit", headers=bearer())).text
    assert "retry_delivery" in audit and "refused: the delivery is sent" in audit


async def test_cancelling_a_running_job_follows_the_cancel_rule_and_is_audited(console: Harness) -> None:
    console.kie.configure(delay_s=30)
    job_id = (await console.create()).json()["id"]
    confirm = await console.http.get(f"/console/jobs/{job_id}/cancel", headers=bearer())
    assert "Yes, cancel this job" in confirm.text
    response = await console.http.post(f"/console/jobs/{job_id}/cancel", data={"confirm": "yes"}, headers=bearer())
    assert response.status_code == 303
    job = await console.job(job_id)
    assert job.status is JobStatus.CANCELLED
    assert await console.store.deliveries_for(job_id) == []  # nothing delivered for a cancelled job
    events = await console.store.events_for(job_id)
    assert events[-1].detail["to"] == "cancelled" and events[-1].detail["source"] == "operator"
    again = await console.http.post(f"/console/jobs/{job_id}/cancel", data={"confirm": "yes"}, headers=bearer())
    assert again.headers["location"].endswith("?notice=not_cancelled")
    [refused, done] = await console_state(console).queries.audit_log(job_id=job_id)
    assert (done.action, done.outcome) == ("cancel", "done")
    assert refused.outcome.startswith("refused: the job had already ended")
    assert done.actor.startswith("console:") and CONSOLE_KEY not in done.actor


async def _delivery_is(h: Harness, job_id: str, status: DeliveryStatus) -> bool:
    return any(d.status is status for d in await h.store.deliveries_for(job_id))


async def test_a_running_jobs_page_says_where_it_is_and_what_happens_next(console: Harness) -> None:
    console.kie.configure(delay_s=30)
    job_id = (await console.create()).json()["id"]
    await console.until(lambda: _is_submitted(console, job_id))
    job = await console.job(job_id)
    page = (await console.http.get(f"/console/jobs/{job_id}", headers=bearer())).text
    assert f"At KIE as task {job.task_id}, submitted" in page
    assert "Deadline" in page and "Cancel job…" in page


async def _is_submitted(h: Harness, job_id: str) -> bool:
    job = await h.store.get(job_id)
    return job is not None and job.task_id is not None
