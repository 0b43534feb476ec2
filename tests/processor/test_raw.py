"""process_raw on generated DNGs: embedded-preview and half-size-demosaic paths, flip, errors."""

from __future__ import annotations

import json
from pathlib import Path

import image_media
import numpy as np
import pytest
from PIL import Image
from processor.media.raw import process_raw
from processor.media.result import MediaError


def dominant(rgb: tuple[int, ...]) -> str:
    """Name the colour family of a sampled pixel: red, green, blue or white."""
    r, g, b = rgb[:3]
    if min(r, g, b) > 150:
        return "white"
    return ("red", "green", "blue")[int(np.argmax([r, g, b]))]


EXPECTED = {"tl": "red", "tr": "green", "bl": "blue", "br": "white"}


def quadrant_families(img: Image.Image) -> dict[str, str]:
    return {k: dominant(v) for k, v in image_media.quadrant_colors(img).items()}


def rotated_expectation(orientation: int) -> dict[str, str]:
    """Quadrant colour names after applying a TIFF orientation to the quadrant image."""
    names = np.array([["red", "green"], ["blue", "white"]])
    shown = image_media.ORIENTATION_TO_DISPLAY[orientation](names)
    return {"tl": shown[0, 0], "tr": shown[0, 1], "bl": shown[1, 0], "br": shown[1, 1]}


def quadrant_scene(width: int, height: int) -> np.ndarray:
    """Linear-light version of the quadrant image, to mosaic as sensor data."""
    return (image_media.quadrant_image(width, height) / 255.0) ** 2.2


def test_half_size_demosaic_path_and_camera_metadata(raw_dng_file, tmp_path: Path) -> None:
    res = process_raw(raw_dng_file(), tmp_path)

    md = res.metadata
    assert md["preview_source"] == "half_size_demosaic"
    assert md["embedded_preview"] == {"found": False}
    assert md["previews"]["viewer"] == [300, 200]  # half of 600x400
    assert (md["width"], md["height"], md["raw_width"], md["raw_height"]) == (600, 400, 600, 400)
    assert md["format"] == "DNG" and md["dng_version"] == "1.4.0.0" and md["cfa"] == "RGBG"
    exif = md["exif"]
    assert (exif["make"], exif["model"]) == ("Mediagate", "Synth 1")
    assert exif["iso"] == 400
    assert exif["exposure_time"] == pytest.approx(1 / 250)
    assert exif["f_number"] == pytest.approx(2.8)
    assert exif["focal_length"] == pytest.approx(50)
    assert exif["lens_model"] == "Mediagate 50mm F2.8"
    assert exif["lens_make"] == "Mediagate Optics"
    assert exif["taken_at"] == "2024-05-06T07:08:09"
    assert exif["artist"] == "Ada Lovelace"
    assert exif["gps"] == pytest.approx({"latitude": 52.52, "longitude": -1.5, "altitude": 123.4}, abs=1e-4)
    json.dumps(md)
    assert len(res.outputs) == 4 and res.placeholder
    with Image.open(tmp_path / res.preview) as img:
        left, right = img.convert("RGB").getpixel((60, 150)), img.convert("RGB").getpixel((240, 150))
    assert left[0] > 2 * left[2] and right[2] > 2 * right[0]  # red scene left, blue right


def test_large_embedded_jpeg_preview_is_used(raw_dng_file, tmp_path: Path) -> None:
    """A full-size embedded JPEG (2400x1600 ≥ viewer 2048) is used instead of demosaicing."""
    preview = Image.fromarray(image_media.quadrant_image(2400, 1600))
    res = process_raw(raw_dng_file(2400, 1600, preview=preview), tmp_path)

    md = res.metadata
    assert md["preview_source"] == "embedded_jpeg"
    assert md["embedded_preview"] == {"found": True, "format": "jpeg", "width": 2400, "height": 1600}
    assert md["previews"] == {"viewer": [2048, 1365], "grid": [480, 320]}
    with Image.open(tmp_path / res.preview) as img:
        assert quadrant_families(img) == EXPECTED  # the preview's content, not the raw scene


def test_small_embedded_preview_falls_back_to_demosaic(raw_dng_file, tmp_path: Path) -> None:
    preview = Image.fromarray(image_media.quadrant_image(160, 106))
    res = process_raw(raw_dng_file(preview=preview), tmp_path)
    md = res.metadata
    assert md["preview_source"] == "half_size_demosaic"
    assert md["embedded_preview"]["found"] is True
    assert "too small" in md["embedded_preview"]["rejected"]


def test_bitmap_thumbnail(raw_dng_file, tmp_path: Path) -> None:
    preview = Image.fromarray(image_media.quadrant_image(600, 400))
    res = process_raw(raw_dng_file(preview=preview, preview_kind="bitmap"), tmp_path, viewer_size=512)
    assert res.metadata["preview_source"] == "embedded_bitmap"
    with Image.open(tmp_path / res.preview) as img:
        assert img.size == (512, 341)
        assert quadrant_families(img) == EXPECTED


@pytest.mark.parametrize(("orientation", "flip"), [(1, 0), (3, 3), (6, 6), (8, 5)])
def test_flip_applied_on_both_paths(raw_dng_file, tmp_path: Path, orientation: int, flip: int) -> None:
    """The embedded preview (sensor orientation) is rotated like LibRaw rotates a demosaic."""
    expected = rotated_expectation(orientation)
    scene = quadrant_scene(600, 400)
    big = Image.fromarray(image_media.quadrant_image(600, 400))
    small = Image.fromarray(image_media.quadrant_image(300, 200))
    portrait = orientation in (6, 8)

    embedded = process_raw(raw_dng_file(scene=scene, orientation=orientation, preview=big), tmp_path / "e")
    demosaic = process_raw(raw_dng_file(scene=scene, orientation=orientation, preview=small), tmp_path / "d")

    assert embedded.metadata["preview_source"] == "embedded_jpeg"
    assert demosaic.metadata["preview_source"] == "half_size_demosaic"
    for res, root, size in ((embedded, tmp_path / "e", (600, 400)), (demosaic, tmp_path / "d", (300, 200))):
        assert res.metadata["flip"] == flip
        assert (res.metadata["width"], res.metadata["height"]) == ((400, 600) if portrait else (600, 400))
        with Image.open(root / res.preview) as img:
            assert img.size == (size[::-1] if portrait else size)
            assert quadrant_families(img) == expected


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"hello, I am a text file\n" * 100, "not a RAW format"),
        (bytes(np.random.default_rng(7).integers(0, 256, 50_000, dtype=np.uint8)), "not a RAW format"),
    ],
    ids=["empty", "text", "random"],
)
def test_unreadable_raw_is_media_error(tmp_path: Path, content: bytes, reason: str) -> None:
    src = tmp_path / "broken.nef"
    src.write_bytes(content)
    with pytest.raises(MediaError, match=reason):
        process_raw(src, tmp_path / "out")


def test_jpeg_renamed_to_raw_is_media_error(tmp_path: Path) -> None:
    src = image_media.write_image(tmp_path / "photo.jpg", image_media.quadrant_image(64, 64))
    fake = tmp_path / "photo.cr2"
    fake.write_bytes(src.read_bytes())
    with pytest.raises(MediaError, match="not a RAW format"):
        process_raw(fake, tmp_path / "out")


def test_truncated_raw_is_media_error(raw_dng_file, tmp_path: Path) -> None:
    """Sensor data cut short: the IFDs are intact but the strip points past the end."""
    good = raw_dng_file().read_bytes()
    cut = tmp_path / "cut.dng"
    ifd0 = int.from_bytes(good[4:8], "little")
    # keep the header + the tail holding the IFDs, drop most of the sensor data before it
    cut.write_bytes(good[:4] + (8).to_bytes(4, "little") + good[8:4096])
    with pytest.raises(MediaError) as info:
        process_raw(cut, tmp_path / "out")
    assert "RAW" in str(info.value)
    assert ifd0 > 4096


def test_raw_pixel_limit(raw_dng_file, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from processor.media import raw as raw_module

    monkeypatch.setattr(raw_module, "MAX_RAW_PIXELS", 200_000)
    with pytest.raises(MediaError, match="too large"):
        process_raw(raw_dng_file(), tmp_path)  # 600x400 = 240 000 px
