"""LOG footage: log-encoded camera colour → Rec.709 display-referred, for stills and video.

All conversions go through OpenColorIO's built-in ``ocio://studio-config-latest``: the
camera's log colorspace (curve + gamut) → the config's ACES 2.0 SDR 100-nit Rec.709 view
on the "Rec.1886 Rec.709 - Display" (BT.709 primaries, BT.1886 gamma 2.4, i.e. what
players assume for untagged/bt709 video). The ACES 2.0 view tone-maps: highlights roll
off instead of clipping at +2.5 stops as a plain colorimetric conversion would (log
footage routinely holds +6 stops), and 18% grey lands at ~0.38 (BT.709 OETF: 0.41).

Our curve names → config colorspaces (looked up by alias, which the config keeps stable):

=========  ==========================================  ===============================
ours       OCIO colorspace (studio config v5 / 2.6)     alias used
=========  ==========================================  ===============================
slog3      S-Log3 S-Gamut3.Cine                         slog3_sgamut3cine
vlog       V-Log V-Gamut                                vlog_vgamut
clog3      CanonLog3 CinemaGamut D55                    canonlog3_cinemagamut_d55
logc3      ARRI LogC3 (EI800)                           arri_logc3_ei800
applelog   Apple Log                                    apple_log
=========  ==========================================  ===============================

Files rarely say which curve they use, so the curve comes from the upload metadata
``colorspace``; when a LOG upload does not name one, :data:`DEFAULT_CURVE` (S-Log3) is
used — see :func:`normalize_curve`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from .result import MediaError

try:  # Imported lazily-failing so that non-LOG processing works without OCIO.
    import PyOpenColorIO as ocio
except ImportError:  # pragma: no cover - opencolorio is a runtime requirement
    ocio = None

OCIO_CONFIG = "ocio://studio-config-latest"
OUTPUT_NAME = "Rec.709"
DISPLAY_CANDIDATES = ("Rec.1886 Rec.709 - Display",)
VIEW_CANDIDATES = (
    "ACES 2.0 - SDR 100 nits (Rec.709)",  # OCIO >= 2.4 studio configs
    "ACES 1.0 - SDR Video",  # older studio configs
)

#: Our curve name → OCIO colorspace names/aliases to try, in order.
CURVES: dict[str, tuple[str, ...]] = {
    "slog3": ("slog3_sgamut3cine", "S-Log3 S-Gamut3.Cine"),
    "vlog": ("vlog_vgamut", "V-Log V-Gamut"),
    "clog3": ("canonlog3_cinemagamut_d55", "CanonLog3 CinemaGamut D55"),
    "logc3": ("arri_logc3_ei800", "ARRI LogC3 (EI800)"),
    "applelog": ("apple_log", "Apple Log"),
}

#: Default when an upload is LOG but names no curve. S-Log3 because Sony bodies
#: (FX/A7S/A7/ZV lines) are the most common source of LOG uploads, and S-Log3's
#: Cineon-like shape (18% grey at ~41% code value) is close to LogC3/V-Log/C-Log3, so a
#: wrong guess on other log footage still gives a watchable, roughly exposed preview.
DEFAULT_CURVE = "slog3"

_ALIASES = {
    "slog3": "slog3",
    "slog3sgamut3cine": "slog3",
    "slog3sgamut3": "slog3",
    "sonyslog3": "slog3",
    "vlog": "vlog",
    "vlogvgamut": "vlog",
    "panasonicvlog": "vlog",
    "clog3": "clog3",
    "canonlog3": "clog3",
    "canonlog3cinemagamut": "clog3",
    "canonlog3cinemagamutd55": "clog3",
    "logc3": "logc3",
    "logc": "logc3",
    "arrilogc3": "logc3",
    "arrilogc": "logc3",
    "arrilogc3ei800": "logc3",
    "applelog": "applelog",
    "log": DEFAULT_CURVE,
    "default": DEFAULT_CURVE,
}


def normalize_curve(name: str | None) -> str:
    """Map a user/metadata curve name to one of :data:`CURVES` (e.g. "S-Log3" → "slog3").

    ``None``, ``""``, ``"log"`` and ``"default"`` mean "LOG, curve unknown" and give
    :data:`DEFAULT_CURVE`. Unknown names raise :class:`MediaError`.
    """
    if name is None or not str(name).strip():
        return DEFAULT_CURVE
    key = re.sub(r"[^a-z0-9]", "", str(name).lower())
    try:
        return _ALIASES[key]
    except KeyError:
        supported = ", ".join(sorted(CURVES))
        raise MediaError(f"unsupported LOG colorspace {name!r} (supported: {supported})") from None


@lru_cache(maxsize=1)
def _config() -> ocio.Config:
    if ocio is None:  # pragma: no cover
        raise MediaError("LOG conversion unavailable: OpenColorIO is not installed")
    return ocio.Config.CreateFromFile(OCIO_CONFIG)


def _first_present(names: tuple[str, ...], available: list[str], what: str) -> str:
    for name in names:
        if name in available:
            return name
    raise MediaError(f"OpenColorIO config {OCIO_CONFIG} has no {what} among {names}")


def ocio_colorspace(curve: str) -> str:
    """The config's colorspace name for one of our curve names (after normalisation)."""
    cfg = _config()
    for candidate in CURVES[normalize_curve(curve)]:
        cs = cfg.getColorSpace(candidate)  # resolves aliases too
        if cs is not None:
            return cs.getName()
    raise MediaError(f"OpenColorIO config {OCIO_CONFIG} lacks a colorspace for {curve!r}")


@lru_cache(maxsize=len(CURVES))
def _cpu_processor(curve: str) -> ocio.CPUProcessor:
    cfg = _config()
    display = _first_present(DISPLAY_CANDIDATES, list(cfg.getDisplays()), "Rec.709 display")
    view = _first_present(VIEW_CANDIDATES, list(cfg.getViews(display)), "SDR Rec.709 view")
    proc = cfg.getProcessor(ocio_colorspace(curve), display, view, ocio.TRANSFORM_DIR_FORWARD)
    return proc.getDefaultCPUProcessor()


def log_to_rec709(rgb: np.ndarray, curve: str) -> np.ndarray:
    """Convert a log-encoded float RGB array (..., 3), values 0–1, to Rec.709 display RGB.

    Returns a new float32 array of the same shape, clipped to 0–1 (BT.1886-encoded).
    """
    arr = np.asarray(rgb, dtype=np.float32)
    if arr.shape[-1:] != (3,):
        raise ValueError(f"expected (..., 3) RGB array, got shape {arr.shape}")
    out = np.ascontiguousarray(arr.reshape(-1, 3)).copy()
    _cpu_processor(normalize_curve(curve)).applyRGB(out)
    return np.clip(out, 0.0, 1.0).reshape(arr.shape)


@lru_cache(maxsize=2 * len(CURVES))
def lut_table(curve: str, size: int = 33) -> np.ndarray:
    """The 3D LUT (size**3, 3) float32 for ``curve``, red index varying fastest.

    This is the order of both the .cube format and Pillow's ``ImageFilter.Color3DLUT``.
    """
    if not 2 <= size <= 129:
        raise ValueError("LUT size must be between 2 and 129")
    steps = np.linspace(0.0, 1.0, size, dtype=np.float32)
    b, g, r = np.meshgrid(steps, steps, steps, indexing="ij")
    grid = np.stack([r.ravel(), g.ravel(), b.ravel()], axis=1)
    table = log_to_rec709(grid, curve)
    table.setflags(write=False)
    return table


def bake_lut(curve: str, path: str | Path, size: int = 33) -> Path:
    """Write a .cube 3D LUT (log ``curve`` → Rec.709) for ffmpeg's ``lut3d`` filter.

    Input domain is the 0–1 RGB ffmpeg feeds the filter (full-range normalised code
    values, as the log curves are defined). Returns the written path.
    """
    canonical = normalize_curve(curve)
    table = lut_table(canonical, size)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    header = (
        f'TITLE "Mediagate {canonical} to {OUTPUT_NAME}"\n'
        f"# OCIO {OCIO_CONFIG}: {ocio_colorspace(canonical)} -> {OUTPUT_NAME}\n"
        f"LUT_3D_SIZE {size}\n"
        "DOMAIN_MIN 0.0 0.0 0.0\n"
        "DOMAIN_MAX 1.0 1.0 1.0\n"
    )
    body = "\n".join(f"{r:.6f} {g:.6f} {b:.6f}" for r, g, b in table.tolist())
    path.write_text(header + body + "\n", encoding="ascii")
    return path


#: LUT resolution used for stills (Pillow applies it with trilinear interpolation).
STILL_LUT_SIZE = 65


@lru_cache(maxsize=len(CURVES))
def _pillow_lut(curve: str) -> ImageFilter.Color3DLUT:
    table = lut_table(curve, STILL_LUT_SIZE)
    return ImageFilter.Color3DLUT(STILL_LUT_SIZE, table.ravel().tolist(), channels=3)


def apply_log_lut(img: Image.Image, curve: str) -> Image.Image:
    """Convert an 8-bit RGB image holding log-encoded pixels to Rec.709.

    Same OCIO transform as :func:`log_to_rec709`, sampled into a 65³ LUT that Pillow
    applies in C: ~6x faster than the exact per-pixel OCIO path; on natural images the
    difference is ~0.3/255 on average, at most ~4/255 (strongly saturated colours).
    """
    if img.mode != "RGB":
        img = img.convert("RGB")
    return img.filter(_pillow_lut(normalize_curve(curve)))


def color_metadata(curve: str) -> dict:
    """The ``color`` metadata block recorded for a converted LOG upload."""
    canonical = normalize_curve(curve)
    return {
        "source_curve": canonical,
        "ocio_colorspace": ocio_colorspace(canonical),
        "output": OUTPUT_NAME,
    }
