"""KIE's Market models as their docs pages describe them, written by reading each page (not from the data files
in ``src/kiegen/catalogue/data``): ``test_catalogue.py`` holds every shipped model to its entry here.

Pages are those of the docs copy of 2026-04-29 in the public repository ``hassanvfx/kie-api-python``, under
``docs/kie-ai/raw/`` (``cn/market/...`` one page per model, ``market/...`` the English ones). How a page was read:

- ``required`` is the schema's ``required`` list (or, where a page has none, the fields its descriptions call
  required); ``default`` is the schema's default, or one the description states ("默认值为 false", "Defaults to
  false"), except empty-string defaults and those of deprecated fields;
- a ``number`` with "step 1" is a whole number (``int``); an ``array`` of ``uri`` strings is a ``url_list``, any
  other array a ``list``; a ``string`` the page describes as an uploaded file's URL is a ``url``;
- lengths and counts the description states but the schema does not ("3-5000 characters", "1-8 images") count.
- the four seed models keep the reading of KIE_API.md (``enable_safety_checker`` defaults to true on the Qwen
  models: their pages say it is always on unless the API turns it off).
"""

from __future__ import annotations

from typing import Any, NamedTuple

PAGES = "https://github.com/hassanvfx/kie-api-python/tree/main/docs/kie-ai/raw/"


class In(NamedTuple):
    type: str
    required: bool = False
    enum: tuple[Any, ...] | None = None
    min: float | None = None
    max: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    default: Any = None


class Page(NamedTuple):
    path: str
    """The page under ``docs/kie-ai/raw/``."""
    kind: str
    inputs: dict[str, In]
    kie_credits: float | None = None
    """The price per task the page states (none of these pages states one)."""
    media: str = ""
    """Only where it does not follow from the kind (a video upscaler)."""


def text(max_length: int | None = None, *, required: bool = False, min_length: int | None = None) -> In:
    return In("string", required=required, min_length=min_length, max_length=max_length)


def prompt(max_length: int | None = None, *, min_length: int | None = None, required: bool = True) -> In:
    return text(max_length, required=required, min_length=min_length)


def choice(*values: Any, default: Any = None, required: bool = False) -> In:
    return In("string", required=required, enum=values, default=default)


def flag(default: bool | None = None, *, required: bool = False) -> In:
    return In("bool", required=required, default=default)


def whole(lo: float | None = None, hi: float | None = None, *, default: Any = None, required: bool = False) -> In:
    return In("int", required=required, min=lo, max=hi, default=default)


def number(lo: float | None = None, hi: float | None = None, *, default: Any = None) -> In:
    return In("number", min=lo, max=hi, default=default)


def url(*, required: bool = False) -> In:
    return In("url", required=required)


def urls(max_items: int | None = None, *, required: bool = False, min_items: int | None = None) -> In:
    return In("url_list", required=required, min_items=min_items, max_items=max_items)


def items(max_items: int | None = None, *, required: bool = False, min_items: int | None = None) -> In:
    return In("list", required=required, min_items=min_items, max_items=max_items)


NSFW = flag(False)
SEED = whole()
QWEN_SIZES = ("square", "square_hd", "portrait_4_3", "portrait_16_9", "landscape_4_3", "landscape_16_9")
NB_SIZES = ("1:1", "9:16", "16:9", "3:4", "4:3", "3:2", "2:3", "5:4", "4:5", "21:9", "auto")
IMAGEN_RATIOS = ("1:1", "16:9", "9:16", "3:4", "4:3")
FLUX_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "auto")
GPT2_RATIOS = ("auto", "1:1", "9:16", "16:9", "4:3", "3:4")
SEEDREAM4_SIZES = (
    "square",
    "square_hd",
    "portrait_4_3",
    "portrait_3_2",
    "portrait_16_9",
    "landscape_4_3",
    "landscape_3_2",
    "landscape_16_9",
    "landscape_21_9",
)
SEEDREAM45_RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "2:3", "3:2", "21:9")
SPEEDS = ("TURBO", "BALANCED", "QUALITY")
IDEOGRAM_STYLES = ("AUTO", "GENERAL", "REALISTIC", "DESIGN")
CHARACTER_STYLES = ("AUTO", "REALISTIC", "FICTION")
FOUR = ("1", "2", "3", "4")
RES_1K_2K_4K = ("1K", "2K", "4K")
GROK_RATIOS = ("2:3", "3:2", "1:1", "16:9", "9:16")
WAN_IMAGE_RATIOS = ("1:1", "16:9", "4:3", "21:9", "3:4", "9:16", "8:1", "1:8")
KLING_DURATION = choice("5", "10", default="5")
CFG = number(0, 1, default=0.5)
SEEDANCE1_SEED = whole(-1, 2147483647, default=-1)
SEED_31 = whole(0, 2147483647)

QWEN_COMMON = {
    "acceleration": choice("none", "regular", "high", default="none"),
    "negative_prompt": text(500),
    "seed": SEED,
    "enable_safety_checker": flag(True),
    "nsfw_checker": NSFW,
}


def _wan_image() -> dict[str, In]:
    return {
        "prompt": prompt(5000),
        "input_urls": urls(9),
        "aspect_ratio": choice(*WAN_IMAGE_RATIOS),
        "enable_sequential": flag(False),
        "n": whole(1, 12),
        "resolution": choice(*RES_1K_2K_4K, default="2K"),
        "thinking_mode": flag(False),
        "color_palette": items(10, min_items=3),
        "bbox_list": items(),
        "watermark": flag(False),
        "seed": whole(0, 2147483647, default=0),
        "nsfw_checker": NSFW,
    }


def _seedance2(resolutions: tuple[str, ...]) -> dict[str, In]:
    return {
        "prompt": prompt(20000, min_length=3),
        "first_frame_url": text(),
        "last_frame_url": text(),
        "reference_image_urls": items(9),
        "reference_video_urls": items(3),
        "reference_audio_urls": items(3),
        "return_last_frame": flag(),
        "generate_audio": flag(True),
        "resolution": choice(*resolutions, default="720p"),
        "aspect_ratio": choice("1:1", "4:3", "3:4", "16:9", "9:16", "21:9", "adaptive", default="16:9", required=True),
        "duration": whole(4, 15, default=5),
        "web_search": flag(),
        "nsfw_checker": NSFW,
    }


def _sora(*, image: bool, size: str | None) -> dict[str, In]:
    inputs = {"prompt": prompt(10000)}
    if image:
        inputs["image_urls"] = urls(1, required=True)
    inputs |= {
        "aspect_ratio": choice("portrait", "landscape", default="landscape"),
        "n_frames": choice("10", "15", default="10"),
        "remove_watermark": flag(),
        "character_id_list": items(5),
        "upload_method": choice("s3", "oss", default="s3", required=True),
    }
    if size is not None:
        inputs["size"] = choice("standard", "high", default=size)
    return inputs


TABLE: dict[str, Page] = {
    # --- the four seed models (KIE_API.md and their pages) ------------------------------------------------------
    "z-image": Page(
        "cn/market/z-image/z-image.md",
        "text-to-image",
        {
            "prompt": prompt(1000),
            "aspect_ratio": choice("1:1", "4:3", "3:4", "16:9", "9:16", default="1:1", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "qwen/text-to-image": Page(
        "cn/market/qwen/text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "image_size": choice(*QWEN_SIZES, default="square_hd"),
            "num_inference_steps": whole(2, 250, default=30),
            "guidance_scale": number(0, 20, default=2.5),
            "output_format": choice("png", "jpeg", default="png"),
            **QWEN_COMMON,
        },
    ),
    "qwen/image-to-image": Page(
        "cn/market/qwen/image-to-image.md",
        "image-to-image",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "strength": number(0, 1, default=0.8),
            "output_format": choice("png", "jpeg", default="png"),
            "num_inference_steps": whole(2, 250, default=30),
            "guidance_scale": number(0, 20, default=2.5),
            **QWEN_COMMON,
        },
    ),
    "qwen/image-edit": Page(
        "cn/market/qwen/image-edit.md",
        "edit",
        {
            "prompt": prompt(2000),
            "image_url": url(required=True),
            "image_size": choice(*QWEN_SIZES, default="landscape_4_3"),
            "num_inference_steps": whole(2, 49, default=25),
            "guidance_scale": number(0, 20, default=4),
            "sync_mode": flag(),
            "num_images": choice(*FOUR),
            "output_format": choice("jpeg", "png", default="png"),
            **QWEN_COMMON,
        },
    ),
    # --- Google -----------------------------------------------------------------------------------------------
    "google/nano-banana": Page(
        "cn/market/google/nano-banana.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "output_format": choice("png", "jpeg", default="png"),
            "image_size": choice(*NB_SIZES, default="1:1"),
        },
    ),
    "google/nano-banana-edit": Page(
        "cn/market/google/nano-banana-edit.md",
        "edit",
        {
            "prompt": prompt(5000),
            "image_urls": urls(10, required=True),
            "output_format": choice("png", "jpeg", default="png"),
            "image_size": choice(*NB_SIZES, default="1:1"),
        },
    ),
    "nano-banana-2": Page(
        "cn/market/google/nanobanana2.md",
        "text-to-image",
        {
            "aspect_ratio": choice(
                "auto",
                "1:1",
                "1:4",
                "16:9",
                "1:8",
                "21:9",
                "2:3",
                "3:2",
                "3:4",
                "4:1",
                "4:3",
                "4:5",
                "5:4",
                "8:1",
                "9:16",
                default="auto",
            ),
            "image_input": urls(14),
            "output_format": choice("jpg", "png", default="jpg"),
            "prompt": prompt(20000),
            "resolution": choice(*RES_1K_2K_4K, default="1K"),
        },
    ),
    "nano-banana-pro": Page(
        "cn/market/google/pro-image-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(10000),
            "image_input": urls(8),
            "aspect_ratio": choice(
                "1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "auto", default="1:1"
            ),
            "resolution": choice(*RES_1K_2K_4K, default="1K"),
            "output_format": choice("png", "jpg", default="png"),
        },
    ),
    "google/imagen4": Page(
        "cn/market/google/imagen4.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "negative_prompt": text(5000),
            "aspect_ratio": choice(*IMAGEN_RATIOS, default="1:1"),
            "seed": text(500),
        },
    ),
    "google/imagen4-fast": Page(
        "cn/market/google/imagen4-fast.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "negative_prompt": text(5000),
            "aspect_ratio": choice(*IMAGEN_RATIOS, default="16:9"),
            "num_images": choice(*FOUR, default="1"),
            "seed": SEED,
        },
    ),
    "google/imagen4-ultra": Page(
        "cn/market/google/imagen4-ultra.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "negative_prompt": text(5000),
            "aspect_ratio": choice(*IMAGEN_RATIOS, default="1:1"),
            "seed": text(500),
        },
    ),
    # --- FLUX.2 -----------------------------------------------------------------------------------------------
    "flux-2/pro-text-to-image": Page(
        "cn/market/flux2/pro-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(5000, min_length=3),
            "aspect_ratio": choice(*FLUX_RATIOS, default="1:1", required=True),
            "resolution": choice("1K", "2K", default="1K", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "flux-2/pro-image-to-image": Page(
        "cn/market/flux2/pro-image-to-image.md",
        "image-to-image",
        {
            "input_urls": urls(8, required=True, min_items=1),
            "prompt": prompt(5000, min_length=3),
            "aspect_ratio": choice(*FLUX_RATIOS, default="1:1", required=True),
            "resolution": choice("1K", "2K", default="1K", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "flux-2/flex-text-to-image": Page(
        "cn/market/flux2/flex-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(5000, min_length=3),
            "aspect_ratio": choice(*FLUX_RATIOS, default="1:1", required=True),
            "resolution": choice("1K", "2K", default="1K", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "flux-2/flex-image-to-image": Page(
        "cn/market/flux2/flex-image-to-image.md",
        "image-to-image",
        {
            "input_urls": urls(8, required=True, min_items=1),
            "prompt": prompt(5000, min_length=3),
            "aspect_ratio": choice(*FLUX_RATIOS, default="1:1", required=True),
            "resolution": choice("1K", "2K", default="1K", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    # --- GPT Image ----------------------------------------------------------------------------------------------
    "gpt-image/1.5-text-to-image": Page(
        "cn/market/gpt-image/1-5-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(),
            "aspect_ratio": choice("1:1", "2:3", "3:2", default="1:1", required=True),
            "quality": choice("medium", "high", default="medium", required=True),
        },
    ),
    "gpt-image/1.5-image-to-image": Page(
        "cn/market/gpt-image/1-5-image-to-image.md",
        "image-to-image",
        {
            "input_urls": urls(16, required=True),
            "prompt": prompt(),
            "aspect_ratio": choice("1:1", "2:3", "3:2", default="3:2", required=True),
            "quality": choice("medium", "high", default="medium", required=True),
        },
    ),
    "gpt-image-2-text-to-image": Page(
        "market/gpt/gpt-image-2-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(20000, min_length=1),
            "aspect_ratio": choice(*GPT2_RATIOS, default="auto"),
            "resolution": choice(*RES_1K_2K_4K),
        },
    ),
    "gpt-image-2-image-to-image": Page(
        "market/gpt/gpt-image-2-image-to-image.md",
        "image-to-image",
        {
            "prompt": prompt(20000),
            "input_urls": urls(16, required=True),
            "aspect_ratio": choice(*GPT2_RATIOS, default="auto"),
            "resolution": choice(*RES_1K_2K_4K),
        },
    ),
    # --- Grok Imagine -----------------------------------------------------------------------------------------
    "grok-imagine/text-to-image": Page(
        "cn/market/grok-imagine/text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "aspect_ratio": choice(*GROK_RATIOS, default="1:1"),
            "nsfw_checker": NSFW,
            "enable_pro": flag(),
        },
    ),
    "grok-imagine/image-to-image": Page(
        "cn/market/grok-imagine/image-to-image.md",
        "image-to-image",
        {"prompt": text(390000), "image_urls": urls(5, required=True), "nsfw_checker": NSFW},
    ),
    "grok-imagine/upscale": Page(
        "cn/market/grok-imagine/upscale.md",
        "upscale",
        {"task_id": text(100, required=True)},
        media="video",
    ),
    # --- Ideogram ----------------------------------------------------------------------------------------------
    "ideogram/v3-text-to-image": Page(
        "cn/market/ideogram/v3-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "rendering_speed": choice(*SPEEDS),
            "style": choice(*IDEOGRAM_STYLES),
            "expand_prompt": flag(),
            "image_size": choice(*QWEN_SIZES),
            "seed": SEED,
            "negative_prompt": text(5000),
        },
    ),
    "ideogram/v3-edit": Page(
        "cn/market/ideogram/v3-edit.md",
        "edit",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "mask_url": url(required=True),
            "rendering_speed": choice(*SPEEDS, default="BALANCED"),
            "expand_prompt": flag(True),
            "seed": SEED,
        },
    ),
    "ideogram/v3-remix": Page(
        "cn/market/ideogram/v3-remix.md",
        "image-to-image",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "rendering_speed": choice(*SPEEDS),
            "style": choice(*IDEOGRAM_STYLES),
            "expand_prompt": flag(),
            "image_size": choice(*QWEN_SIZES),
            "num_images": choice(*FOUR),
            "seed": SEED,
            "strength": number(0.01, 1),
            "negative_prompt": text(5000),
        },
    ),
    "ideogram/v3-reframe": Page(
        "cn/market/ideogram/v3-reframe.md",
        "image-to-image",
        {
            "image_url": url(required=True),
            "image_size": choice(*QWEN_SIZES, default="square_hd", required=True),
            "rendering_speed": choice(*SPEEDS, default="BALANCED"),
            "style": choice(*IDEOGRAM_STYLES, default="AUTO"),
            "num_images": choice(*FOUR, default="1"),
            "seed": number(),
        },
    ),
    "ideogram/character": Page(
        "cn/market/ideogram/character.md",
        "image-to-image",
        {
            "prompt": prompt(5000),
            "reference_image_urls": urls(required=True),
            "rendering_speed": choice(*SPEEDS, default="BALANCED"),
            "style": choice(*CHARACTER_STYLES, default="AUTO"),
            "expand_prompt": flag(True),
            "num_images": choice(*FOUR, default="1"),
            "image_size": choice(*QWEN_SIZES, default="square_hd"),
            "seed": SEED,
            "negative_prompt": text(5000),
        },
    ),
    "ideogram/character-edit": Page(
        "cn/market/ideogram/character-edit.md",
        "edit",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "mask_url": url(required=True),
            "reference_image_urls": urls(required=True),
            "rendering_speed": choice(*SPEEDS, default="BALANCED"),
            "style": choice(*CHARACTER_STYLES, default="AUTO"),
            "expand_prompt": flag(True),
            "num_images": choice(*FOUR, default="1"),
            "seed": SEED,
        },
    ),
    "ideogram/character-remix": Page(
        "cn/market/ideogram/character-remix.md",
        "image-to-image",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "reference_image_urls": urls(required=True),
            "rendering_speed": choice(*SPEEDS, default="BALANCED"),
            "style": choice(*CHARACTER_STYLES, default="AUTO"),
            "expand_prompt": flag(True),
            "image_size": choice(*QWEN_SIZES, default="square_hd"),
            "num_images": choice(*FOUR, default="1"),
            "seed": SEED,
            "strength": number(0.1, 1, default=0.8),
            "negative_prompt": text(500),
            "image_urls": urls(),
            "reference_mask_urls": url(),
        },
    ),
    # --- Qwen 2 ---------------------------------------------------------------------------------------------------
    "qwen2/image-edit": Page(
        "cn/market/qwen2/image-edit.md",
        "edit",
        {
            "prompt": prompt(800),
            "image_url": url(required=True),
            "image_size": choice("1:1", "2:3", "3:2", "3:4", "4:3", "9:16", "16:9", "21:9", default="16:9"),
            "seed": SEED,
            "output_format": choice("jpeg", "png", default="png"),
            "nsfw_checker": NSFW,
        },
    ),
    # --- Seedream ----------------------------------------------------------------------------------------------
    "bytedance/seedream": Page(
        "cn/market/seedream/seedream-v3.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "image_size": choice(*QWEN_SIZES, default="square_hd"),
            "guidance_scale": number(1, 10, default=2.5),
            "seed": SEED,
        },
    ),
    "bytedance/seedream-v4-text-to-image": Page(
        "cn/market/seedream/seedream-v4-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(5000),
            "image_size": choice(*SEEDREAM4_SIZES, default="square_hd"),
            "image_resolution": choice(*RES_1K_2K_4K, default="1K"),
            "max_images": whole(1, 6, default=1),
            "seed": SEED,
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/seedream-v4-edit": Page(
        "cn/market/seedream/seedream-v4-edit.md",
        "edit",
        {
            "prompt": prompt(5000),
            "image_urls": urls(10, required=True),
            "image_size": choice(*SEEDREAM4_SIZES, default="square_hd"),
            "image_resolution": choice(*RES_1K_2K_4K, default="1K"),
            "max_images": whole(1, 6, default=1),
            "seed": SEED,
            "nsfw_checker": NSFW,
        },
    ),
    "seedream/4.5-text-to-image": Page(
        "cn/market/seedream/4-5-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(3000),
            "aspect_ratio": choice(*SEEDREAM45_RATIOS, default="1:1", required=True),
            "quality": choice("basic", "high", default="basic", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "seedream/4.5-edit": Page(
        "cn/market/seedream/4-5-edit.md",
        "edit",
        {
            "prompt": prompt(3000),
            "image_urls": urls(14, required=True),
            "aspect_ratio": choice(*SEEDREAM45_RATIOS, default="1:1", required=True),
            "quality": choice("basic", "high", default="basic", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "seedream/5-lite-text-to-image": Page(
        "cn/market/seedream/5-lite-text-to-image.md",
        "text-to-image",
        {
            "prompt": prompt(3000, min_length=3),
            "aspect_ratio": choice(*SEEDREAM45_RATIOS, default="1:1", required=True),
            "quality": choice("basic", "high", default="basic", required=True),
            "nsfw_checker": flag(),
        },
    ),
    "seedream/5-lite-image-to-image": Page(
        "cn/market/seedream/5-lite-image-to-image.md",
        "image-to-image",
        {
            "prompt": prompt(3000, min_length=3),
            "image_urls": urls(14, required=True),
            "aspect_ratio": choice(*SEEDREAM45_RATIOS, default="1:1", required=True),
            "quality": choice("basic", "high", default="basic", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    # --- Wan 2.7 images ----------------------------------------------------------------------------------------
    "wan/2-7-image": Page("market/wan/2-7-image.md", "text-to-image", _wan_image()),
    "wan/2-7-image-pro": Page("market/wan/2-7-image-pro.md", "text-to-image", _wan_image()),
    # --- Recraft, Topaz ------------------------------------------------------------------------------------------
    "recraft/crisp-upscale": Page("cn/market/recraft/crisp-upscale.md", "upscale", {"image": url(required=True)}),
    "recraft/remove-background": Page("cn/market/recraft/remove-background.md", "edit", {"image": url(required=True)}),
    "topaz/image-upscale": Page(
        "cn/market/topaz/image-upscale.md",
        "upscale",
        {"image_url": url(required=True), "upscale_factor": choice("1", "2", "4", "8", default="2", required=True)},
    ),
    # --- video: Grok Imagine -----------------------------------------------------------------------------------
    "grok-imagine/text-to-video": Page(
        "cn/market/grok-imagine/text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(5000),
            "aspect_ratio": choice(*GROK_RATIOS, default="2:3", required=True),
            "mode": choice("fun", "normal", "spicy", default="normal", required=True),
            "duration": whole(6, 30),
            "resolution": choice("480p", "720p", default="480p", required=True),
            "nsfw_checker": NSFW,
        },
    ),
    "grok-imagine/image-to-video": Page(
        "cn/market/grok-imagine/image-to-video.md",
        "image-to-video",
        {
            "image_urls": urls(7),
            "task_id": text(100),
            "index": whole(0, 5, default=0),
            "prompt": text(5000),
            "mode": choice("fun", "normal", "spicy", default="normal"),
            "duration": whole(6, 30),
            "resolution": choice("480p", "720p", default="480p"),
            "aspect_ratio": choice(*GROK_RATIOS, default="16:9"),
            "nsfw_checker": NSFW,
        },
    ),
    # --- video: Kling -----------------------------------------------------------------------------------------------
    "kling-2.6/text-to-video": Page(
        "cn/market/kling/text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(1000),
            "sound": flag(required=True),
            "aspect_ratio": choice("1:1", "16:9", "9:16", default="1:1", required=True),
            "duration": choice("5", "10", default="5", required=True),
        },
    ),
    "kling-2.6/image-to-video": Page(
        "cn/market/kling/image-to-video.md",
        "image-to-video",
        {
            "prompt": prompt(1000),
            "image_urls": urls(1, required=True),
            "sound": flag(required=True),
            "duration": choice("5", "10", default="5", required=True),
        },
    ),
    "kling/v2-1-standard": Page(
        "cn/market/kling/v2-1-standard.md",
        "image-to-video",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "duration": KLING_DURATION,
            "negative_prompt": text(500),
            "cfg_scale": CFG,
        },
    ),
    "kling/v2-1-pro": Page(
        "cn/market/kling/v2-1-pro.md",
        "image-to-video",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "duration": KLING_DURATION,
            "negative_prompt": text(500),
            "cfg_scale": CFG,
            "tail_image_url": url(),
        },
    ),
    "kling/v2-1-master-text-to-video": Page(
        "cn/market/kling/v2-1-master-text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(5000),
            "duration": KLING_DURATION,
            "aspect_ratio": choice("16:9", "9:16", "1:1", default="16:9"),
            "negative_prompt": text(500),
            "cfg_scale": CFG,
        },
    ),
    "kling/v2-1-master-image-to-video": Page(
        "cn/market/kling/v2-1-master-image-to-video.md",
        "image-to-video",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "duration": KLING_DURATION,
            "negative_prompt": text(500),
            "cfg_scale": CFG,
        },
    ),
    "kling/v2-5-turbo-text-to-video-pro": Page(
        "cn/market/kling/v25-turbo-text-to-video-pro.md",
        "text-to-video",
        {
            "prompt": prompt(2500),
            "duration": KLING_DURATION,
            "aspect_ratio": choice("16:9", "9:16", "1:1", default="16:9"),
            "negative_prompt": text(2500),
            "cfg_scale": CFG,
        },
    ),
    "kling/v2-5-turbo-image-to-video-pro": Page(
        "cn/market/kling/v25-turbo-image-to-video-pro.md",
        "image-to-video",
        {
            "prompt": prompt(2500),
            "image_url": url(required=True),
            "tail_image_url": url(),
            "duration": KLING_DURATION,
            "negative_prompt": text(2496),
            "cfg_scale": CFG,
        },
    ),
    "kling-3.0/video": Page(
        "market/kling/kling-3-0.md",
        "text-to-video",
        {
            "prompt": prompt(),
            "image_urls": urls(2),
            "sound": flag(False, required=True),
            "duration": choice(*(str(s) for s in range(3, 16)), default="5", required=True),
            "aspect_ratio": choice("16:9", "9:16", "1:1", default="16:9", required=True),
            "mode": choice("std", "pro", "4K", default="pro", required=True),
            "multi_shots": flag(False, required=True),
            "multi_prompt": items(5, required=True),
            "kling_elements": items(3),
        },
    ),
    # --- video: Hailuo --------------------------------------------------------------------------------------------
    "hailuo/02-text-to-video-pro": Page(
        "cn/market/hailuo/02-text-to-video-pro.md",
        "text-to-video",
        {"prompt": prompt(1500), "prompt_optimizer": flag(), "nsfw_checker": NSFW},
    ),
    "hailuo/02-text-to-video-standard": Page(
        "cn/market/hailuo/02-text-to-video-standard.md",
        "text-to-video",
        {
            "prompt": prompt(1500),
            "duration": choice("6", "10", default="6"),
            "prompt_optimizer": flag(),
            "nsfw_checker": NSFW,
        },
    ),
    "hailuo/02-image-to-video-pro": Page(
        "cn/market/hailuo/02-image-to-video-pro.md",
        "image-to-video",
        {
            "prompt": prompt(1500),
            "image_url": url(required=True),
            "end_image_url": url(),
            "prompt_optimizer": flag(),
            "nsfw_checker": NSFW,
        },
    ),
    "hailuo/02-image-to-video-standard": Page(
        "cn/market/hailuo/02-image-to-video-standard.md",
        "image-to-video",
        {
            "prompt": prompt(1500),
            "image_url": url(required=True),
            "end_image_url": url(),
            "duration": choice("6", "10", default="10"),
            "resolution": choice("512P", "768P", default="768P"),
            "prompt_optimizer": flag(),
            "nsfw_checker": NSFW,
        },
    ),
    "hailuo/2-3-image-to-video-pro": Page(
        "cn/market/hailuo/2-3-image-to-video-pro.md",
        "image-to-video",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "duration": choice("6", "10", default="6"),
            "resolution": choice("768P", "1080P", default="768P"),
            "nsfw_checker": NSFW,
        },
    ),
    "hailuo/2-3-image-to-video-standard": Page(
        "cn/market/hailuo/2-3-image-to-video-standard.md",
        "image-to-video",
        {
            "prompt": prompt(5000),
            "image_url": url(required=True),
            "duration": choice("6", "10", default="6"),
            "resolution": choice("768P", "1080P", default="768P"),
            "nsfw_checker": NSFW,
        },
    ),
    # --- video: ByteDance ---------------------------------------------------------------------------------------
    "bytedance/v1-pro-text-to-video": Page(
        "cn/market/bytedance/v1-pro-text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(10000),
            "aspect_ratio": choice("21:9", "16:9", "4:3", "1:1", "3:4", "9:16", default="16:9"),
            "resolution": choice("480p", "720p", "1080p", default="720p"),
            "duration": KLING_DURATION,
            "camera_fixed": flag(),
            "seed": SEEDANCE1_SEED,
            "enable_safety_checker": flag(),
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/v1-pro-image-to-video": Page(
        "cn/market/bytedance/v1-pro-image-to-video.md",
        "image-to-video",
        {
            "prompt": prompt(10000),
            "image_url": url(required=True),
            "resolution": choice("480p", "720p", "1080p", default="720p"),
            "duration": KLING_DURATION,
            "camera_fixed": flag(),
            "seed": SEEDANCE1_SEED,
            "enable_safety_checker": flag(),
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/v1-pro-fast-image-to-video": Page(
        "cn/market/bytedance/v1-pro-fast-image-to-video.md",
        "image-to-video",
        {
            "prompt": prompt(10000),
            "image_url": url(required=True),
            "resolution": choice("720p", "1080p", default="720p"),
            "duration": KLING_DURATION,
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/v1-lite-text-to-video": Page(
        "cn/market/bytedance/v1-lite-text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(10000),
            "aspect_ratio": choice("16:9", "4:3", "1:1", "3:4", "9:16", "9:21", default="16:9"),
            "resolution": choice("480p", "720p", "1080p", default="720p"),
            "duration": KLING_DURATION,
            "camera_fixed": flag(),
            "seed": SEED,
            "enable_safety_checker": flag(),
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/v1-lite-image-to-video": Page(
        "cn/market/bytedance/v1-lite-image-to-video.md",
        "image-to-video",
        {
            "prompt": prompt(10000),
            "image_url": url(required=True),
            "resolution": choice("480p", "720p", "1080p", default="720p"),
            "duration": KLING_DURATION,
            "camera_fixed": flag(),
            "seed": SEEDANCE1_SEED,
            "enable_safety_checker": flag(),
            "end_image_url": url(),
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/seedance-1.5-pro": Page(
        "market/bytedance/seedance-1-5-pro.md",
        "text-to-video",
        {
            "prompt": prompt(2500, min_length=3),
            "input_urls": urls(2),
            "aspect_ratio": choice("1:1", "4:3", "3:4", "16:9", "9:16", "21:9", default="1:1", required=True),
            "resolution": choice("480p", "720p", "1080p", default="720p"),
            "duration": choice("4", "8", "12"),
            "fixed_lens": flag(False),
            "generate_audio": flag(False),
            "nsfw_checker": NSFW,
        },
    ),
    "bytedance/seedance-2": Page(
        "market/bytedance/seedance-2.md", "text-to-video", _seedance2(("480p", "720p", "1080p"))
    ),
    "bytedance/seedance-2-fast": Page(
        "market/bytedance/seedance-2-fast.md", "text-to-video", _seedance2(("480p", "720p"))
    ),
    # --- video: Sora 2 ----------------------------------------------------------------------------------------------
    "sora-2-text-to-video": Page(
        "cn/market/sora2/sora-2-text-to-video.md", "text-to-video", _sora(image=False, size=None)
    ),
    "sora-2-image-to-video": Page(
        "cn/market/sora2/sora-2-image-to-video.md", "image-to-video", _sora(image=True, size=None)
    ),
    "sora-2-pro-text-to-video": Page(
        "cn/market/sora2/sora-2-pro-text-to-video.md", "text-to-video", _sora(image=False, size="high")
    ),
    "sora-2-pro-image-to-video": Page(
        "cn/market/sora2/sora-2-pro-image-to-video.md", "image-to-video", _sora(image=True, size="standard")
    ),
    # --- video: HappyHorse ------------------------------------------------------------------------------------------
    "happyhorse/text-to-video": Page(
        "market/happyhorse/text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(5000),
            "resolution": choice("720p", "1080p", default="1080p"),
            "aspect_ratio": choice("16:9", "9:16", "1:1", "4:3", "3:4", default="16:9"),
            "duration": whole(3, 15, default=5),
            "seed": whole(0, 2147483647, default=0),
        },
    ),
    "happyhorse/image-to-video": Page(
        "market/happyhorse/image-to-video.md",
        "image-to-video",
        {
            "prompt": text(5000),
            "image_urls": urls(1, required=True, min_items=1),
            "resolution": choice("720p", "1080p", default="1080p"),
            "duration": whole(3, 15, default=5),
            "seed": whole(0, 2147483647, default=0),
        },
    ),
    # --- video: Wan -----------------------------------------------------------------------------------------------
    "wan/2-7-text-to-video": Page(
        "cn/market/wan/2-7-text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(5000, min_length=1),
            "negative_prompt": text(500),
            "audio_url": url(),
            "resolution": choice("720p", "1080p", default="1080p"),
            "ratio": choice("16:9", "9:16", "1:1", "4:3", "3:4", default="16:9"),
            "duration": whole(2, 15, default=5),
            "prompt_extend": flag(True),
            "watermark": flag(False),
            "seed": SEED_31,
            "nsfw_checker": NSFW,
        },
    ),
    "wan/2-7-image-to-video": Page(
        "cn/market/wan/2-7-image-to-video.md",
        "image-to-video",
        {
            "prompt": text(5000),
            "negative_prompt": text(500),
            "first_frame_url": url(),
            "last_frame_url": url(),
            "first_clip_url": url(),
            "driving_audio_url": url(),
            "resolution": choice("720p", "1080p", default="1080p"),
            "duration": whole(2, 15, default=5),
            "prompt_extend": flag(True),
            "watermark": flag(False),
            "seed": SEED_31,
            "nsfw_checker": NSFW,
        },
    ),
    "wan/2-6-text-to-video": Page(
        "cn/market/wan/2-6-text-to-video.md",
        "text-to-video",
        {
            "prompt": prompt(5000, min_length=1),
            "duration": choice("5", "10", "15", default="5"),
            "resolution": choice("720p", "1080p", default="1080p"),
            "nsfw_checker": NSFW,
        },
    ),
    "wan/2-6-image-to-video": Page(
        "cn/market/wan/2-6-image-to-video.md",
        "image-to-video",
        {
            "prompt": prompt(5000, min_length=2),
            "image_urls": urls(1, required=True),
            "duration": choice("5", "10", "15", default="5"),
            "resolution": choice("720p", "1080p", default="1080p"),
            "nsfw_checker": NSFW,
        },
    ),
}
