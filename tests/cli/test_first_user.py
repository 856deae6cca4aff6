"""The `kiegen` command as a first user meets it: every mistake found before anything is submitted or charged,
named with its flag, and a wait that ends says why."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiegen.adapters.system import SystemClock
from kiegen.simulator.app import create_app, running_in_thread
from kiegen.simulator.engine import SimulatorConfig
from kiegen.simulator.png import PNG_MAGIC
from tests.cli.test_cli import kiegen


def _nothing_stored(cwd: Path) -> bool:
    return not (cwd / "kiegen.db").exists()


@pytest.mark.parametrize("out", ["taken.txt", "taken.txt/sub"], ids=["a-file", "under-a-file"])
def test_an_unusable_out_directory_exits_2_before_anything_is_submitted(tmp_path: Path, out: str) -> None:
    (tmp_path / "taken.txt").write_text("not a directory")
    done = kiegen("generate", "z-image", "--prompt", "a fox", "--out", out, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--out" in done.stderr and "Traceback" not in done.stderr
    assert _nothing_stored(tmp_path)


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"just some text, not an image\n", "not a JPEG, PNG or WEBP image"),
        (b"", "an empty file"),
        (PNG_MAGIC + os.urandom(11 * 1024 * 1024), "more than the 10 MB KIE takes"),
    ],
    ids=["text", "empty", "11-MB"],
)
def test_a_local_image_is_checked_by_its_bytes_and_size_before_upload(
    tmp_path: Path, content: bytes, says: str
) -> None:
    (tmp_path / "cat.png").write_bytes(content)
    done = kiegen("generate", "qwen/image-edit", "--prompt", "blue", "--image", "cat.png", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert "--image" in done.stderr and says in done.stderr
    assert _nothing_stored(tmp_path)


def test_a_jpeg_or_webp_passes_the_check(tmp_path: Path) -> None:
    (tmp_path / "a.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * 64)
    (tmp_path / "b.webp").write_bytes(b"RIFF\0\0\0\0WEBPVP8 " + b"\0" * 64)
    for name in ("a.jpg", "b.webp"):
        done = kiegen("generate", "qwen/image-edit", "--prompt", "blue", "--image", name, "--no-wait", cwd=tmp_path)
        assert done.returncode == 0, done.stderr


def test_an_ftp_image_is_named_an_unsupported_scheme(tmp_path: Path) -> None:
    done = kiegen(
        "generate", "qwen/image-edit", "--prompt", "b", "--image", "ftp://files.example.com/a.png", cwd=tmp_path
    )
    assert done.returncode == 2
    assert "ftp:// is not a supported scheme" in done.stderr and "no such file" not in done.stderr


@pytest.mark.parametrize(
    "verb", [("generate", "z-image", "--prompt", "x"), ("wait", "some-id")], ids=["generate", "wait"]
)
@pytest.mark.parametrize("timeout", ["-1", "0", "nan", "soon"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(
    tmp_path: Path, verb: tuple[str, ...], timeout: str
) -> None:
    done = kiegen(*verb, "--timeout", timeout, cwd=tmp_path)
    assert done.returncode == 2
    assert "--timeout" in done.stderr and "positive number of seconds" in done.stderr
    assert _nothing_stored(tmp_path)


def test_a_timed_out_generate_says_so_and_how_to_wait_again(tmp_path: Path) -> None:
    done = kiegen("generate", "z-image", "--prompt", "a fox", "--timeout", "0.2", cwd=tmp_path)
    assert done.returncode == 1
    [line] = [line for line in done.stderr.splitlines() if "timed out" in line]
    job_id = line.split("waiting for job ")[1].split()[0]
    assert f"`kiegen wait {job_id}`" in line and "no result" not in done.stderr


@pytest.fixture
def refusing_kie() -> Iterator[str]:
    app = create_app(
        clock=SystemClock(), config=SimulatorConfig(delay_s=0.5), api_key="test-key", faults=["createTask:body=402"]
    )
    with running_in_thread(app) as base:
        yield base


def test_wait_prints_why_a_job_failed(tmp_path: Path, refusing_kie: str) -> None:
    env = {"KIE_API_KEY": "test-key", "KIEGEN_KIE_BASE_URL": refusing_kie, "KIEGEN_KIE_UPLOAD_URL": refusing_kie}
    generated = kiegen("generate", "z-image", "--prompt", "x", "--json", cwd=tmp_path, env=env)
    job = json.loads(generated.stdout)
    assert job["status"] == "failed"
    waited = kiegen("wait", job["id"], cwd=tmp_path, env=env)
    assert waited.returncode == 1
    assert waited.stdout.strip() == f"{job['id']} failed: {job['error']['message']} (kie_402)"
    assert job["error"]["message"]
