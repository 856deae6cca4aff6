"""Result downloads: real images only, within a size cap and a timeout, never from where they must not come."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from kiegen.adapters.httpkit import SNIFF_BYTES, sniff_image, sniff_media, sniff_video
from kiegen.adapters.kie_httpx import download
from kiegen.adapters.kie_httpx.download import DownloadedFile, download_results
from kiegen.adapters.memory import FakeClock
from kiegen.core.errors import DownloadFailed, KieError, UnsafeURL
from kiegen.simulator.app import SimulatorApp
from kiegen.simulator.engine import SimulatedKie, SimulatorConfig
from kiegen.simulator.png import make_png
from kiegen.simulator.video import make_mp4

pytestmark = pytest.mark.anyio

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 100
WEBP = b"RIFF\x10\0\0\0WEBPVP8 " + b"\0" * 100


async def public_dns(host: str, port: int) -> list[str]:
    return ["93.184.216.34"]


async def private_dns(host: str, port: int) -> list[str]:
    return ["93.184.216.34", "10.1.2.3"]


async def download_image(client: httpx.AsyncClient, url: str, directory: Path, **options: Any) -> DownloadedFile:
    """The helper under test, with a resolver that needs no network (unless the test picks its own)."""
    options.setdefault("resolver", public_dns)
    return await download.download_image(client, url, directory, **options)


def files_in(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def serving(
    body: bytes | None = None, *, status: int = 200, headers: dict[str, str] | None = None
) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=body, headers=headers)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def test_image_types_are_told_by_their_magic_bytes() -> None:
    assert [sniff_image(b) for b in (make_png("x"), JPEG, WEBP, b"<html>", b"RIFF\0\0\0\0WAVE")] == [
        "png",
        "jpeg",
        "webp",
        None,
        None,
    ]


async def test_simulator_results_are_downloaded_as_pngs(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=1.0))
    app = SimulatorApp(engine, public_url="http://kie.test")
    task_id = await engine.create_task("qwen/image-edit", {"prompt": "x", "num_images": "2"}, callback_url=None)
    await clock.advance(1)
    urls = (await engine.get_task(task_id)).result_urls
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client:
        files = await download_results(client, urls, tmp_path / "out", stem="job-1", allow_private=True)
    assert [f.path.name for f in files] == ["job-1-0.png", "job-1-1.png"]
    assert [f.path.read_bytes() for f in files] == [make_png(f"{task_id}:0"), make_png(f"{task_id}:1")]
    assert files_in(tmp_path / "out") == ["job-1-0.png", "job-1-1.png"]


@pytest.mark.parametrize(("body", "kind"), [(JPEG, "jpeg"), (WEBP, "webp")])
async def test_the_extension_follows_the_content_not_the_url(tmp_path: Path, body: bytes, kind: str) -> None:
    result = await download_image(
        serving(body, headers={"Content-Type": "image/png"}), "https://f.test/a.png", tmp_path, stem="r"
    )
    assert (result.path, result.kind, result.size) == (tmp_path / f"r.{kind}", kind, len(body))


async def test_a_non_image_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="not a PNG, JPEG or WEBP"):
        await download_image(serving(b"<html>login</html>"), "https://f.test/a.png", tmp_path, stem="r")
    assert files_in(tmp_path) == []


async def test_a_declared_size_over_the_cap_is_refused(tmp_path: Path) -> None:
    client = serving(make_png("big"))
    with pytest.raises(DownloadFailed, match="cap") as caught:
        await download_image(client, "https://f.test/a.png", tmp_path, stem="r", max_bytes=100)
    assert caught.value.retryable is False


# A download cut off early leaves httpx's internal stream generators unexhausted (httpx offers no way to close
# them from outside); trio reports each as a ResourceWarning when it is collected. Collected here, ignored here.
CUT_OFF_STREAMS = pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <async_generator object:pytest.PytestUnraisableExceptionWarning"
)


@CUT_OFF_STREAMS
async def test_an_undeclared_stream_over_the_cap_is_cut_off(tmp_path: Path) -> None:
    chunks_sent = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal chunks_sent
        yield make_png("x")[:8]
        while True:
            chunks_sent += 1
            yield b"\0" * 1024

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless())

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(DownloadFailed, match="cap"):
        await download_image(client, "https://f.test/a.png", tmp_path, stem="r", max_bytes=10_000)
    assert chunks_sent < 12
    assert files_in(tmp_path) == []
    gc.collect()


@CUT_OFF_STREAMS
async def test_a_slow_server_ends_at_the_timeout(tmp_path: Path) -> None:
    async def trickle() -> AsyncIterator[bytes]:
        yield make_png("x")[:8]
        await anyio.sleep(30)
        yield b""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=trickle())

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with anyio.fail_after(2), pytest.raises(DownloadFailed, match=r"within 0\.1 s") as caught:
        await download_image(client, "https://f.test/a.png", tmp_path, stem="r", timeout=0.1)
    assert caught.value.retryable
    gc.collect()


@pytest.mark.parametrize(("status", "retryable"), [(403, False), (404, False), (410, False), (429, True), (503, True)])
async def test_a_cdn_refusal_is_a_download_failure_naming_host_and_status_not_a_kie_error(
    tmp_path: Path, status: int, retryable: bool
) -> None:
    with pytest.raises(DownloadFailed) as caught:
        await download_image(serving(b"", status=status), "https://file.cdn.test/a.png?sig=s3cr3t", tmp_path, stem="r")
    failure = caught.value
    assert not isinstance(failure, KieError)  # a CDN saying no is not KIE saying no
    assert (failure.host, failure.status, failure.retryable) == ("file.cdn.test", status, retryable)
    assert f"file.cdn.test answered HTTP {status}" in failure.message and "s3cr3t" not in failure.message


async def test_every_download_names_kiegen_in_its_user_agent(tmp_path: Path) -> None:
    agents: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        agents.append(request.headers["User-Agent"])
        return httpx.Response(200, content=make_png("x"))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    await download_image(client, "https://f.test/a.png", tmp_path, stem="a")
    await download_image(client, "https://f.test/b.png", tmp_path, stem="b", user_agent="acme-bot/2 (ops@acme.test)")
    assert agents[0].startswith("kiegen/") and agents[1] == "acme-bot/2 (ops@acme.test)"


@pytest.mark.parametrize(
    "url", ["https://f.test/a\tb.png", "https://f.test/a\r\nb.png", "https://f.test/" + "a" * 70_000, "http://[::1"]
)
async def test_a_url_the_http_client_cannot_send_is_a_kiegen_error(tmp_path: Path, url: str) -> None:
    with pytest.raises((UnsafeURL, DownloadFailed)):
        await download_image(serving(make_png("x")), url, tmp_path, stem="r")


@pytest.mark.parametrize(
    "url", ["file:///etc/passwd", "http://127.0.0.1:8080/a.png", "http://localhost/a.png", "http://[::1]/a.png"]
)
async def test_unsafe_urls_are_refused_before_any_request(tmp_path: Path, url: str) -> None:
    requests: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=make_png("x"))

    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    with pytest.raises(UnsafeURL):
        await download_image(client, url, tmp_path, stem="r")
    assert requests == []


async def test_private_addresses_are_allowed_when_asked(tmp_path: Path) -> None:
    result = await download_image(
        serving(make_png("x")), "http://127.0.0.1:8080/a.png", tmp_path, stem="r", allow_private=True
    )
    assert result.kind == "png"


async def test_a_stem_cannot_escape_the_directory(tmp_path: Path) -> None:
    result = await download_image(serving(make_png("x")), "https://f.test/a.png", tmp_path, stem="../../etc/x")
    assert result.path.parent == tmp_path


async def test_a_host_resolving_to_a_private_address_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UnsafeURL, match="resolves to a private"):
        await download_image(
            serving(make_png("x")), "https://rebind.test/a.png", tmp_path, stem="r", resolver=private_dns
        )


MP4 = make_mp4("x")
MOV = b"\0\0\0\x14ftypqt  \0\0\x02\0qt  " + b"\0" * 40
WEBM = bytes.fromhex("1a45dfa3 9f 4286 81 01 42f7 81 01 42f2 81 04 42f3 81 08 4282 84") + b"webm" + b"\0" * 30
MKV = bytes.fromhex("1a45dfa3 a3 4286 81 01 42f7 81 01 42f2 81 04 42f3 81 08 4282 88") + b"matroska" + b"\0" * 30
HEIC = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic" + b"\0" * 40
M4A = b"\0\0\0\x18ftypM4A \0\0\0\0M4A isom" + b"\0" * 40


def test_video_containers_are_told_by_their_magic_bytes_and_stills_in_the_same_container_are_not() -> None:
    samples = (MP4, MOV, WEBM, MKV, HEIC, M4A, b"\0\0\0\x04ftypisom", make_png("x"), b"<html>")
    assert [sniff_video(b[:SNIFF_BYTES]) for b in samples] == [
        "mp4",
        "mov",
        "webm",
        "mkv",
        None,
        None,
        None,
        None,
        None,
    ]
    assert [sniff_media(b[:SNIFF_BYTES]) for b in (make_png("x"), JPEG, MP4, WEBM, HEIC)] == [
        "png",
        "jpeg",
        "mp4",
        "webm",
        None,
    ]


async def test_a_video_result_is_saved_with_its_container_as_extension(tmp_path: Path) -> None:
    client = serving(MP4, headers={"Content-Type": "application/octet-stream"})
    saved = await download_image(client, "https://tempfile.example/v", tmp_path, stem="clip")

    assert (saved.kind, saved.path.name, saved.size) == ("mp4", "clip.mp4", len(MP4))
    assert saved.path.read_bytes() == MP4


async def test_a_body_that_is_neither_image_nor_video_is_refused_and_nothing_is_written(tmp_path: Path) -> None:
    with pytest.raises(DownloadFailed, match="nor an MP4, MOV or WebM video"):
        await download_image(serving(HEIC), "https://tempfile.example/v", tmp_path, stem="clip")

    assert files_in(tmp_path) == []


async def test_a_simulated_video_model_serves_a_real_mp4(tmp_path: Path) -> None:
    clock = FakeClock()
    engine = SimulatedKie(clock, SimulatorConfig(delay_s=1.0, video_models=frozenset({"kling-2.6/text-to-video"})))
    app = SimulatorApp(engine, public_url="http://kie.test")
    task_id = await engine.create_task("kling-2.6/text-to-video", {"prompt": "x", "num_images": "3"}, callback_url=None)
    await clock.advance(2)
    (url,) = (await engine.get_task(task_id)).result_urls
    assert url.endswith(f"/results/{task_id}/0.mp4")

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://kie.test") as client:
        assert (await client.get(f"/results/{task_id}/0.png")).status_code == 404
        saved = await download_image(client, url, tmp_path, stem="v", allow_private=True)

    body = saved.path.read_bytes()
    assert saved.kind == "mp4"
    assert body[4:8] == b"ftyp" and b"moov" in body and b"mdat" in body
    assert body.endswith(f"free{task_id}:0".encode())
