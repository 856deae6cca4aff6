"""The `kiegen` command through its real entry point, in a fresh working directory each time."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiegen.adapters.system import SystemClock
from kiegen.simulator.app import create_app, running_in_thread
from kiegen.simulator.engine import SimulatorConfig
from kiegen.simulator.png import PNG_MAGIC

ENV_NAMES = [
    "KIE_API_KEY",
    "KIEGEN_KIE_BASE_URL",
    "KIEGEN_KIE_UPLOAD_URL",
    "KIEGEN_DATABASE_URL",
    "KIEGEN_PUBLIC_URL",
    "KIEGEN_CALLBACK_SECRET",
]


def kiegen(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 90
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    return subprocess.run(
        [sys.executable, "-m", "kiegen", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


INPUT_KEYS = {
    "name",
    "type",
    "required",
    "enum",
    "min",
    "max",
    "min_length",
    "max_length",
    "min_items",
    "max_items",
    "default",
    "description",
}


def test_models_json_lists_the_catalogue_with_the_four_free_models_and_their_documented_inputs(
    tmp_path: Path,
) -> None:
    done = kiegen("models", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    models = {m["id"]: m for m in json.loads(done.stdout)}
    assert {m for m, spec in models.items() if spec["price"] == 0} == {
        "z-image",
        "qwen/text-to-image",
        "qwen/image-to-image",
        "qwen/image-edit",
    }
    assert len(models) > 70 and {"google/nano-banana-edit", "kling-2.6/text-to-video"} <= set(models)
    for model in models.values():
        assert set(model) == {
            "id",
            "title",
            "kind",
            "media",
            "description",
            "price",
            "kie_credits",
            "deadline_s",
            "docs",
            "enabled",
            "inputs",
        }
        for spec in model["inputs"]:
            assert set(spec) == INPUT_KEYS
    edit = {i["name"]: i for i in models["qwen/image-edit"]["inputs"]}
    assert edit["prompt"]["max_length"] == 2000
    assert (edit["num_inference_steps"]["min"], edit["num_inference_steps"]["max"]) == (2, 49)
    assert edit["num_images"]["enum"] == ["1", "2", "3", "4"]
    assert edit["image_url"]["required"] is True
    zimage = {i["name"]: i for i in models["z-image"]["inputs"]}
    assert zimage["aspect_ratio"] == {
        "name": "aspect_ratio",
        "type": "enum",
        "required": True,
        "enum": ["1:1", "4:3", "3:4", "16:9", "9:16"],
        "min": None,
        "max": None,
        "min_length": None,
        "max_length": None,
        "min_items": None,
        "max_items": None,
        "default": "1:1",
        "description": zimage["aspect_ratio"]["description"],
    }
    photos = {i["name"]: i for i in models["google/nano-banana-edit"]["inputs"]}["image_urls"]
    assert (photos["type"], photos["required"], photos["max_items"]) == ("url_list", True, 10)
    assert models["kling-2.6/text-to-video"]["media"] == "video"


def test_models_groups_by_kind_and_prices_shows_cost_price_and_margin(tmp_path: Path) -> None:
    listed = kiegen("models", cwd=tmp_path, env={"KIEGEN_PRICES": "google/nano-banana=80"})
    priced = kiegen("models", "--prices", cwd=tmp_path, env={"KIEGEN_PRICE_MARKUP": "2"})

    assert listed.returncode == 0 and priced.returncode == 0, listed.stderr + priced.stderr
    headers = [line for line in listed.stdout.splitlines() if line.startswith("== ")]
    assert [h.split()[1] for h in headers] == [
        "text-to-image",
        "image-to-image",
        "edit",
        "upscale",
        "text-to-video",
        "image-to-video",
    ]
    assert "google/nano-banana  (Nano Banana: KIE <=50* credits, price 80 credits)" in listed.stdout
    rows = {line.split()[0]: line.split() for line in priced.stdout.splitlines()[1:] if line and line[0] != "*"}
    assert rows["z-image"][3] == "free"
    assert rows["google/nano-banana"][2:] == ["<=50*", "100", ">=50*"]  # ceil(50 x 2); margin at least 50
    assert rows["kling-2.6/text-to-video"][2:] == ["<=500*", "1000", ">=500*"]


def test_models_enabled_lists_what_the_bot_offers(tmp_path: Path) -> None:
    env = {"KIEGEN_MODELS_ENABLED": "z-image, google/nano-banana"}

    done = kiegen("models", "--json", "--enabled", cwd=tmp_path, env=env)
    wrong = kiegen("models", cwd=tmp_path, env={"KIEGEN_MODELS_ENABLED": "google/nano-banan"})

    assert [m["id"] for m in json.loads(done.stdout)] == ["z-image", "google/nano-banana"]
    assert wrong.returncode == 2
    assert "google/nano-banan (did you mean google/nano-banana?)" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def test_generate_saves_a_png_with_no_account(tmp_path: Path) -> None:
    done = kiegen("generate", "z-image", "--prompt", "a red fox in the snow", "--out", "out", "--json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "built-in KIE simulator" in done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= {"id", "model", "status", "task_id", "result_urls", "files", "error"}
    assert result["status"] == "succeeded" and result["error"] is None
    [saved] = result["files"]
    assert (tmp_path / saved).read_bytes().startswith(PNG_MAGIC)
    assert (tmp_path / "kiegen.db").exists()  # the embedded default store

    listed = kiegen("jobs", "list", "--json", cwd=tmp_path)
    assert [j["id"] for j in json.loads(listed.stdout)] == [result["id"]]
    shown = kiegen("jobs", "show", result["id"], "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["status"] == "succeeded"
    text = kiegen("jobs", "show", result["id"], cwd=tmp_path).stdout
    assert any(line.startswith("delivery") and line.endswith("sent (attempt 1)") for line in text.splitlines()), text


def test_generate_with_a_local_image_uploads_it_first(tmp_path: Path) -> None:
    (tmp_path / "cat.png").write_bytes(PNG_MAGIC + b"\0" * 64)
    done = kiegen(
        "generate",
        "qwen/image-edit",
        "--prompt",
        "make it blue",
        "--image",
        "cat.png",
        "--set",
        "num_images=2",
        "--json",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["input"]["image_url"].startswith("https://kie-simulator.invalid/uploads/")
    assert len(result["files"]) == 2


def test_generate_sends_several_local_images_to_a_model_that_takes_a_list(tmp_path: Path) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(PNG_MAGIC + b"\0" * 64)

    done = kiegen(
        "generate", "google/nano-banana-edit", "--prompt", "both on a beach", "--image", "a.png", "--image", "b.png",
        "--json", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    photos = result["input"]["image_urls"]
    assert len(photos) == 2 and len(set(photos)) == 2
    assert all(url.startswith("https://kie-simulator.invalid/uploads/") for url in photos)
    assert result["raw"] is False


def test_generate_refuses_two_images_for_a_model_that_takes_one(tmp_path: Path) -> None:
    done = kiegen(
        "generate", "qwen/image-edit", "--prompt", "x", "--image", "https://x.test/a.png",
        "--image", "https://x.test/b.png", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 2
    assert "takes one input image" in done.stderr and "Traceback" not in done.stderr


def test_generate_raw_sends_an_unknown_model_unvalidated_and_says_so(tmp_path: Path) -> None:
    done = kiegen(
        "generate", "acme/brand-new-model", "--raw", "--prompt", "a red fox", "--set", "quality=ultra",
        "--set", "n=2", "--set", 'tags=["a", "b"]', "--json", cwd=tmp_path,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    assert "--raw" in done.stderr and "unvalidated" in done.stderr
    result = json.loads(done.stdout)
    assert (result["model"], result["status"], result["raw"]) == ("acme/brand-new-model", "succeeded", True)
    assert result["input"] == {"prompt": "a red fox", "quality": "ultra", "n": 2, "tags": ["a", "b"]}
    [saved] = result["files"]
    assert (tmp_path / saved).read_bytes().startswith(PNG_MAGIC)
    shown = kiegen("jobs", "show", result["id"], "--json", cwd=tmp_path)
    assert json.loads(shown.stdout)["raw"] is True


def test_generate_without_raw_refuses_the_unknown_model_and_raw_refuses_local_images(tmp_path: Path) -> None:
    strict = kiegen("generate", "acme/brand-new-model", "--prompt", "x", cwd=tmp_path)
    images = kiegen("generate", "acme/brand-new-model", "--raw", "--image", "cat.png", cwd=tmp_path)

    assert strict.returncode == 2 and "unknown model 'acme/brand-new-model'" in strict.stderr
    assert images.returncode == 2 and "--set image_urls=" in images.stderr
    assert "Traceback" not in strict.stderr + images.stderr
    assert not (tmp_path / "kiegen.db").exists()


def test_invalid_input_exits_2_naming_every_field_and_sends_nothing(tmp_path: Path) -> None:
    done = kiegen(
        "generate",
        "z-image",
        "--set",
        "aspect_ratio=2:1",
        "--set",
        "nsfw_checker=maybe",
        "--set",
        "steps=5",
        cwd=tmp_path,
    )

    assert done.returncode == 2
    for field in ("prompt", "aspect_ratio", "nsfw_checker", "steps"):
        assert f"  - {field}:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "kiegen.db").exists()  # nothing stored: validation comes first


def test_unknown_model_suggests_the_close_one(tmp_path: Path) -> None:
    done = kiegen("generate", "qwen/image-edti", "--prompt", "x", cwd=tmp_path)
    assert done.returncode == 2
    assert "did you mean qwen/image-edit" in done.stderr


def test_bad_usage_and_unknown_ids_exit_2_without_a_traceback(tmp_path: Path) -> None:
    for args in (("generate",), ("jobs", "show", "no-such-job"), ("frobnicate",)):
        done = kiegen(*args, cwd=tmp_path)
        assert done.returncode == 2, args
        assert "Traceback" not in done.stderr


def test_a_malformed_setting_is_named(tmp_path: Path) -> None:
    done = kiegen("jobs", "list", cwd=tmp_path, env={"KIEGEN_DATABASE_URL": "mysql://root:hunter2@db/x"})
    assert done.returncode == 2
    assert "KIEGEN_DATABASE_URL" in done.stderr and "hunter2" not in done.stderr


@pytest.fixture
def refusing_kie() -> Iterator[str]:
    app = create_app(
        clock=SystemClock(), config=SimulatorConfig(delay_s=0.5), api_key="test-key", faults=["createTask:body=402"]
    )
    with running_in_thread(app) as base:
        yield base


def test_a_kie_refusal_exits_1(tmp_path: Path, refusing_kie: str) -> None:
    env = {"KIE_API_KEY": "test-key", "KIEGEN_KIE_BASE_URL": refusing_kie, "KIEGEN_KIE_UPLOAD_URL": refusing_kie}
    done = kiegen("generate", "z-image", "--prompt", "x", "--json", cwd=tmp_path, env=env)
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["status"] == "failed"
    assert result["error"]["code"] == "kie_402"
    assert "test-key" not in done.stdout + done.stderr


VIDEO_MODELS = frozenset({"grok-imagine/text-to-video", "grok-imagine/image-to-video"})
"""What ``kiegen simulate-kie`` would know from the catalogue, for the models e2e picks."""


@pytest.fixture
def separate_simulator() -> Iterator[str]:
    with running_in_thread(
        create_app(
            clock=SystemClock(),
            config=SimulatorConfig(delay_s=0.5, video_models=VIDEO_MODELS),
            api_key="sim-key",
        )
    ) as base:
        yield base


def test_generate_against_a_separately_started_simulator(tmp_path: Path, separate_simulator: str) -> None:
    env = {
        "KIE_API_KEY": "sim-key",
        "KIEGEN_KIE_BASE_URL": separate_simulator,
        "KIEGEN_KIE_UPLOAD_URL": separate_simulator,
        "KIEGEN_ALLOW_PRIVATE_URLS": "1",
    }
    done = kiegen("generate", "qwen/text-to-image", "--prompt", "x", "--json", "--timeout", "30", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr
    assert "built-in" not in done.stderr
    [saved] = json.loads(done.stdout)["files"]
    assert (tmp_path / saved).read_bytes().startswith(PNG_MAGIC)


def test_generate_raw_reaches_a_separately_started_simulator_over_http(tmp_path: Path, separate_simulator: str) -> None:
    env = {
        "KIE_API_KEY": "sim-key",
        "KIEGEN_KIE_BASE_URL": separate_simulator,
        "KIEGEN_KIE_UPLOAD_URL": separate_simulator,
        "KIEGEN_ALLOW_PRIVATE_URLS": "1",
    }
    done = kiegen(
        "generate", "acme/video-9", "--raw", "--set", "prompt=a wave", "--set", "num_images=x", "--json",
        "--timeout", "30", cwd=tmp_path, env=env,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["raw"] is True and result["input"] == {"prompt": "a wave", "num_images": "x"}
    assert result["status"] == "succeeded"


def test_e2e_passes_every_free_model_and_one_video_model_of_each_kind_with_no_callback_errors(tmp_path: Path) -> None:
    done = kiegen("e2e", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUMMARY: 6/6 passed, 0 failed" in done.stdout
    # the four free image models, and a text-to-video and an image-to-video model, each result a real file
    assert re.search(r"^PASS grok-imagine/text-to-video: \S+\.mp4 \(\d+ bytes\)$", done.stdout, re.MULTILINE)
    assert re.search(r"^PASS grok-imagine/image-to-video: \S+\.mp4 \(\d+ bytes\)$", done.stdout, re.MULTILINE)
    assert len(re.findall(r"^PASS .*\.png ", done.stdout, re.MULTILINE)) == 4
    metrics = dict(item.split("=", 1) for item in done.stdout.split("METRICS:")[1].split())
    assert metrics["callback_4xx"] == "0"
    assert metrics["job_not_found"] == "0"


def test_e2e_against_a_separately_started_simulator(tmp_path: Path, separate_simulator: str) -> None:
    env = {
        "KIE_API_KEY": "sim-key",
        "KIEGEN_KIE_BASE_URL": separate_simulator,
        "KIEGEN_KIE_UPLOAD_URL": separate_simulator,
        "KIEGEN_ALLOW_PRIVATE_URLS": "1",
    }
    done = kiegen("e2e", "--timeout", "120", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"against {separate_simulator}" in done.stderr
    assert "SUMMARY: 6/6 passed, 0 failed" in done.stdout  # the separate simulator makes videos too
    assert len(re.findall(r"^PASS .*\.mp4 ", done.stdout, re.MULTILINE)) == 2
