"""LOG curves → Rec.709: curve names, OCIO transform, stills, RAW previews and .cube LUTs."""

from __future__ import annotations

import shutil
import subprocess
import warnings
from pathlib import Path

import image_media
import numpy as np
import pytest
from PIL import Image
from processor.media import log
from processor.media.image import process_image
from processor.media.raw import process_raw
from processor.media.result import MediaError
from support.tools import requires

with warnings.catch_warnings():  # colour-science warns that SciPy/Matplotlib are absent
    warnings.simplefilter("ignore")
    import colour

# colour's Canon Log 3 evaluates every branch of its piecewise curve (harmless log10 NaN).
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered in log10:RuntimeWarning")

# colour-science's independent implementations of each camera curve.
ENCODERS = {
    "slog3": colour.models.log_encoding_SLog3,
    "vlog": colour.models.log_encoding_VLog,
    "clog3": colour.models.log_encoding_CanonLog3,
    "logc3": colour.models.log_encoding_ARRILogC3,
    "applelog": colour.models.log_encoding_AppleLogProfile,
}
REC709_GREY = float(colour.models.oetf_BT709(0.18))  # 0.409: 18 % grey in Rec.709
# The ACES 2.0 SDR tone scale puts 18 % grey a little lower (~0.383); allow for that.
GREY_TOL = 0.035


def grey(code: float) -> np.ndarray:
    return np.full((1, 3), code, np.float32)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("slog3", "slog3"),
        ("S-Log3", "slog3"),
        ("SLOG3_SGamut3.Cine", "slog3"),
        ("V-Log", "vlog"),
        ("Canon Log 3", "clog3"),
        ("C-Log3", "clog3"),
        ("LogC", "logc3"),
        ("ARRI LogC3", "logc3"),
        ("Apple Log", "applelog"),
        (None, log.DEFAULT_CURVE),
        ("", log.DEFAULT_CURVE),
        ("log", log.DEFAULT_CURVE),
    ],
)
def test_normalize_curve(name: str | None, expected: str) -> None:
    assert log.normalize_curve(name) == expected


def test_default_is_slog3_and_unknown_curves_are_media_errors() -> None:
    assert log.DEFAULT_CURVE == "slog3"
    with pytest.raises(MediaError, match=r"unsupported LOG colorspace 'hlg'.*slog3"):
        log.normalize_curve("hlg")


def test_every_curve_maps_to_an_ocio_colorspace() -> None:
    names = {curve: log.ocio_colorspace(curve) for curve in log.CURVES}
    assert names["slog3"] == "S-Log3 S-Gamut3.Cine"
    assert names["vlog"] == "V-Log V-Gamut"
    assert names["clog3"].startswith("CanonLog3 CinemaGamut")
    assert names["logc3"].startswith("ARRI LogC3")
    assert names["applelog"] == "Apple Log"


@pytest.mark.parametrize("curve", sorted(ENCODERS))
def test_mid_grey_lands_on_rec709_grey(curve: str) -> None:
    """18 % grey encoded with colour-science's curve decodes to Rec.709 mid grey, neutral.

    This also proves our name → OCIO colorspace mapping picks the right curve.
    """
    code = float(ENCODERS[curve](0.18))
    out = log.log_to_rec709(grey(code), curve)[0]
    assert out[0] == pytest.approx(REC709_GREY, abs=GREY_TOL)
    assert out[0] == pytest.approx(out[1], abs=1e-4) and out[1] == pytest.approx(out[2], abs=1e-4)


@pytest.mark.parametrize("curve", sorted(ENCODERS))
def test_ramp_is_monotonic_and_highlights_roll_off(curve: str) -> None:
    stops = np.arange(-6, 6.5, 0.5)
    codes = np.asarray(ENCODERS[curve](0.18 * 2.0**stops), np.float32)
    out = log.log_to_rec709(np.repeat(codes[:, None], 3, axis=1), curve)[:, 1]
    assert np.all(np.diff(out) > 0)
    assert out[stops == 4][0] < 0.99  # +4 stops is not clipped (tone-mapped)
    assert out[0] < 0.02  # -6 stops is near black


def test_log_to_rec709_keeps_shape_and_validates() -> None:
    arr = np.random.default_rng(0).random((4, 5, 3), dtype=np.float32)
    out = log.log_to_rec709(arr, "vlog")
    assert out.shape == arr.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    with pytest.raises(ValueError):
        log.log_to_rec709(np.zeros((4, 4)), "vlog")


def test_slog3_still_through_process_image(log_slog3_still: Path, tmp_path: Path) -> None:
    res = process_image(log_slog3_still, tmp_path, log_curve="slog3")

    assert res.metadata["color"] == {
        "source_curve": "slog3",
        "ocio_colorspace": "S-Log3 S-Gamut3.Cine",
        "output": "Rec.709",
    }
    code = round(float(colour.models.log_encoding_SLog3(0.18)) * 255) / 255  # as stored (8-bit)
    exact = log.log_to_rec709(grey(code), "slog3")[0, 0]
    for name in ("viewer.jpg", "viewer.webp", "grid.jpg"):
        with Image.open(tmp_path / "preview" / name) as img:
            arr = np.asarray(img.convert("RGB"), np.float32) / 255
        patch = arr[arr.shape[0] * 3 // 4, arr.shape[1] // 2]
        assert patch == pytest.approx([exact] * 3, abs=4 / 255), name
        assert patch[1] == pytest.approx(REC709_GREY, abs=GREY_TOL), name
        ramp = arr[arr.shape[0] // 4, :: max(1, arr.shape[1] // 16), 1]
        assert np.all(np.diff(ramp) > 0), name


def test_log_still_without_curve_is_left_as_is(log_slog3_still: Path, tmp_path: Path) -> None:
    res = process_image(log_slog3_still, tmp_path)
    assert "color" not in res.metadata
    with Image.open(tmp_path / "preview/viewer.jpg") as img:
        value = img.convert("L").getpixel((128, 96)) / 255
    assert value == pytest.approx(float(colour.models.log_encoding_SLog3(0.18)), abs=3 / 255)


def test_unknown_curve_fails_before_any_work(log_slog3_still: Path, tmp_path: Path) -> None:
    with pytest.raises(MediaError, match="unsupported LOG colorspace"):
        process_image(log_slog3_still, tmp_path, log_curve="rec2100")
    assert not (tmp_path / "preview").exists()


def test_raw_log_curve_applies_to_embedded_preview_only(raw_dng_file, tmp_path: Path) -> None:
    """A camera in S-Log3 writes an S-Log3 embedded JPEG; a demosaic is Rec.709 already."""
    code = float(colour.models.log_encoding_SLog3(0.18))
    preview = Image.new("RGB", (600, 400), (round(code * 255),) * 3)
    res = process_raw(raw_dng_file(preview=preview), tmp_path / "e", viewer_size=512, log_curve="S-Log3")
    assert res.metadata["preview_source"] == "embedded_jpeg"
    assert res.metadata["color"]["source_curve"] == "slog3"
    assert res.metadata["color"]["applied_to"] == "embedded_preview"
    with Image.open(tmp_path / "e" / res.preview) as img:
        assert img.convert("L").getpixel((256, 170)) / 255 == pytest.approx(REC709_GREY, abs=GREY_TOL)

    res = process_raw(raw_dng_file(), tmp_path / "d", log_curve="slog3")
    assert res.metadata["preview_source"] == "half_size_demosaic"
    assert res.metadata["color"] == {"source_curve": "camera_raw", "output": "Rec.709", "log_curve_ignored": "slog3"}


def read_cube(path: Path) -> tuple[int, np.ndarray]:
    size, rows = 0, []
    for line in path.read_text().splitlines():
        if line.startswith("LUT_3D_SIZE"):
            size = int(line.split()[1])
        elif line and (line[0].isdigit() or line[0] == "-"):
            rows.append([float(x) for x in line.split()])
    return size, np.array(rows)


def test_bake_lut_writes_a_valid_cube(tmp_path: Path) -> None:
    path = log.bake_lut("S-Log3", tmp_path / "luts" / "slog3.cube", size=17)
    assert path.exists()
    size, table = read_cube(path)
    assert size == 17 and table.shape == (17**3, 3)
    assert table.min() >= 0 and table.max() <= 1
    # Red varies fastest: entry 16 is input (1, 0, 0), entry 16*17 is (0, 1, 0).
    assert table[16] == pytest.approx(log.log_to_rec709(np.array([[1.0, 0, 0]]), "slog3")[0], abs=1e-5)
    assert table[16 * 17] == pytest.approx(log.log_to_rec709(np.array([[0, 1.0, 0]]), "slog3")[0], abs=1e-5)
    with pytest.raises(MediaError):
        log.bake_lut("nope", tmp_path / "x.cube")


@requires(shutil.which("ffmpeg"), "`ffmpeg`")
def test_ffmpeg_accepts_the_lut(tmp_path: Path) -> None:
    cube = log.bake_lut("slog3", tmp_path / "slog3.cube")
    subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=s=64x64:d=0.1",
            "-vf",
            f"lut3d=file={cube}",
            "-f",
            "null",
            "-",
        ],
        check=True,
        timeout=60,
    )


@requires(shutil.which("ffmpeg"), "`ffmpeg`")
@pytest.mark.parametrize("curve", ["slog3", "logc3"])
def test_ffmpeg_lut_matches_ocio(tmp_path: Path, curve: str) -> None:
    """Coloured RGB pixels through ffmpeg lut3d ≈ the exact OCIO conversion (channel order)."""
    cube = log.bake_lut(curve, tmp_path / f"{curve}.cube")
    pixels = np.array([[0.6, 0.45, 0.3], [0.3, 0.5, 0.62], [0.41, 0.41, 0.41], [0.55, 0.3, 0.35]], np.float32)
    rgb = (pixels * 255).round().astype(np.uint8)
    out = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            "4x1",
            "-i",
            "-",
            "-vf",
            f"lut3d=file={cube}",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ],
        input=rgb.tobytes(),
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    got = np.frombuffer(out, np.uint8).reshape(4, 3) / 255
    expected = log.log_to_rec709(rgb / 255, curve)
    assert got == pytest.approx(expected, abs=6 / 255)


def test_apply_log_lut_matches_exact_conversion() -> None:
    """The 65³ LUT used for stills stays within a few levels of the exact OCIO path."""
    rng = np.random.default_rng(3)  # natural-ish: shared luminance, mild chroma
    luma = rng.normal(0.45, 0.1, (64, 64, 1))
    arr = np.clip(luma + rng.normal(0, 0.025, (64, 64, 3)), 0, 1)
    img = Image.fromarray((arr * 255).round().astype(np.uint8))
    fast = np.asarray(log.apply_log_lut(img, "vlog"), np.float32) / 255
    exact = log.log_to_rec709(np.asarray(img, np.float32) / 255, "vlog")
    assert np.abs(fast - exact).max() < 5 / 255
    assert np.abs(fast - exact).mean() < 1 / 255


def test_quadrant_helper_sanity() -> None:
    # guards the helpers the still tests rely on
    assert image_media.quadrant_colors(Image.fromarray(image_media.quadrant_image(8, 8)))["tl"] == image_media.RED
