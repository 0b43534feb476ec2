"""process_image on real generated media: orientation, sizes, formats, EXIF, alpha, bad input."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import image_media
import numpy as np
import pytest
import thumbhash
from PIL import Image
from processor.media.image import process_image
from processor.media.result import MediaError
from support.tools import require


def close(actual: tuple[int, ...], expected: tuple[int, ...], tol: int = 40) -> bool:
    return all(abs(a - e) <= tol for a, e in zip(actual, expected, strict=False))


def assert_quadrants(img: Image.Image) -> None:
    got = image_media.quadrant_colors(img)
    for corner, colour in image_media.QUADRANTS.items():
        assert close(got[corner], colour), f"{corner}: {got[corner]} != {colour} ({got})"


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp"])
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_applied(image_oriented_file, tmp_path: Path, orientation: int, suffix: str) -> None:
    src = image_oriented_file(orientation, suffix)
    stored = Image.open(src).size
    assert stored == ((300, 200) if orientation >= 5 else (200, 300))

    res = process_image(src, tmp_path / "out", grid_size=150, viewer_size=2048)

    assert (res.metadata["width"], res.metadata["height"]) == (200, 300)
    assert res.metadata["orientation"] == orientation
    assert res.metadata["format"] == {".jpg": "JPEG", ".png": "PNG", ".webp": "WEBP"}[suffix]
    sizes = {"viewer": (200, 300), "grid": (100, 150)}  # portrait; viewer not upscaled
    for out in res.outputs:
        with Image.open(tmp_path / "out" / out.path) as img:
            assert img.size == sizes["grid" if "grid" in out.path else "viewer"], out.path
            assert_quadrants(img)


def test_four_previews_and_placeholder(image_libjxl_photo: Path, tmp_path: Path) -> None:
    res = process_image(image_libjxl_photo, tmp_path)

    assert sorted((o.path, o.content_type) for o in res.outputs) == [
        ("preview/grid.jpg", "image/jpeg"),
        ("preview/grid.webp", "image/webp"),
        ("preview/viewer.jpg", "image/jpeg"),
        ("preview/viewer.webp", "image/webp"),
    ]
    assert res.preview == "preview/viewer.webp" and res.thumbnail == "preview/grid.webp"
    md = res.metadata
    assert (md["width"], md["height"], md["format"], md["mode"]) == (2268, 1512, "JPEG", "RGB")
    assert md["previews"] == {"viewer": [2048, 1365], "grid": [480, 320]}
    for out in res.outputs:
        with Image.open(tmp_path / out.path) as img:
            assert img.format == ("WEBP" if out.path.endswith(".webp") else "JPEG")
            assert max(img.size) == (2048 if "viewer" in out.path else 480)
    # The placeholder is a valid ThumbHash of the photo (landscape, similar average colour).
    hashed = list(base64.b64decode(res.placeholder))
    assert thumbhash.thumb_hash_to_approximate_aspect_ratio(hashed) == pytest.approx(1.5, abs=0.2)
    with Image.open(tmp_path / "preview/grid.jpg") as grid:
        mean = (np.asarray(grid.convert("RGB"), dtype=float) / 255).reshape(-1, 3).mean(axis=0)
    avg = thumbhash.thumb_hash_to_average_rgba(hashed)
    assert avg[:3] == pytest.approx(list(mean), abs=0.08)
    json.dumps(md)  # JSON-serialisable


def test_never_upscales(tmp_path: Path) -> None:
    src = image_media.write_image(tmp_path / "small.png", image_media.quadrant_image(64, 48))
    res = process_image(src, tmp_path / "out")
    assert res.metadata["previews"] == {"viewer": [64, 48], "grid": [64, 48]}
    assert len(res.outputs) == 4


def test_grid_thumbnail_is_handed_out_before_the_viewer_size(tmp_path: Path) -> None:
    """on_thumbnail gets the grid WebP (complete, with the final placeholder) while the 2048 px
    viewer size is not written yet: the grid can show a photo's thumbnail early."""
    src = image_media.write_image(tmp_path / "photo.jpg", image_media.quadrant_image(2400, 1600), quality=90)
    out = tmp_path / "out"
    seen: list[tuple[str, str, bool]] = []

    def on_thumbnail(rel: str, placeholder: str) -> None:
        with Image.open(out / rel) as img:
            assert img.size == (480, 320)
        seen.append((rel, placeholder, (out / "preview" / "viewer.webp").exists()))

    res = process_image(src, out, on_thumbnail=on_thumbnail)
    assert seen == [(res.thumbnail, res.placeholder, False)]


def test_jpeg_draft_decode_keeps_viewer_size(tmp_path: Path) -> None:
    """A 4000x3000 JPEG is decoded at reduced scale but the viewer is still 2048 wide."""
    src = image_media.write_image(tmp_path / "big.jpg", image_media.quadrant_image(4000, 3000), quality=80)
    res = process_image(src, tmp_path / "out")
    assert (res.metadata["width"], res.metadata["height"]) == (4000, 3000)
    assert res.metadata["previews"] == {"viewer": [2048, 1536], "grid": [480, 360]}
    with Image.open(tmp_path / "out" / res.preview) as img:
        assert_quadrants(img)


def test_exif_metadata_is_decoded(image_exif_jpeg: Path, tmp_path: Path) -> None:
    res = process_image(image_exif_jpeg, tmp_path)
    exif = res.metadata["exif"]
    assert exif["make"] == "Mediagate" and exif["model"] == "TestCam X100"
    assert exif["exposure_time"] == pytest.approx(1 / 250)
    assert exif["f_number"] == pytest.approx(2.8)
    assert exif["iso"] == 400
    assert exif["focal_length"] == pytest.approx(50)
    assert exif["lens_model"] == "Mediagate 50mm F2.8"
    assert exif["taken_at"] == "2024-05-06T07:08:09+02:00"
    assert exif["gps"]["latitude"] == pytest.approx(52 + 31 / 60 + 12 / 3600, abs=1e-6)
    assert exif["gps"]["longitude"] == pytest.approx(-1.5, abs=1e-6)
    assert exif["gps"]["altitude"] == pytest.approx(123.4)
    assert json.loads(json.dumps(res.metadata)) == res.metadata
    # Previews never carry the original EXIF (GPS) along.
    with Image.open(tmp_path / res.preview) as img:
        assert not img.getexif()


def test_alpha_png_flattened_for_jpeg_kept_for_webp(image_alpha_png: Path, tmp_path: Path) -> None:
    res = process_image(image_alpha_png, tmp_path)
    assert res.metadata["has_alpha"] is True
    with Image.open(tmp_path / "preview/viewer.jpg") as jpg:
        assert jpg.mode == "RGB"
        assert close(jpg.getpixel((60, 100)), (220, 20, 20), 20)
        assert close(jpg.getpixel((240, 100)), (255, 255, 255), 6)  # white, not blue/black
    with Image.open(tmp_path / "preview/viewer.webp") as webp:
        assert webp.mode == "RGBA"
        assert webp.getpixel((240, 100))[3] == 0
        assert webp.getpixel((60, 100))[3] == 255


def test_real_alpha_photo(tmp_path: Path) -> None:
    src = Path("/usr/share/libjxl-testdata/jxl/flower/flower_alpha.png")
    require(src.exists(), "Debian's libjxl-testdata")
    res = process_image(src, tmp_path, viewer_size=1024)
    assert res.metadata["has_alpha"] is True
    assert res.metadata["exif"]["make"] == "Google"  # real phone EXIF, incl. GPS
    assert "gps" in res.metadata["exif"]
    json.dumps(res.metadata)


def test_palette_and_16bit_grey_png(tmp_path: Path) -> None:
    pal = Image.fromarray(image_media.quadrant_image(120, 80)).convert("P", palette=Image.Palette.ADAPTIVE)
    pal.save(tmp_path / "pal.png")
    grey16 = Image.new("I;16", (90, 60), 40000)
    grey16.save(tmp_path / "grey16.png")
    res = process_image(tmp_path / "pal.png", tmp_path / "a")
    with Image.open(tmp_path / "a" / res.preview) as img:
        assert_quadrants(img)
    res = process_image(tmp_path / "grey16.png", tmp_path / "b")
    with Image.open(tmp_path / "b/preview/viewer.jpg") as img:
        value = img.convert("L").getpixel((45, 30))
        assert abs(value - 40000 * 255 / 65535) <= 3  # scaled, not clipped to white


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("text", "not a supported image"),
        ("empty", "empty file"),
        ("truncated", "truncated"),
        ("bomb", "too large"),
    ],
)
def test_bad_inputs_are_media_errors(image_bad_files: dict[str, Path], tmp_path: Path, case: str, reason: str) -> None:
    with pytest.raises(MediaError, match=reason) as info:
        process_image(image_bad_files[case], tmp_path)
    assert len(str(info.value)) < 300
    assert not list(tmp_path.glob("preview/*"))


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    src = image_media.write_image(tmp_path / "a.png", image_media.quadrant_image(100, 100))
    with pytest.raises(MediaError, match="too large"):
        process_image(src, tmp_path / "out", max_pixels=5000)
    assert process_image(src, tmp_path / "out", max_pixels=10_000).metadata["width"] == 100


def test_unsafe_formats_are_refused(tmp_path: Path) -> None:
    eps = tmp_path / "x.jpg"
    eps.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n")
    with pytest.raises(MediaError, match="not a supported image"):
        process_image(eps, tmp_path)


def test_missing_file_is_not_a_media_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        process_image(tmp_path / "nope.jpg", tmp_path)


def test_embedded_icc_profile_converted_to_srgb(tmp_path: Path) -> None:
    """A Display-P3-tagged image comes out as untagged sRGB with converted pixel values."""
    p3_source = Path("/usr/share/libjxl-testdata/external/wide-gamut-tests/P3-sRGB-red.png")
    require(p3_source.exists(), "Debian's libjxl-testdata")
    from PIL import ImageCms

    icc = Image.open(p3_source).info["icc_profile"]
    src = tmp_path / "p3.png"
    Image.new("RGBA", (120, 80), (200, 100, 100, 255)).save(src, icc_profile=icc)
    expected = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), (200, 100, 100)),
        ImageCms.ImageCmsProfile(io.BytesIO(icc)),
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    ).getpixel((0, 0))
    assert expected != (200, 100, 100)

    res = process_image(src, tmp_path / "out")
    assert res.metadata["icc_profile"] == "DCI-P3-D65-2_2-Gamma"
    with Image.open(tmp_path / "out/preview/viewer.webp") as img:
        assert "icc_profile" not in img.info or not img.info["icc_profile"]
        assert close(img.convert("RGB").getpixel((60, 40)), expected, 3)


def test_cmyk_jpeg(tmp_path: Path) -> None:
    src = tmp_path / "cmyk.jpg"
    img = Image.new("CMYK", (120, 80), (0, 0, 0, 0))
    img.paste((0, 230, 230, 0), (0, 0, 60, 80))  # red left half, white right half
    img.save(src, "JPEG", quality=95)
    res = process_image(src, tmp_path / "out")
    assert res.metadata["mode"] == "CMYK"
    with Image.open(tmp_path / "out/preview/viewer.jpg") as out:
        assert out.mode == "RGB"
        assert close(out.getpixel((30, 40)), (255, 25, 25), 30)
        assert close(out.getpixel((90, 40)), (255, 255, 255), 10)
