"""Fixtures generating real media for the processor tests (image/RAW/LOG ones first)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import image_media
import numpy as np
import pytest
import video_media
from PIL import Image
from support.tools import require

LIBJXL_PHOTOS = Path("/usr/share/libjxl-testdata/jxl/flower")


@pytest.fixture()
def image_oriented_file(tmp_path: Path) -> Callable[[int, str], Path]:
    """Factory: a 200x300 (portrait as displayed) quadrant image with EXIF orientation N.

    Orientations 5–8 store it as a 300x200 landscape raster.
    """

    def make(orientation: int, suffix: str = ".jpg") -> Path:
        display = image_media.quadrant_image(200, 300)
        return image_media.write_oriented(tmp_path / f"orient{orientation}{suffix}", display, orientation)

    return make


@pytest.fixture()
def image_exif_jpeg(tmp_path: Path) -> Path:
    """A 640x480 JPEG with camera, lens, exposure, date and GPS EXIF tags."""
    arr = image_media.quadrant_image(640, 480)
    return image_media.write_image(tmp_path / "camera.jpg", arr, exif=image_media.camera_exif(1))


@pytest.fixture()
def image_alpha_png(tmp_path: Path) -> Path:
    """A 300x200 RGBA PNG: left half opaque red, right half fully transparent (blue)."""
    arr = np.zeros((200, 300, 4), np.uint8)
    arr[:, :150] = (220, 20, 20, 255)
    arr[:, 150:] = (0, 0, 255, 0)
    path = tmp_path / "alpha.png"
    Image.fromarray(arr, "RGBA").save(path)
    return path


@pytest.fixture()
def image_bad_files(tmp_path: Path) -> dict[str, Path]:
    """Broken uploads: text named .jpg, zero bytes, truncated JPEG, PNG bomb header."""
    text = tmp_path / "notes.jpg"
    text.write_text("this is not a picture\n" * 20)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    good = image_media.write_image(tmp_path / "good.jpg", image_media.quadrant_image(400, 300))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    bomb = image_media.png_bomb(tmp_path / "bomb.png", 30000, 30000)
    return {"text": text, "empty": empty, "truncated": truncated, "bomb": bomb}


@pytest.fixture()
def image_libjxl_photo() -> Path:
    """A real 2268x1512 photo JPEG from Debian's libjxl-testdata (support.tools.require)."""
    path = LIBJXL_PHOTOS / "flower.png.im_q85_420.jpg"
    require(path.exists(), "Debian's libjxl-testdata")
    return path


@pytest.fixture()
def raw_dng_file(tmp_path: Path) -> Callable[..., Path]:
    """Factory: a pidng DNG (RGGB mosaic of a red-left/blue-right scene, 600x400).

    ``scene`` is a linear float (h, w, 3) image to mosaic instead; other keyword args go to :func:`image_media.write_dng` (orientation, preview, preview_kind).
    """
    counter = iter(range(1000))

    def make(width: int = 600, height: int = 400, scene: np.ndarray | None = None, **kwargs) -> Path:
        if scene is None:
            scene = image_media.scene_linear(width, height)
        return image_media.write_dng(tmp_path / f"synth{next(counter)}.dng", scene, **kwargs)

    return make


@pytest.fixture()
def log_slog3_still(tmp_path: Path) -> Path:
    """An S-Log3 PNG still: grey ramp on top, 18 % grey patch below (colour-science)."""
    return image_media.slog3_still(tmp_path / "slog3.png")


# --- video ---------------------------------------------------------------------------


@pytest.fixture()
def make_video(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_video("clip.mp4", size="640x360", duration=4, audio=True, rotate=None)``.

    The suffix picks the container and codecs (mp4/mov/mkv/avi, see ``video_media.CODECS``).
    """

    def make(name: str = "clip.mp4", **kwargs) -> Path:
        return video_media.write_video(tmp_path / name, **kwargs)

    return make


@pytest.fixture()
def video_bad_files(tmp_path: Path) -> dict[str, Path]:
    """Broken uploads: empty, text named .mp4, truncated MP4 (moov at end / faststart), MKV."""
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    files = {"empty": empty, "text": text}
    for name, kwargs in (("truncated_mp4", {}), ("truncated_faststart", {"faststart": True})):
        good = video_media.write_video(tmp_path / f"good-{name}.mp4", duration=3, **kwargs)
        files[name] = video_media.truncate(good, tmp_path / f"{name}.mp4")
    good_mkv = video_media.write_video(tmp_path / "good.mkv", duration=3)
    files["truncated_mkv"] = video_media.truncate(good_mkv, tmp_path / "truncated.mkv")
    return files
