"""processor.media.metadata / .exiftool on generated media with the real exiftool.

Images (Pillow JPEG/PNG/WebP/TIFF with EXIF date, offset and GPS; Debian's JPEG XL test
photo), a pidng DNG, ffmpeg MP4/MOV clips carrying creation_time, ISO 6709 locations and
Apple/Android camera tags; then the process itself: killed between and during commands,
stopped past its deadline, missing, shared by threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import image_media
import pytest
import video_media
from PIL import Image
from processor.media import metadata
from processor.media.exiftool import ExifToolPool, ExifToolTimeout
from processor.media.image import process_image
from processor.media.video import process_video
from support.tools import require, require_tool

LIBJXL_EXIF = Path("/usr/share/libjxl-testdata/jxl/jpeg_reconstruction")

#: What image_media.camera_exif() holds, as metadata.exif_fields reports it.
CAMERA_EXIF = {
    "make": "Mediagate",
    "model": "TestCam X100",
    "lens_model": "Mediagate 50mm F2.8",
    "exposure_time": 0.004,
    "f_number": 2.8,
    "iso": 400,
    "focal_length": 50.0,
    "taken_at": "2024-05-06T07:08:09+02:00",
    "gps": {"latitude": 52.52, "longitude": -1.5, "altitude": 123.4},
}


@pytest.fixture(scope="module")
def exiftool() -> str:
    return require_tool("exiftool")


@pytest.fixture()
def pool(exiftool: str) -> Iterator[ExifToolPool]:
    p = ExifToolPool(exiftool, size=3, timeout=30, common_args=metadata.COMMON_ARGS)
    yield p
    p.close()


def fields(path: Path, pool: ExifToolPool) -> dict:
    return metadata.exif_fields(path, pool)


def wait_dead(pid: int, timeout: float = 5) -> None:
    """Until ``pid`` has exited (gone, or a zombie its parent has not reaped yet)."""
    stat = Path(f"/proc/{pid}/stat")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if stat.read_text().rsplit(")", 1)[1].split()[0] in ("Z", "X"):
                return
        except (FileNotFoundError, ProcessLookupError):
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} still alive")


# --- images and RAW -------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".webp", ".tiff"])
def test_pillow_images_with_exif(tmp_path: Path, pool: ExifToolPool, suffix: str) -> None:
    """DateTimeOriginal + OffsetTimeOriginal → taken_at with the offset; GPS signed (S/W)."""
    src = tmp_path / f"camera{suffix}"
    exif = image_media.camera_exif(6).tobytes()
    Image.fromarray(image_media.quadrant_image(64, 48)).save(src, exif=exif)
    assert fields(src, pool) == {"exif": CAMERA_EXIF}


def test_jpeg_xl_and_its_jpeg_from_libjxl_testdata(pool: ExifToolPool) -> None:
    """A real JPEG XL (EXIF in a JXL box) reads the same as the JPEG it was made from."""
    jxl, jpg = LIBJXL_EXIF / "1x1_exif_xmp.jxl", LIBJXL_EXIF / "1x1_exif_xmp.jpg"
    require(jxl.exists() and jpg.exists(), "Debian's libjxl-testdata")
    expected = {"software": "GIMP 2.10.28", "taken_at": "2021-10-27T18:59:15"}  # ModifyDate: no offset
    assert fields(jxl, pool) == fields(jpg, pool) == {"exif": expected}


def test_real_phone_photo(pool: ExifToolPool) -> None:
    src = Path("/usr/share/libjxl-testdata/jxl/flower/flower_alpha.png")
    require(src.exists(), "Debian's libjxl-testdata")
    exif = fields(src, pool)["exif"]
    assert (exif["make"], exif["model"], exif["iso"]) == ("Google", "Pixel 6", 172)
    assert exif["taken_at"] == "2022-04-25T15:33:57+00:00"
    assert exif["gps"] == pytest.approx({"latitude": 32.6534194, "longitude": -16.8881611, "altitude": 259.93})


def test_dng_camera_metadata(raw_dng_file, pool: ExifToolPool) -> None:
    assert fields(raw_dng_file(), pool) == {
        "exif": {
            "make": "Mediagate",
            "model": "Synth 1",
            "software": "PiDNG",
            "lens_make": "Mediagate Optics",
            "lens_model": "Mediagate 50mm F2.8",
            "artist": "Ada Lovelace",
            "dng_version": "1.4.0.0",
            "exposure_time": 0.004,
            "f_number": 2.8,
            "iso": 400,
            "focal_length": 50.0,
            "taken_at": "2024-05-06T07:08:09",  # no OffsetTimeOriginal in the file
            "gps": {"latitude": 52.52, "longitude": -1.5, "altitude": 123.4},
        }
    }


def test_unreadable_files_never_raise(tmp_path: Path, pool: ExifToolPool) -> None:
    junk = tmp_path / "junk.nef"
    junk.write_bytes(os.urandom(4096))
    assert fields(junk, pool) == {"exif": {}, "exif_unavailable": "exiftool: File format error"}
    text = tmp_path / "notes.txt"
    text.write_text("no metadata here\n")
    assert fields(text, pool) == {"exif": {}}
    odd = tmp_path / "line\nbreak.jpg"
    odd.write_bytes(b"")
    assert fields(odd, pool) == {"exif": {}, "exif_unavailable": "file name has a line break"}


# --- video ----------------------------------------------------------------------------


def clip(path: Path, *metadata_args: str) -> Path:
    """A 1 s 160x120 clip (mp4/mov by suffix) with ``-metadata``/``-movflags`` arguments."""
    video_media.ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10:duration=1",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
        *metadata_args, str(path),
    )  # fmt: skip
    return path


def test_mp4_creation_time_and_location(tmp_path: Path, pool: ExifToolPool) -> None:
    """ffmpeg's creation_time is the movie header date (UTC); its location a 3GPP loci box."""
    src = clip(
        tmp_path / "clip.mp4",
        *("-metadata", "creation_time=2024-05-06T07:08:09Z"),
        *("-metadata", "location=+52.5200-001.5000+123.400/"),
    )
    exif = fields(src, pool)["exif"]
    assert exif["taken_at"] == "2024-05-06T07:08:09+00:00"
    assert exif["gps"] == pytest.approx({"latitude": 52.52, "longitude": -1.5, "altitude": 123.4}, abs=1e-4)
    assert "make" not in exif


def test_mov_iso6709_location(tmp_path: Path, pool: ExifToolPool) -> None:
    """QuickTime's ©xyz (what Android phones write): ISO 6709 without altitude."""
    src = clip(
        tmp_path / "clip.mov",
        *("-metadata", "creation_time=2023-12-31T23:59:58Z"),
        *("-metadata", "location=-33.8568+151.2153/"),
    )
    assert fields(src, pool) == {
        "exif": {"taken_at": "2023-12-31T23:59:58+00:00", "gps": {"latitude": -33.8568, "longitude": 151.2153}}
    }


def test_apple_quicktime_tags(tmp_path: Path, pool: ExifToolPool) -> None:
    """iPhone keys: make/model, creationdate in local time with its offset (wins over UTC)."""
    src = clip(
        tmp_path / "iphone.mov",
        *("-movflags", "+use_metadata_tags"),
        *("-metadata", "com.apple.quicktime.make=Apple"),
        *("-metadata", "com.apple.quicktime.model=iPhone 15 Pro"),
        *("-metadata", "com.apple.quicktime.software=17.4"),
        *("-metadata", "com.apple.quicktime.creationdate=2024-05-06T09:08:09+0200"),
        *("-metadata", "com.apple.quicktime.location.ISO6709=+52.5200-001.5000+123.400/"),
        *("-metadata", "creation_time=2024-05-06T07:08:09Z"),
    )
    assert fields(src, pool) == {
        "exif": {
            "make": "Apple",
            "model": "iPhone 15 Pro",
            "software": "17.4",
            "taken_at": "2024-05-06T09:08:09+02:00",
            "gps": {"latitude": 52.52, "longitude": -1.5, "altitude": 123.4},
        }
    }


def test_android_quicktime_tags(tmp_path: Path, pool: ExifToolPool) -> None:
    src = clip(
        tmp_path / "pixel.mp4",
        *("-movflags", "+use_metadata_tags"),
        *("-metadata", "com.android.manufacturer=Google"),
        *("-metadata", "com.android.model=Pixel 8"),
        *("-metadata", "creation_time=2024-05-06T07:08:09Z"),
    )
    assert fields(src, pool) == {
        "exif": {"make": "Google", "model": "Pixel 8", "taken_at": "2024-05-06T07:08:09+00:00"}
    }


def test_process_video_records_exif(tmp_path: Path, exiftool: str) -> None:
    """The video processor's result carries metadata.exif like images and RAW do."""
    src = clip(
        tmp_path / "clip.mov",
        *("-metadata", "creation_time=2024-05-06T07:08:09Z"),
        *("-metadata", "location=+52.5200-001.5000/"),
    )
    result = process_video(src, tmp_path / "out", rungs=(120,), preset="ultrafast")
    assert result.metadata["exif"] == {
        "taken_at": "2024-05-06T07:08:09+00:00",
        "gps": {"latitude": 52.52, "longitude": -1.5},
    }
    assert "exif_unavailable" not in result.metadata


# --- the process: missing, crashed, hung, shared ---------------------------------------


def test_missing_exiftool_still_makes_previews(
    image_exif_jpeg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metadata, "_pool", ExifToolPool("/nonexistent/exiftool"))
    res = process_image(image_exif_jpeg, tmp_path)
    assert res.metadata["exif"] == {}
    assert res.metadata["exif_unavailable"] == "/nonexistent/exiftool is not installed"
    assert res.preview and (tmp_path / res.preview).stat().st_size > 0
    assert res.metadata["previews"]["viewer"]


def test_killed_between_commands_is_restarted(image_exif_jpeg: Path, exiftool: str) -> None:
    pool = ExifToolPool(exiftool, size=1, common_args=metadata.COMMON_ARGS)
    try:
        assert fields(image_exif_jpeg, pool)["exif"] == CAMERA_EXIF
        [pid] = pool.pids()
        os.kill(pid, signal.SIGKILL)
        wait_dead(pid)
        assert fields(image_exif_jpeg, pool)["exif"]["make"] == "Mediagate"  # retried on a new process
        [new_pid] = pool.pids()
        assert new_pid != pid
    finally:
        pool.close()
    assert pool.pids() == []


def test_crash_during_a_command_fails_that_command_only(image_exif_jpeg: Path, exiftool: str) -> None:
    pool = ExifToolPool(exiftool, size=1, common_args=metadata.COMMON_ARGS)
    try:
        fields(image_exif_jpeg, pool)
        [pid] = pool.pids()
        os.kill(pid, signal.SIGSTOP)  # it will have our command, unanswered, when it dies
        result: dict = {}
        reader = threading.Thread(target=lambda: result.update(fields(image_exif_jpeg, pool)))
        reader.start()
        time.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        reader.join(10)
        assert not reader.is_alive()
        assert result["exif"] == {}
        assert result["exif_unavailable"].startswith("exiftool exited (status -9)")
        assert fields(image_exif_jpeg, pool)["exif"]["model"] == "TestCam X100"
        assert pool.pids() != [pid]
    finally:
        pool.close()


def test_hung_exiftool_times_out_and_is_replaced(image_exif_jpeg: Path, exiftool: str) -> None:
    pool = ExifToolPool(exiftool, size=1, timeout=1.0, common_args=metadata.COMMON_ARGS)
    try:
        pool.execute(["-ver"], timeout=30)  # started (Perl's start-up is not what we time)
        [pid] = pool.pids()
        os.kill(pid, signal.SIGSTOP)
        t0 = time.monotonic()
        with pytest.raises(ExifToolTimeout, match="no answer within 1 s"):
            pool.execute(["-ver"])
        assert time.monotonic() - t0 < 3
        wait_dead(pid)  # killed, not left stopped
        out, _ = pool.execute(["-EXIF:ISO#", str(image_exif_jpeg)], timeout=30)  # a new process answers
        assert b'"EXIF:ISO": 400' in out
    finally:
        pool.close()


def test_timeout_is_reported_in_metadata(image_exif_jpeg: Path, exiftool: str) -> None:
    pool = ExifToolPool(exiftool, size=1, timeout=0.5, common_args=metadata.COMMON_ARGS)
    try:
        pool.execute(["-ver"], timeout=30)
        [pid] = pool.pids()
        os.kill(pid, signal.SIGSTOP)
        assert fields(image_exif_jpeg, pool) == {"exif": {}, "exif_unavailable": "exiftool gave no answer within 0.5 s"}
    finally:
        pool.close()


@pytest.mark.parametrize("size", [1, 3])
def test_concurrent_jobs_share_the_pool(tmp_path: Path, raw_dng_file, exiftool: str, size: int) -> None:
    """Threads (the processor's concurrent jobs) each get a whole answer for their own file."""
    files = {}
    for i in range(4):
        exif = image_media.camera_exif(1)
        exif[0x0110] = f"Camera {i}"
        files[image_media.write_image(tmp_path / f"cam{i}.jpg", image_media.quadrant_image(32, 32), exif=exif)] = (
            f"Camera {i}"
        )
    files[raw_dng_file()] = "Synth 1"
    pool = ExifToolPool(exiftool, size=size, common_args=metadata.COMMON_ARGS)
    running: list[int] = []

    def model(path: Path) -> str:
        found = fields(path, pool)["exif"]["model"]
        running.append(len(pool.pids()))
        return found

    try:
        work = list(files) * 6
        with ThreadPoolExecutor(max_workers=6) as ex:
            models = list(ex.map(model, work))
        assert models == [files[p] for p in work]
        assert 1 <= max(running) <= size
    finally:
        pool.close()


def test_processor_killed_takes_its_exiftool_along(tmp_path: Path, image_exif_jpeg: Path, exiftool: str) -> None:
    """ExifTool ignores the end of its input; the kernel kills it with the processor."""
    script = (
        "import os, signal, sys\n"
        "from processor.media import metadata\n"
        "assert metadata.exif_fields(sys.argv[1])['exif']['make'] == 'Mediagate'\n"
        "print(*metadata.pool().pids(), flush=True)\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(metadata.__file__).parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", script, str(image_exif_jpeg)], capture_output=True, text=True, env=env, timeout=60
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    [pid] = [int(p) for p in proc.stdout.split()]
    wait_dead(pid)


def test_starting_thread_gone_means_a_fresh_process(image_exif_jpeg: Path, exiftool: str) -> None:
    """The kernel also kills exiftool when the thread that started it ends: the pool restarts it."""
    pool = ExifToolPool(exiftool, size=1, common_args=metadata.COMMON_ARGS)
    try:
        started: list[int] = []
        starter = threading.Thread(target=lambda: (fields(image_exif_jpeg, pool), started.extend(pool.pids())))
        starter.start()
        starter.join()
        [pid] = started
        wait_dead(pid)
        assert fields(image_exif_jpeg, pool)["exif"]["model"] == "TestCam X100"
        [new_pid] = pool.pids()
        assert new_pid != pid
    finally:
        pool.close()


def test_oversized_reply_is_refused(image_exif_jpeg: Path, exiftool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from processor.media import exiftool as exiftool_module

    pool = ExifToolPool(exiftool, size=1, common_args=metadata.COMMON_ARGS)
    try:
        pool.execute(["-ver"], timeout=30)
        [pid] = pool.pids()
        monkeypatch.setattr(exiftool_module, "MAX_REPLY_BYTES", 64)
        assert fields(image_exif_jpeg, pool) == {"exif": {}, "exif_unavailable": "exiftool reply too large"}
        wait_dead(pid)
    finally:
        pool.close()


def test_line_breaks_never_reach_the_protocol(exiftool: str) -> None:
    pool = ExifToolPool(exiftool, size=1)
    try:
        with pytest.raises(ValueError, match="line breaks"):
            pool.execute(["-ver\n-all"])
        out, _ = pool.execute(["-ver"])
        assert out.decode().strip().replace(".", "").isdigit()
    finally:
        pool.close()


# --- dates ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "offset", "expected"),
    [
        ("2024:05:06 07:08:09", None, "2024-05-06T07:08:09"),
        ("2024:05:06 07:08:09", "+02:00", "2024-05-06T07:08:09+02:00"),
        ("2024:05:06 07:08:09", "-0530", "2024-05-06T07:08:09-05:30"),
        ("2024:05:06 07:08:09.123+01:00", "+02:00", "2024-05-06T07:08:09+01:00"),  # the value's own wins
        ("2024-05-06T07:08:09Z", None, "2024-05-06T07:08:09+00:00"),
        ("2024:05:06 07:08", None, "2024-05-06T07:08:00"),
        ("0000:00:00 00:00:00", None, None),  # unset
        ("2024:13:40 07:08:09", None, None),
        ("    :  :     :  :  ", None, None),
        ("2024:05:06 07:08:09", "+99:00", "2024-05-06T07:08:09"),  # bad offset ignored
        (20240506, None, None),
    ],
)
def test_iso_datetime(value: object, offset: object, expected: str | None) -> None:
    assert metadata.iso_datetime(value, offset) == expected
