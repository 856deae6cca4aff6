"""``kiegen e2e`` covers every kind against a simulator: text-to-image, image-to-image/edit, text-to-video and
image-to-video; ``--model`` runs exactly the models named; ``--real`` spends on the free models only. And
``kiegen generate`` with a video model saves an MP4 and its job says ``media: video``."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kiegen.cli.e2e import PROMPT, inputs_for, pick_models
from kiegen.cli.main import main
from kiegen.composition import registry_for
from kiegen.core.errors import InvalidInput
from kiegen.core.models import Media, ModelKind
from kiegen.settings import Settings


def test_a_simulated_run_picks_the_free_models_and_one_fillable_video_model_of_each_kind() -> None:
    registry = registry_for(Settings())
    picked = pick_models(registry, every_kind=True)

    kinds = [spec.kind for spec in picked]
    assert kinds.count(ModelKind.TEXT_TO_VIDEO) == 1 and kinds.count(ModelKind.IMAGE_TO_VIDEO) == 1
    assert {ModelKind.TEXT_TO_IMAGE, ModelKind.IMAGE_TO_IMAGE, ModelKind.EDIT} <= set(kinds)
    assert [s.id for s in picked if s.media is Media.VIDEO] == [
        "grok-imagine/text-to-video",
        "grok-imagine/image-to-video",
    ]
    # a real run spends on the free models only
    assert all(spec.price == 0 for spec in pick_models(registry, every_kind=False))
    assert len(pick_models(registry, every_kind=False)) == len(picked) - 2
    # an image-to-video model gets the image even where its page marks no input required
    assert inputs_for(registry.get("grok-imagine/image-to-video"), "https://x.test/a.png") == {
        "prompt": PROMPT,
        "image_urls": ["https://x.test/a.png"],
    }
    assert (
        inputs_for(registry.get("kling/v2-1-standard"), "https://x.test/a.png")["image_url"] == "https://x.test/a.png"
    )


def test_named_models_are_run_exactly_and_an_unknown_one_is_refused_with_close_matches() -> None:
    registry = registry_for(Settings())
    named = ["hailuo/02-text-to-video-standard", "kling/v2-1-standard", "hailuo/02-text-to-video-standard"]

    assert [s.id for s in pick_models(registry, every_kind=True, named=named)] == named[:2]
    with pytest.raises(InvalidInput, match="hailuo/02-text-to-video-pro"):
        pick_models(registry, every_kind=True, named=["hailuo/02-text-to-video-pr"])


def test_e2e_with_named_video_models_downloads_real_videos(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # kling/v2-1-standard takes its photo as image_url, hailuo's text-to-video none: both filled by e2e
    assert main(["e2e", "--model", "hailuo/02-text-to-video-standard", "--model", "kling/v2-1-standard"]) == 0

    out = capsys.readouterr().out
    assert "SUMMARY: 2/2 passed, 0 failed" in out
    assert len(re.findall(r"^PASS \S+: \S+\.mp4 \(\d+ bytes\)$", out, re.MULTILINE)) == 2


def test_e2e_with_an_unknown_model_is_bad_usage(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["e2e", "--model", "no-such/video"]) == 2
    assert "no-such/video" in capsys.readouterr().err


def test_generate_with_a_video_model_saves_an_mp4_and_says_video(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = workdir / "out"
    assert main(["generate", "hailuo/02-text-to-video-standard", "--prompt", "a fox", "--out", str(out), "--json"]) == 0

    result = json.loads(capsys.readouterr().out)
    assert (result["status"], result["media"]) == ("succeeded", "video")
    [saved] = result["files"]
    assert saved.endswith(".mp4") and Path(saved).read_bytes()[4:8] == b"ftyp"
    assert main(["jobs", "show", result["id"]]) == 0
    assert re.search(r"^media\s+video$", capsys.readouterr().out, re.MULTILINE)
