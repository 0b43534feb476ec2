#!/usr/bin/env python3
"""Benchmark the image and RAW processors.

1. RAW: time to previews for a 24 MP DNG via the embedded-preview path and via the
   half-size demosaic path, against rawpy's full ``postprocess()`` of the same file;
   the camera metadata read (ExifTool) per file.
2. Images: previews per second of ``process_image`` (4 previews + metadata + ThumbHash
   per photo) against Debian's ``vipsthumbnail`` making the same 4 previews (grid 480 and
   viewer 2048, WebP q80 + JPEG q85) of the same photos: the libjxl-testdata photos
   (2268x1512) and 24 MP JPEGs generated from them.

Usage: .venv/bin/python bench/process_images.py [--repeat N] [--only raw|images]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import rawpy
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "container"), str(ROOT / "tests" / "processor")]

import image_media  # noqa: E402  (test media generators, shared with the tests)
from processor.media.image import process_image  # noqa: E402
from processor.media.metadata import exif_fields  # noqa: E402
from processor.media.raw import _embedded_preview, process_raw  # noqa: E402

FLOWER = Path("/usr/share/libjxl-testdata/jxl/flower")
GRID, VIEWER = 480, 2048


def timed(fn: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs (after one warm-up run)."""
    fn()
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    return statistics.median(runs)


def source_photo() -> Image.Image:
    """The libjxl flower photo, or a generated stand-in if libjxl-testdata is absent."""
    if (FLOWER / "flower.png").exists():
        return Image.open(FLOWER / "flower.png").convert("RGB")
    rng = np.random.default_rng(0)
    base = image_media.quadrant_image(2268, 1512).astype(np.int16)
    return Image.fromarray(np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8))


def bench_raw(work: Path, photo: Image.Image, repeat: int) -> None:
    print("== RAW (24 MP synthetic DNG, 16-bit uncompressed, RGGB) ==")
    big = photo.resize((6000, 4000), Image.Resampling.LANCZOS)
    linear = (np.asarray(big, np.float32) / 255.0) ** 2.2
    with_preview = image_media.write_dng(work / "preview.dng", linear, preview=big)
    no_preview = image_media.write_dng(work / "plain.dng", linear)
    del linear

    t_embedded = timed(lambda: process_raw(with_preview, work / "raw_e"), repeat)
    t_half = timed(lambda: process_raw(no_preview, work / "raw_h"), repeat)

    def full() -> None:
        with rawpy.imread(str(no_preview)) as raw:
            raw.postprocess()

    t_full = timed(full, max(1, repeat // 2))

    def embedded_pixels() -> None:  # extract_thumb + draft decode + flip, no encoding
        with rawpy.imread(str(with_preview)) as raw:
            img, _ = _embedded_preview(raw, VIEWER, (raw.sizes.width, raw.sizes.height))
            assert img is not None

    def half_pixels() -> None:
        with rawpy.imread(str(no_preview)) as raw:
            raw.postprocess(half_size=True, use_camera_wb=True, output_bps=8)

    t_emb_px = timed(embedded_pixels, repeat)
    t_half_px = timed(half_pixels, repeat)
    md_e = process_raw(with_preview, work / "raw_e").metadata
    md_h = process_raw(no_preview, work / "raw_h").metadata
    assert md_e["preview_source"] == "embedded_jpeg", md_e["preview_source"]
    assert md_h["preview_source"] == "half_size_demosaic", md_h["preview_source"]
    print(f"process_raw, embedded 6000x4000 JPEG preview : {t_embedded:7.3f} s  (4 previews)")
    print(f"process_raw, half-size demosaic              : {t_half:7.3f} s  (4 previews)")
    print(f"rawpy full postprocess() (AHD, full size)    : {t_full:7.3f} s  (demosaic only, no previews)")
    print(f"ratio full / embedded                        : {t_full / t_embedded:7.1f}x")
    print(f"ratio full / half-size                       : {t_full / t_half:7.1f}x")
    print("pixels only (no preview encoding):")
    print(f"  embedded: extract_thumb + draft decode    : {t_emb_px:7.3f} s  -> full is {t_full / t_emb_px:5.1f}x")
    print(f"  postprocess(half_size=True)               : {t_half_px:7.3f} s  -> full is {t_full / t_half_px:5.1f}x")
    t_meta = timed(lambda: exif_fields(with_preview), repeat * 10)  # the warm-up run starts exiftool
    assert exif_fields(with_preview)["exif"]["make"] == "Mediagate"
    print(f"camera metadata (exif_fields, running exiftool): {t_meta * 1000:6.1f} ms per file")
    print()


def vips_previews(photos: list[Path], out: Path, env: dict[str, str]) -> None:
    """The same 4 previews with vipsthumbnail: one invocation per size/format, all photos."""
    out.mkdir(parents=True, exist_ok=True)
    for size, tag in ((VIEWER, "viewer"), (GRID, "grid")):
        for ext, opts in (("webp", "[Q=80]"), ("jpg", "[Q=85,strip]")):
            cmd = ["vipsthumbnail", *map(str, photos), "-s", str(size), "-o", f"{out}/%s_{tag}.{ext}{opts}"]
            subprocess.run(cmd, check=True, env=env)


def bench_images(work: Path, photo: Image.Image, repeat: int) -> None:
    sets: dict[str, list[Path]] = {}
    real = sorted(FLOWER.glob("flower.png.im_q85_4*.jpg"))
    if real:
        sets[f"libjxl photos 2268x1512 (x{len(real)})"] = real
    big = photo.resize((6000, 4000), Image.Resampling.LANCZOS)
    gen = []
    for i, angle in enumerate((0, 180, 90)):
        path = work / f"photo24mp_{i}.jpg"
        big.rotate(angle, expand=True).save(path, "JPEG", quality=90)
        gen.append(path)
    sets["generated 24 MP JPEGs (x3)"] = gen
    vips = shutil.which("vipsthumbnail")
    print("== Images: process_image vs vipsthumbnail (4 previews per photo: 480+2048, WebP+JPEG) ==")
    if not vips:
        print("(vipsthumbnail not installed: apt-get install libvips-tools)")
    for name, photos in sets.items():
        n = len(photos) * 4

        def ours(photos: list[Path] = photos) -> None:
            for p in photos:
                process_image(p, work / "ours" / p.stem)

        t_ours = timed(ours, repeat)
        print(f"{name}:")
        print(f"  process_image            : {n / t_ours:6.1f} previews/s ({len(photos) / t_ours:5.2f} photos/s)")
        if vips:
            for label, conc in (("vipsthumbnail (2 threads)", None), ("vipsthumbnail (1 thread) ", "1")):
                env = dict(os.environ)
                if conc:
                    env["VIPS_CONCURRENCY"] = conc
                t_vips = timed(lambda photos=photos, env=env: vips_previews(photos, work / "vips", env), repeat)
                print(
                    f"  {label}: {n / t_vips:6.1f} previews/s ({len(photos) / t_vips:5.2f} photos/s)"
                    f"  -> process_image is {t_vips / t_ours:4.2f}x vips' speed"
                )
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per measurement (median)")
    parser.add_argument("--only", choices=["raw", "images"], help="run one part only")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}  rawpy {rawpy.__version__} (LibRaw {'.'.join(map(str, rawpy.libraw_version))})")
    photo = source_photo()
    with tempfile.TemporaryDirectory(prefix="mediagate-bench-") as tmp:
        work = Path(tmp)
        if args.only != "images":
            bench_raw(work, photo, args.repeat)
        if args.only != "raw":
            bench_images(work, photo, args.repeat)


if __name__ == "__main__":
    main()
