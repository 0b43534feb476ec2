"""Video processing against real ffmpeg: HLS ladder, master playlist, poster, storyboard."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
from pathlib import Path

import m3u8
import numpy as np
import pytest
import video_media
from PIL import Image
from processor.media import video as video_mod
from processor.media.ffrun import ProcessingTimeout
from processor.media.hls import Rung, peak_bitrate, plan_ladder
from processor.media.result import MediaError, ProcessResult
from processor.media.video import probe_video, process_video

SMALL_RUNGS = (540, 360, 240)  # the default ladder shape, at a size that keeps tests fast


def play(master: Path) -> None:
    """Decode every rendition of an HLS presentation; fails the test on any error."""
    proc = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(master), "-map", "0", "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and not proc.stderr.strip(), proc.stderr


def ffmpeg_children() -> list[int]:
    """ffmpeg/nice processes whose parent is this test process."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        if ppid == os.getpid() and comm in ("ffmpeg", "nice"):
            pids.append(int(entry))
    return pids


def segment_bitrates(playlist: Path) -> tuple[list[int], list[float], float]:
    pl = m3u8.load(str(playlist))
    sizes = [(playlist.parent / s.uri).stat().st_size for s in pl.segments]
    return sizes, [float(s.duration) for s in pl.segments], float(pl.target_duration)


# --- the main clip, processed once -----------------------------------------------------


@pytest.fixture(scope="module")
def landscape(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """8 s of 960x540 with audio → 540p/360p/240p, with every callback recorded."""
    tmp = tmp_path_factory.mktemp("landscape")
    src = video_media.write_video(tmp / "clip.mp4", size="960x540", duration=8)
    out = tmp / "out"
    events: list[tuple[str, object]] = []
    first: dict = {}

    def on_first_playable(rel: str) -> None:
        master = out / rel
        events.append(("first", rel))
        first["master_text"] = master.read_text()
        first["files"] = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
        # what was published so far is a valid, playable (growing) presentation
        snap = {rel: path.read_bytes() for rel, path in published}
        first["published"] = snap
        first["played"] = True

    published: list[tuple[str, Path]] = []

    def on_publish(items: list[tuple[str, Path]]) -> None:
        events.append(("publish", [rel for rel, _ in items]))
        published.extend(items)

    split = video_mod.SPLIT_DIRECT_PLAY
    video_mod.SPLIT_DIRECT_PLAY = True  # the split under test (a direct-play MP4 takes one run)
    try:
        result = _process_landscape(src, out, events, on_first_playable, on_publish)
    finally:
        video_mod.SPLIT_DIRECT_PLAY = split
    events.append(("returned", None))
    return {"src": src, "out": out, "result": result, "events": events, "first": first}


def _process_landscape(src: Path, out: Path, events: list, on_first_playable, on_publish) -> ProcessResult:
    return process_video(
        src,
        out,
        rungs=SMALL_RUNGS,
        on_progress=lambda p: events.append(("progress", p)),
        on_first_playable=on_first_playable,
        on_publish=on_publish,
        on_poster=lambda poster, info: events.append(("poster", (poster.thumbnail, info["direct_play"]))),
    )


def test_result_shape_and_outputs(landscape: dict) -> None:
    result: ProcessResult = landscape["result"]
    out: Path = landscape["out"]
    assert result.hls_master == "hls/master.m3u8"
    assert result.preview == "preview/viewer.jpg" and result.thumbnail == "preview/grid.jpg"
    assert result.placeholder and isinstance(result.placeholder, str)
    paths = [o.path for o in result.outputs]
    assert len(paths) == len(set(paths))
    for o in result.outputs:
        assert (out / o.path).is_file(), o.path
    on_disk = sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())
    assert sorted(paths) == on_disk  # nothing written that is not reported, no temp files left
    types = {o.path: o.content_type for o in result.outputs}
    assert types["hls/master.m3u8"] == "application/vnd.apple.mpegurl"
    assert types["storyboard/storyboard.vtt"] == "text/vtt"
    assert all(types[p] == "video/mp4" for p in paths if p.startswith("hls/540p/") and not p.endswith(".m3u8"))
    assert all(types[p] == "audio/mp4" for p in paths if p.startswith("hls/audio/") and not p.endswith(".m3u8"))
    json.dumps(result.metadata)  # JSON-serialisable
    md = result.metadata
    assert md["duration"] == pytest.approx(8.0, abs=0.1)
    assert (md["width"], md["height"], md["video_codec"], md["audio_codec"]) == (960, 540, "h264", "aac")
    assert [r["name"] for r in md["rungs"]] == ["540p", "360p", "240p"]  # closest to 720p first
    assert md["strategy"]["name"] == "low-rung-first"
    t = md["timings"]
    assert 0 < t["first_playable_s"] < t["total_s"]


def test_master_playlist_is_true_to_segments(landscape: dict) -> None:
    hls = landscape["out"] / "hls"
    master = m3u8.load(str(hls / "master.m3u8"))
    assert master.is_variant
    assert len(master.media) == 1 and master.media[0].type == "AUDIO"
    audio_pl = hls / master.media[0].uri
    a_sizes, a_durs, a_target = segment_bitrates(audio_pl)
    by_res = {}
    for p in master.playlists:
        si = p.stream_info
        assert si.audio == master.media[0].group_id
        rung_pl = hls / p.uri
        sizes, durs, target = segment_bitrates(rung_pl)
        expected_peak = peak_bitrate(sizes, durs, target) + peak_bitrate(a_sizes, a_durs, a_target)
        expected_avg = sum(sizes) * 8 / sum(durs) + sum(a_sizes) * 8 / sum(a_durs)
        assert si.bandwidth == pytest.approx(expected_peak, abs=2)
        assert si.average_bandwidth == pytest.approx(expected_avg, abs=2)
        assert si.bandwidth >= si.average_bandwidth
        # peak is at least every full-length single segment's rate
        assert all(si.bandwidth > s * 8 / d for s, d in zip(sizes, durs, strict=True) if d >= target / 2)
        st = video_media.video_stream(rung_pl)
        assert si.resolution == (int(st["width"]), int(st["height"]))
        assert st["profile"] == "High"
        assert si.codecs == f"avc1.6400{int(st['level']):02x},mp4a.40.2"
        assert si.frame_rate == pytest.approx(30.0)
        by_res[si.resolution] = p.uri
    assert by_res == {(960, 540): "540p/index.m3u8", (640, 360): "360p/index.m3u8", (426, 240): "240p/index.m3u8"}
    for uri in by_res.values():
        pl = m3u8.load(str(hls / uri))
        # the lowest rung was published while it grew (EVENT, closed); the others are VOD
        assert pl.playlist_type == ("event" if uri.startswith("240p/") else "vod")
        assert pl.is_endlist and pl.segment_map
        assert pl.target_duration <= 6
        assert sum(s.duration for s in pl.segments) == pytest.approx(8.0, abs=0.1)
    play(hls / "master.m3u8")


def test_keyframes_align_every_two_seconds(landscape: dict) -> None:
    """The ladder's keyframes every 2 s in every run; the low rung's own run adds one each second between."""
    hls = landscape["out"] / "hls"
    per_rung = {name: video_media.keyframe_times(hls / name / "index.m3u8") for name in ("540p", "360p", "240p")}
    low = per_rung["240p"]
    assert len(low) == 8  # 0, 1, … 7 s in an 8 s clip whose source has one keyframe
    start = low[0]
    for t in low:
        assert t - start == pytest.approx(round(t - start), abs=0.02)
    ladder = [t for t in low if round(t - start) % 2 == 0]
    for name in ("540p", "360p"):
        assert per_rung[name] == pytest.approx(ladder, abs=1e-3)
    # segment boundaries: identical across the upper (VOD, 6 s) rungs; the progressive rung cuts
    # at every keyframe (1 s), so each upper-rung boundary is one of its boundaries too
    durations = {n: [s.duration for s in m3u8.load(str(hls / n / "index.m3u8")).segments] for n in per_rung}
    assert durations["540p"] == durations["360p"]
    assert durations["240p"] == pytest.approx([1.0] * 8, abs=0.01)

    def bounds(durs: list[float]) -> set[float]:
        return {round(sum(durs[: i + 1]), 2) for i in range(len(durs))}

    assert bounds(durations["540p"]) <= bounds(durations["240p"])


def test_first_playable_before_return(landscape: dict) -> None:
    events = landscape["events"]
    kinds = [k for k, _ in events]
    assert kinds.count("first") == 1
    assert kinds.index("first") < kinds.index("returned")
    first = landscape["first"]
    assert first["played"]
    provisional = m3u8.loads(first["master_text"])
    assert [p.uri for p in provisional.playlists] == ["240p/index.m3u8"]
    assert provisional.playlists[0].stream_info.average_bandwidth > 0
    assert "hls/240p/index.m3u8" in first["files"] and "hls/audio/index.m3u8" in first["files"]
    assert "hls/540p/index.m3u8" not in first["files"]  # the upper rungs were not finished yet
    # the poster came first, then the published rung; every URI it lists was published before it
    assert kinds.index("poster") < kinds.index("publish") < kinds.index("first")
    assert dict(landscape["events"])["poster"] == ("preview/grid.jpg", True)  # H.264/AAC MP4: direct play
    pub = first["published"]
    assert m3u8.loads(pub["hls/master.m3u8"].decode()).playlists[0].uri == "240p/index.m3u8"
    for rel in ("hls/240p/index.m3u8", "hls/audio/index.m3u8"):
        pl = m3u8.loads(pub[rel].decode())
        assert pl.playlist_type == "event" and pl.segments
        base = rel.rsplit("/", 1)[0]
        for uri in [pl.segment_map[0].uri] + [seg.uri for seg in pl.segments]:
            assert f"{base}/{uri}" in pub


def test_growing_playlist_only_appends(tmp_path: Path, monkeypatch) -> None:
    """Snapshots of the EVENT playlist as published: sequence monotonic, segments never rewritten."""
    monkeypatch.setattr(video_mod, "SPLIT_DIRECT_PLAY", True)
    src = video_media.write_video(tmp_path / "long.mp4", size="1280x720", duration=20)
    out = tmp_path / "out"
    snapshots: list[m3u8.M3U8] = []
    sent: list[str] = []

    def on_publish(items: list[tuple[str, Path]]) -> None:
        for rel, path in items:
            if rel == "hls/360p/index.m3u8":
                snapshots.append(m3u8.loads(path.read_text()))
            elif not rel.endswith(".m3u8"):
                sent.append(rel)

    result = process_video(src, out, rungs=(720, 360), on_publish=on_publish, preset="ultrafast")
    assert len(sent) == len(set(sent))  # each segment / init section handed out once
    assert len(snapshots) >= 2, "the rung was published only once"
    assert not snapshots[0].is_endlist and snapshots[-1].is_endlist
    # short segments, published from 2 s of media on: 1 s each, re-read every second by players
    first = snapshots[0]
    assert first.target_duration == 1 and first.segments[0].duration == pytest.approx(1.0, abs=0.01)
    assert sum(seg.duration for seg in first.segments) >= 2.0 - 0.01
    previous: list[str] = []
    seq = -1
    for pl in snapshots:
        assert pl.playlist_type == "event"
        assert (pl.media_sequence or 0) >= seq
        seq = pl.media_sequence or 0
        uris = [s.uri for s in pl.segments]
        assert uris[: len(previous)] == previous  # only appended
        previous = uris
        assert all(f"hls/360p/{u}" in sent for u in uris)
    assert [o.path for o in result.outputs if o.path.startswith("hls/360p/seg")] == [f"hls/360p/{u}" for u in previous]
    assert result.metadata["direct_play"] is True and result.metadata["strategy"]["progressive"]


def test_a_browser_playable_original_takes_one_run(make_video, tmp_path: Path) -> None:
    """H.264/AAC MP4 plays directly in the viewer meanwhile: one ffmpeg run (one decode, the
    bare ladder's CPU), still published as it grows, with the ladder's 6 s segments; a source
    browsers cannot play (MPEG-4 part 2 in AVI) gets the low rung first, in 1 s segments."""
    firsts: list[str] = []
    src = make_video("phone.mp4", size="640x360", duration=8)
    result = process_video(src, tmp_path / "a", rungs=(360, 240), on_first_playable=firsts.append)
    md = result.metadata
    assert md["direct_play"] is True and md["strategy"]["name"] == "single-run" and md["strategy"]["progressive"]
    assert "second_run_s" not in md["timings"] and firsts == ["hls/master.m3u8"]
    low = m3u8.load(str(tmp_path / "a/hls/240p/index.m3u8"))
    assert low.playlist_type == "event" and low.is_endlist and low.segments[0].duration > 2.5
    src = make_video("camera.avi", size="640x360", duration=8)
    result = process_video(src, tmp_path / "b", rungs=(360, 240), on_first_playable=firsts.append)
    assert result.metadata["direct_play"] is False and result.metadata["strategy"]["name"] == "low-rung-first"
    low = m3u8.load(str(tmp_path / "b/hls/240p/index.m3u8"))
    assert low.segments[0].duration == pytest.approx(1.0, abs=0.01) and low.target_duration == 1
    # the upper rung (its own run, the ladder's 2 s keyframes) starts segments where the low rung does
    upper = m3u8.load(str(tmp_path / "b/hls/360p/index.m3u8"))
    low_starts = {round(sum(x.duration for x in low.segments[:i]), 2) for i in range(len(low.segments))}
    upper_starts = {round(sum(x.duration for x in upper.segments[:i]), 2) for i in range(len(upper.segments))}
    assert upper_starts <= low_starts


def test_direct_play_probe(make_video) -> None:
    assert probe_video(make_video("a.mp4"))["direct_play"] is True
    assert probe_video(make_video("a.avi"))["direct_play"] is False  # MPEG-4 part 2 / MP3 in AVI
    assert probe_video(make_video("a.mov"))["direct_play"] is False  # PCM audio in MOV


def test_progress_is_monotonic_and_reaches_100(landscape: dict) -> None:
    values = [v for k, v in landscape["events"] if k == "progress"]
    assert len(values) >= 3
    assert values == sorted(values)
    assert values[-1] == 100.0
    assert all(0 <= v <= 100 for v in values)
    kinds = [k for k, _ in landscape["events"]]
    assert kinds.index("first") < len(kinds) - 2  # progress continued after first playable


def test_poster_and_storyboard(landscape: dict) -> None:
    out = landscape["out"]
    with Image.open(out / "preview/viewer.jpg") as im:
        assert (im.format, im.size) == ("JPEG", (960, 540))
    with Image.open(out / "preview/grid.jpg") as im:
        assert im.size == (480, 270)
    md = landscape["result"].metadata["storyboard"]
    assert md["tiles"] == 4 and md["tile"] == [160, 90]
    with Image.open(out / "storyboard/sprite.jpg") as sprite:
        assert sprite.size == (4 * 160, 90)
        sw, sh = sprite.size
    text = (out / "storyboard/storyboard.vtt").read_text()
    assert text.startswith("WEBVTT")
    cues = re.findall(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})\n(\S+)", text)
    assert len(cues) == 4

    def secs(ts: str) -> float:
        h, m, s = ts.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    assert secs(cues[0][0]) == 0
    assert secs(cues[-1][1]) == pytest.approx(8.0, abs=0.1)
    for (_, end, _), (start, _, _) in itertools.pairwise(cues):
        assert end == start  # contiguous
    for i, (start, end, ref) in enumerate(cues):
        assert secs(end) > secs(start)
        assert secs(start) == pytest.approx(2 * i, abs=0.05)
        name, xywh = ref.split("#xywh=")
        assert name == "sprite.jpg"
        x, y, w, h = map(int, xywh.split(","))
        assert (w, h) == (160, 90) and x + w <= sw and y + h <= sh


# --- containers, audio, orientation ----------------------------------------------------


@pytest.mark.parametrize("suffix", [".mov", ".mkv", ".avi"])
def test_other_containers(make_video, tmp_path: Path, suffix: str) -> None:
    src = make_video(f"clip{suffix}", size="640x360", duration=3)
    result = process_video(src, tmp_path / "out", rungs=(360, 240))
    master = tmp_path / "out" / result.hls_master
    assert [p.stream_info.resolution for p in m3u8.load(str(master)).playlists] == [(640, 360), (426, 240)]
    assert result.metadata["has_audio"]
    play(master)


def test_video_without_audio(make_video, tmp_path: Path) -> None:
    src = make_video("silent.mp4", size="640x360", duration=3, audio=False)
    result = process_video(src, tmp_path / "out", rungs=(360, 240))
    master = m3u8.load(str(tmp_path / "out" / result.hls_master))
    assert not master.media
    for p in master.playlists:
        assert p.stream_info.audio is None and "mp4a" not in p.stream_info.codecs
    assert result.metadata["audio"] is None and result.metadata["audio_codec"] is None
    assert not (tmp_path / "out/hls/audio").exists()
    play(tmp_path / "out" / result.hls_master)


@pytest.mark.parametrize("rotate", [90, 270])
def test_portrait_by_rotation_metadata(make_video, tmp_path: Path, rotate: int) -> None:
    src = make_video("phone.mp4", size="640x360", duration=3, rotate=rotate)
    info = probe_video(src)
    assert (info["width"], info["height"]) == (640, 360)
    assert info["rotation"] in (90, 270)
    assert (info["display_width"], info["display_height"]) == (360, 640)
    result = process_video(src, tmp_path / "out", rungs=(360, 240))
    hls = tmp_path / "out/hls"
    st = video_media.video_stream(hls / "240p/index.m3u8")
    assert (st["width"], st["height"]) == (240, 426)
    assert not st.get("side_data_list")  # frames are turned; no rotation left for players to redo
    res = [p.stream_info.resolution for p in m3u8.load(str(hls / "master.m3u8")).playlists]
    assert res == [(360, 640), (240, 426)]
    with Image.open(tmp_path / "out" / result.preview) as im:
        assert im.size == (360, 640)
    play(hls / "master.m3u8")


def test_native_portrait(make_video, tmp_path: Path) -> None:
    src = make_video("tall.mkv", size="360x640", duration=3)
    result = process_video(src, tmp_path / "out", rungs=(360, 240))
    res = [p.stream_info.resolution for p in m3u8.load(str(tmp_path / "out/hls/master.m3u8")).playlists]
    assert res == [(360, 640), (240, 426)]
    assert result.metadata["storyboard"]["tile"] == [160, 284]
    with Image.open(tmp_path / "out" / result.thumbnail) as im:
        assert im.size == (270, 480)


def test_single_run_without_first_playable_consumer(make_video, tmp_path: Path) -> None:
    """Nobody to publish early → one ffmpeg run for the whole ladder (cheapest)."""
    src = make_video("clip.mp4", size="640x360", duration=3)
    result = process_video(src, tmp_path / "out", rungs=(360, 240))
    assert result.metadata["strategy"]["name"] == "single-run"
    assert "second_run_s" not in result.metadata["timings"]
    assert len(m3u8.load(str(tmp_path / "out/hls/master.m3u8")).playlists) == 2


def test_single_run_when_first_pass_too_costly(make_video, tmp_path: Path, monkeypatch) -> None:
    """A source too costly to decode twice (e.g. 4K) → one run; its lowest rung is still published
    as it grows (first playable = that rung), the full ladder joins the master at the end."""
    monkeypatch.setattr(video_mod, "MAX_FIRST_PASS_OVERHEAD", 0.0)
    src = make_video("clip.mp4", size="640x360", duration=3)
    masters: list[str] = []

    def on_first(rel: str) -> None:
        masters.append((tmp_path / "out" / rel).read_text())

    result = process_video(src, tmp_path / "out", rungs=(360, 240), on_first_playable=on_first)
    assert result.metadata["strategy"]["name"] == "single-run"
    assert len(masters) == 1
    assert [p.uri for p in m3u8.loads(masters[0]).playlists] == ["240p/index.m3u8"]
    assert len(m3u8.load(str(tmp_path / "out/hls/master.m3u8")).playlists) == 2  # the complete ladder


def test_source_smaller_than_lowest_rung(make_video, tmp_path: Path) -> None:
    src = make_video("tiny.mp4", size="322x182", duration=2)
    calls: list[str] = []
    result = process_video(src, tmp_path / "out", on_first_playable=calls.append)  # default 1080/720/480
    assert calls == ["hls/master.m3u8"]
    (rung,) = result.metadata["rungs"]
    assert (rung["name"], rung["width"], rung["height"]) == ("182p", 322, 182)
    play(tmp_path / "out/hls/master.m3u8")


# --- LUT -------------------------------------------------------------------------------


def test_identity_lut_keeps_colours_and_real_lut_changes_them(make_video, tmp_path: Path) -> None:
    src = make_video("log.mp4", size="640x360", duration=2, audio=False, source="smptebars")  # static
    identity = video_media.write_cube(tmp_path / "identity.cube", lambda r, g, b: (r, g, b))
    no_red = video_media.write_cube(tmp_path / "no red.cube", lambda r, g, b: (0.0, g, b))  # path needs escaping
    plain = process_video(src, tmp_path / "plain", rungs=(240,))
    ident = process_video(src, tmp_path / "ident", rungs=(240,), lut_path=str(identity))
    red0 = process_video(src, tmp_path / "red0", rungs=(240,), lut_path=str(no_red))
    assert ident.metadata["encoder"]["lut"] and not plain.metadata["encoder"]["lut"]

    def frame(out: str) -> np.ndarray:
        return video_media.first_frame_rgb(tmp_path / out / "hls/240p/index.m3u8").astype(float)

    def poster(result: ProcessResult, out: str) -> np.ndarray:
        return np.asarray(Image.open(tmp_path / out / result.preview).convert("RGB"), float)

    assert np.abs(frame("ident") - frame("plain")).mean() < 4
    assert np.abs(poster(ident, "ident") - poster(plain, "plain")).mean() < 4
    assert frame("plain")[..., 0].mean() > 60
    assert frame("red0")[..., 0].mean() < 8  # the LUT reached the rung...
    assert poster(red0, "red0")[..., 0].mean() < 8  # ...and the poster
    assert np.abs(frame("red0")[..., 1] - frame("plain")[..., 1]).mean() < 6


# --- bad input -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("empty", "empty file"),
        ("text", "not a readable video"),
        ("truncated_mp4", "moov atom not found"),
        ("truncated_faststart", "truncated"),
        ("truncated_mkv", "truncated"),
    ],
)
def test_bad_input_raises_media_error(video_bad_files: dict[str, Path], tmp_path: Path, name: str, reason: str) -> None:
    with pytest.raises(MediaError, match=reason) as exc:
        process_video(video_bad_files[name], tmp_path / "out", rungs=(240,))
    assert str(video_bad_files[name]) not in str(exc.value)  # readable: no temp paths
    assert ffmpeg_children() == []


def test_probe_rejects_non_videos(tmp_path: Path) -> None:
    jpg = tmp_path / "photo.jpg"
    video_media.ffmpeg("-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1", str(jpg))
    mp3 = tmp_path / "song.mp3"
    video_media.ffmpeg("-f", "lavfi", "-i", "sine=duration=1", str(mp3))
    with pytest.raises(MediaError, match="still image"):
        probe_video(jpg)
    with pytest.raises(MediaError, match="audio-only"):
        probe_video(mp3)
    with pytest.raises(MediaError, match="cannot read"):
        probe_video(tmp_path / "missing.mp4")


def test_probe_fields(make_video) -> None:
    info = probe_video(make_video("clip.mov", size="320x240", duration=2, rate=25))
    assert info["video_codec"] == "h264" and info["audio_codec"] == "pcm_s16le"
    assert (info["width"], info["height"], info["rotation"]) == (320, 240, 0)
    assert (info["display_width"], info["display_height"]) == (320, 240)
    assert info["fps"] == 25 and info["fps_rational"] == "25/1"
    assert info["duration"] == pytest.approx(2.0, abs=0.1)
    assert info["bitrate"] > 0 and info["has_audio"]
    json.dumps(info)


def test_stuck_encode_times_out_and_kills_ffmpeg(make_video, tmp_path: Path, monkeypatch) -> None:
    src = make_video("clip.mp4", size="640x360", duration=3)
    monkeypatch.setattr(video_mod, "ENCODE_TIMEOUT_BASE", 0.3)
    monkeypatch.setattr(video_mod, "ENCODE_TIMEOUT_FACTOR", 0.0)
    with pytest.raises(ProcessingTimeout):
        process_video(src, tmp_path / "out", rungs=(360, 240), preset="slow")
    assert ffmpeg_children() == []


def test_callback_error_stops_the_encode(make_video, tmp_path: Path) -> None:
    src = make_video("clip.mp4", size="640x360", duration=3)

    def boom(_: str) -> None:
        raise RuntimeError("publish failed")

    with pytest.raises(RuntimeError, match="publish failed"):
        process_video(src, tmp_path / "out", rungs=(360, 240), on_first_playable=boom)
    assert ffmpeg_children() == []


# --- pure functions --------------------------------------------------------------------


def _info(w: int, h: int, **kw) -> dict:
    return {"display_width": w, "display_height": h, "fps": 30.0, **kw}


def test_plan_ladder() -> None:
    names = lambda ladder: [(r.name, r.width, r.height) for r in ladder]  # noqa: E731
    assert names(plan_ladder(_info(1920, 1080))) == [
        ("480p", 854, 480),
        ("720p", 1280, 720),
        ("1080p", 1920, 1080),
    ]
    assert names(plan_ladder(_info(1080, 1920))) == [
        ("480p", 480, 854),
        ("720p", 720, 1280),
        ("1080p", 1080, 1920),
    ]
    assert names(plan_ladder(_info(1280, 720))) == [("480p", 854, 480), ("720p", 1280, 720)]
    assert names(plan_ladder(_info(1000, 700))) == [("480p", 686, 480)]
    assert names(plan_ladder(_info(321, 241))) == [("240p", 320, 240)]
    assert names(plan_ladder(_info(1920, 800))) == [("480p", 1152, 480), ("720p", 1728, 720)]
    rung = plan_ladder(_info(1920, 1080))[-1]
    assert isinstance(rung, Rung) and 5000 < rung.maxrate_kbps < 7000
    assert plan_ladder(_info(1920, 1080, fps=60.0))[-1].maxrate_kbps > rung.maxrate_kbps


def test_peak_bitrate_follows_the_hls_definition() -> None:
    # 6 s target: single 6 s segments qualify, a lone 1 s tail does not
    assert peak_bitrate([600, 600, 1000], [6, 6, 1], 6) == pytest.approx((600 + 1000) * 8 / 7)
    assert peak_bitrate([600, 900], [6, 6], 6) == pytest.approx(900 * 8 / 6)
    assert peak_bitrate([100], [1.0], 6) == pytest.approx(800)  # shorter than half a target
