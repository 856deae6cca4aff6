"""Who may change a job (callback trust), and what happens when createTask does not simply succeed."""

from __future__ import annotations

import json

import pytest

from kiegen import JobStatus, QuotaExceeded
from kiegen.adapters.memory import SimulatorConfig
from kiegen.core.callbacks import callback_token, kie_signature
from kiegen.core.errors import KieOutOfCredits, KieRateLimited, KieTransportError
from kiegen.services import Config
from kiegen.simulator.engine import CallbackMode
from tests.services.conftest import Kit, make_config

pytestmark = pytest.mark.anyio

LOST = SimulatorConfig(delay_s=5, callbacks=CallbackMode.LOST)


def success_body(task_id: str, url: str = "https://cdn.test/evil.png") -> bytes:
    data = {"taskId": task_id, "state": "success", "resultJson": json.dumps({"resultUrls": [url]})}
    return json.dumps({"code": 200, "msg": "success", "data": data}).encode()


def url_for(kit: Kit, job_id: str, token: str | None = None) -> str:
    token = token if token is not None else callback_token(kit.client.ctx.config.callback_secret, job_id)
    return f"{kit.client.ctx.config.public_url}/callbacks/kie/{job_id}?token={token}"


@pytest.mark.parametrize("sim_config", [LOST])
async def test_forged_callbacks_change_nothing(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    forged = success_body(job.task_id)

    wrong_token = await kit.client.receive_callback(url_for(kit, job.id, token="not-the-token"), forged)
    no_token = await kit.client.receive_callback(f"{kit.client.ctx.config.public_url}/callbacks/kie/{job.id}", forged)
    other_job = await kit.client.receive_callback(url_for(kit, "someone-elses-job"), forged)

    assert (wrong_token.status, no_token.status, other_job.status) == (403, 403, 404)
    stored = await kit.store.get(job.id)
    assert stored is not None and stored.status is JobStatus.SUBMITTED and stored.version == job.version
    assert await kit.store.callbacks_for(job.id) == []


@pytest.mark.parametrize("sim_config", [LOST])
async def test_a_bare_callback_is_only_a_hint_to_check_with_kie(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    await kit.clock.advance(6)  # the task has really finished at KIE

    result = await kit.client.receive_callback(
        f"{kit.client.ctx.config.public_url}/callbacks/kie", success_body(job.task_id)
    )
    await kit.clock.advance(1)

    assert result.status == 202
    done = await kit.store.get(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.result_urls != ("https://cdn.test/evil.png",)  # the body was not believed; KIE was asked
    assert kit.kie.calls["get_task"] == 1


@pytest.mark.parametrize("sim_config", [LOST])
async def test_a_valid_token_with_another_task_id_is_only_a_hint(kit: Kit) -> None:
    job = await kit.submit()
    result = await kit.client.receive_callback(url_for(kit, job.id), success_body("some-other-task"))
    stored = await kit.store.get(job.id)
    assert result.status == 200
    assert stored is not None and stored.status is JobStatus.SUBMITTED
    assert stored.next_check_at == kit.clock.now()


@pytest.mark.parametrize("sim_config", [LOST])
@pytest.mark.parametrize("config", [make_config(allowed_result_hosts=frozenset({"kie-simulator.invalid"}))])
async def test_result_urls_on_hosts_not_allowed_are_not_believed(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    result = await kit.client.receive_callback(url_for(kit, job.id), success_body(job.task_id))
    stored = await kit.store.get(job.id)
    assert result.status == 200
    assert stored is not None and stored.status is JobStatus.SUBMITTED


def signed(task_id: str, at: int, key: bytes = b"kie-key") -> dict[str, str]:
    return {"X-Webhook-Timestamp": str(at), "X-Webhook-Signature": kie_signature(key, task_id, at)}


@pytest.mark.parametrize("sim_config", [LOST])
@pytest.mark.parametrize("config", [make_config(kie_hmac_key=b"kie-key")])
async def test_a_kie_signed_callback_on_the_bare_path_is_authenticated_and_confirmed_with_kie(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    now = int(kit.clock.now().timestamp())
    bare = f"{kit.client.ctx.config.public_url}/callbacks/kie"

    refused = await kit.client.receive_callback(bare, success_body(job.task_id), signed(job.task_id, now - 301))
    assert refused.status == 202  # outside the window: a hint only
    accepted = await kit.client.receive_callback(bare, success_body(job.task_id), signed(job.task_id, now))
    assert (accepted.status, accepted.outcome.value) == (200, "hint")  # authenticated, so KIE does not retry

    await kit.clock.advance(20, step=1)  # the task really finishes at KIE; a check confirms it
    done = await kit.store.get(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert done.result_urls == kit.kie.result_urls(kit.kie.tasks[job.task_id])


@pytest.mark.parametrize("sim_config", [LOST])
@pytest.mark.parametrize("config", [make_config(kie_hmac_key=b"kie-key", allowed_result_hosts=None)])
async def test_signed_headers_replayed_on_a_crafted_success_body_do_not_complete_the_job(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    headers = signed(job.task_id, int(kit.clock.now().timestamp()))  # from a genuine progress callback
    bare = f"{kit.client.ctx.config.public_url}/callbacks/kie"
    progress = json.dumps({"code": 200, "data": {"taskId": job.task_id, "state": "generating"}}).encode()
    assert (await kit.client.receive_callback(bare, progress, headers)).outcome.value == "applied"

    crafted = success_body(job.task_id, "http://cdn.attacker.example/latest/meta-data")
    result = await kit.client.receive_callback(bare, crafted, headers)  # replayed within 300 s

    stored = await kit.store.get(job.id)
    assert result.status == 200
    assert stored is not None and stored.status is JobStatus.RUNNING and stored.result_urls == ()
    assert stored.next_check_at == kit.clock.now()  # KIE is asked instead
    await kit.clock.advance(20, step=1)
    done = await kit.store.get(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED
    assert "attacker" not in " ".join(done.result_urls)


@pytest.mark.parametrize("sim_config", [LOST])
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/x.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::ffff:127.0.0.1]/x.png",
        "http://2130706433/x.png",
        "http://localhost./x.png",
        "https://cdn.elsewhere.example/x.png",
    ],
)
async def test_by_default_a_token_callback_with_result_urls_off_kies_hosts_is_only_a_hint(kit: Kit, url: str) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    result = await kit.client.receive_callback(url_for(kit, job.id), success_body(job.task_id, url))
    stored = await kit.store.get(job.id)
    assert (result.status, result.outcome.value) == (200, "hint")
    assert stored is not None and stored.status is JobStatus.SUBMITTED and stored.next_check_at == kit.clock.now()


@pytest.mark.parametrize("sim_config", [LOST])
async def test_by_default_result_urls_on_kies_file_hosts_are_applied(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    url = "https://tempfile.aiquickdraw.com/s/1786791208_e101c9d8.png"
    result = await kit.client.receive_callback(url_for(kit, job.id), success_body(job.task_id, url))
    stored = await kit.store.get(job.id)
    assert result.outcome.value == "applied" and stored is not None and stored.result_urls == (url,)


@pytest.mark.parametrize("sim_config", [LOST])
@pytest.mark.parametrize("config", [make_config(kie_hmac_key=b"kie-key")])
async def test_a_signed_callback_in_the_docs_verification_shape_means_check_this_task_now(kit: Kit) -> None:
    job = await kit.submit()
    assert job.task_id is not None
    await kit.clock.advance(6)  # finished at KIE; the lost callback never came
    bare = f"{kit.client.ctx.config.public_url}/callbacks/kie"
    sample = {
        "code": 200,
        "msg": "success",
        "taskId": job.task_id,
        "data": {"task_id": job.task_id, "callbackType": "complete"},
    }
    result = await kit.client.receive_callback(
        bare, json.dumps(sample).encode(), signed(job.task_id, int(kit.clock.now().timestamp()))
    )
    assert (result.status, result.outcome.value) == (200, "hint")
    stored = await kit.store.get(job.id)
    assert stored is not None and stored.next_check_at == kit.clock.now()  # before: ignored, no check
    await kit.clock.advance(1)
    done = await kit.store.get(job.id)
    assert done is not None and done.status is JobStatus.SUCCEEDED


async def test_a_definite_refusal_fails_the_job_releases_credits_and_tells_the_user(kit: Kit) -> None:
    from kiegen.core.billing import topup

    await kit.store.add_entry(topup("carol", 5, key="t1", at=kit.clock.now()))
    kit.kie.fail_create(KieOutOfCredits("KIE account is empty", code=402))

    job = await kit.submit("qwen/image-edit", {"prompt": "p", "image_url": "https://x.test/a.png"}, user_id="carol")
    await kit.settle()

    assert job.status is JobStatus.FAILED and job.error_code == "kie_402"
    assert await kit.store.balance("carol") == 5
    assert [j.status for j in kit.messenger.sent_to("test:alice")] == [JobStatus.FAILED]


@pytest.mark.parametrize("sim_config", [LOST])
async def test_an_ambiguous_create_task_is_submitted_again_once_and_delivered_once(kit: Kit) -> None:
    kit.kie.fail_create(KieTransportError("read timeout after sending", sent=True))

    job = await kit.submit()
    assert job.status is JobStatus.PENDING and job.task_id is None

    await kit.clock.advance(60 + 12 + 6, step=1)

    done = await kit.client.wait(job.id)
    await kit.settle()
    assert done.status is JobStatus.SUCCEEDED
    assert kit.kie.calls["create_task"] == 2
    assert kit.messenger.count(job.id) == 1


async def test_a_rate_limited_create_task_is_retried_after_retry_after(kit: Kit) -> None:
    kit.kie.fail_create(KieRateLimited("slow down", retry_after=3))

    job = await kit.submit()
    assert job.status is JobStatus.PENDING
    await kit.clock.advance(3 + 5 + 1, step=1)

    done = await kit.client.wait(job.id)
    assert done.status is JobStatus.SUCCEEDED
    assert kit.kie.calls["create_task"] == 2


async def test_submission_attempts_are_bounded(kit: Kit) -> None:
    kit.kie.fail_create(*[KieTransportError("timeout", sent=True) for _ in range(5)])

    job = await kit.submit()
    await kit.clock.advance(130, step=5)

    done = await kit.client.wait(job.id)
    assert done.status is JobStatus.TIMED_OUT and done.error_code == "submit_failed"
    assert kit.kie.calls["create_task"] == 2


async def test_the_same_idempotency_key_returns_the_same_job(kit: Kit) -> None:
    first = await kit.submit(user_id="dave", idempotency_key="k-1")
    second = await kit.submit(user_id="dave", idempotency_key="k-1")
    assert first.id == second.id
    assert kit.kie.calls["create_task"] == 1


@pytest.mark.parametrize("config", [make_config(free_quota=2)])
async def test_the_daily_free_quota_is_enforced(kit: Kit) -> None:
    await kit.submit(user_id="erin")
    await kit.submit(user_id="erin")
    with pytest.raises(QuotaExceeded):
        await kit.submit(user_id="erin")
    assert len(await kit.store.list_jobs(user_id="erin")) == 2


def test_callback_urls_carry_the_job_id_and_its_token() -> None:
    config = Config(public_url="https://bot.example.com/", callback_secret=b"s")
    url = config.callback_url("job-1")
    assert url == f"https://bot.example.com/callbacks/kie/job-1?token={callback_token(b's', 'job-1')}"
    assert Config().callback_url("job-1") is None
