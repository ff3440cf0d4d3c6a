"""A zoo of valid but odd files from film and broadcast, each made with ffmpeg, through both commands.

Channel layouts (6.1, 7.1 FLAC, an 8-channel track of unknown order, 10 channels), audio that starts after
the picture (Matroska, and MP4 with an empty edit), a gap inside the audio, an MP4 cut with an edit list,
audio longer and shorter than the picture, a broadcast MPEG-TS with MP2, HEVC 10-bit, 4K, a long low-rate
file, and audio-only files (WAV, M4A, an MP3 with cover art). ``highlight`` (the default model and
``--strength 0``) and ``separate --stems dx fx mx`` each run once over the whole folder, as a user's batch.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from avremix.media import probe, read_audio
from avremix.media.ffmpeg import ffmpeg_exe
from tests.conftest import framemd5, run_cli

V = "testsrc2=size=160x120:rate=25"


def tone(channels: int, rate: int = 48000, seconds: float = 3.0) -> str:
    """An ``aevalsrc`` with a different tone on every channel (so a swapped or mixed channel shows)."""
    return "aevalsrc=" + "|".join(f"0.2*sin(2*PI*{200 + 100 * c}*t)" for c in range(channels)) + f":s={rate}:d={seconds}"


#: name → (ffmpeg arguments after -y, what the file is)
ZOO: dict[str, tuple[list[str], str]] = {
    "surround61.mp4": (["-f", "lavfi", "-i", f"{V}:d=3", "-f", "lavfi", "-i", tone(7) + ":c=6.1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "6.1 AAC"),
    "surround71.mkv": (["-f", "lavfi", "-i", f"{V}:d=3", "-f", "lavfi", "-i", tone(8) + ":c=7.1", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac"], "7.1 FLAC (crashed the decoder)"),
    "unknown8.mkv": (["-f", "lavfi", "-i", f"{V}:d=3", "-f", "lavfi", "-i", tone(8) + ":c=8c", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s16le"], "8 channels, unknown order"),
    "ten.mkv": (["-f", "lavfi", "-i", f"{V}:d=2", "-f", "lavfi", "-i", tone(10, seconds=2) + ":c=5.1.4", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "pcm_s24le"], "10 channels"),
    "late.mkv": (["-f", "lavfi", "-i", f"{V}:d=5.5", "-itsoffset", "1.5", "-f", "lavfi", "-i", tone(2, seconds=4) + ":c=stereo", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "audio from 1.5 s"),
    "delayed.mp4": (["-f", "lavfi", "-i", f"{V}:d=5.5", "-itsoffset", "1.5", "-f", "lavfi", "-i", tone(2, seconds=4) + ":c=stereo", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "audio from 1.5 s (an empty edit)"),
    "gap.mkv": (["-f", "lavfi", "-i", f"{V}:d=6", "-f", "lavfi", "-i", tone(1, seconds=5) + ":c=mono", "-af", "asetpts='if(gte(T,2),PTS+1/TB,PTS)'", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "flac"], "a 1 s gap at 2 s"),
    "longer.mkv": (["-f", "lavfi", "-i", f"{V}:d=2", "-f", "lavfi", "-i", tone(1, 44100, 4) + ":c=mono", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "libvorbis"], "audio 2 s longer than the picture"),
    "shorter.mp4": (["-f", "lavfi", "-i", f"{V}:d=4", "-f", "lavfi", "-i", tone(2, seconds=2.5) + ":c=stereo", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "audio ends 1.5 s before the picture"),
    "broadcast.ts": (["-f", "lavfi", "-i", f"{V}:d=3", "-f", "lavfi", "-i", tone(2) + ":c=stereo", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "mp2"], "MPEG-TS with MP2 (starts at 1.4 s)"),
    "hevc10.mkv": (["-f", "lavfi", "-i", f"{V}:d=2", "-f", "lavfi", "-i", tone(2, seconds=2) + ":c=stereo", "-c:v", "libx265", "-preset", "ultrafast", "-pix_fmt", "yuv420p10le", "-x265-params", "log-level=error", "-c:a", "libopus"], "HEVC Main 10"),
    "uhd.mp4": (["-f", "lavfi", "-i", "testsrc2=size=3840x2160:rate=25:d=1.5", "-f", "lavfi", "-i", tone(2, seconds=1.5) + ":c=stereo", "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac"], "4K"),
    "lowrate.mkv": (["-f", "lavfi", "-i", "testsrc2=size=96x64:rate=2:d=40", "-f", "lavfi", "-i", tone(1, 8000, 40) + ":c=mono", "-c:v", "mpeg4", "-c:a", "libmp3lame"], "40 s, 8 kHz mono, 2 fps"),
    "music.wav": (["-f", "lavfi", "-i", tone(2, 44100) + ":c=stereo", "-c:a", "pcm_s16le"], "audio only"),
    "voice.m4a": (["-f", "lavfi", "-i", tone(1) + ":c=mono", "-c:a", "aac"], "audio only"),
    "cover.mp3": (["-f", "lavfi", "-i", tone(2, 44100) + ":c=stereo", "-f", "lavfi", "-i", "testsrc2=size=200x200:rate=1:d=1", "-map", "0", "-map", "1", "-frames:v", "1",
                   "-c:a", "libmp3lame", "-c:v", "mjpeg", "-disposition:v", "attached_pic"], "audio with cover art"),
}
EDIT_LIST = "editlist.mp4"  # cut from a 5 s clip with -ss and stream copy: an edit list
AUDIO_ONLY = {"music.wav", "voice.m4a", "cover.mp3"}
LOSSLESS = {"surround71.mkv", "unknown8.mkv", "ten.mkv", "gap.mkv", "music.wav"}


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("zoo")
    for name, (args, _) in ZOO.items():
        subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args, str(folder / name)], check=True)
    src = folder.parent / "src.mp4"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", f"{V}:d=5", "-f", "lavfi", "-i", tone(2, seconds=5) + ":c=stereo",
                    "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", str(src)], check=True)
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-ss", "1.3", "-i", str(src), "-t", "3", "-c", "copy", str(folder / EDIT_LIST)], check=True)
    return folder


def _results(proc) -> dict[str, dict]:
    return {Path(r["input"]).name: r for r in json.loads(proc.stdout)}


def _one_line_errors(proc) -> list[str]:
    return [ln for ln in proc.stderr.splitlines() if ln.startswith("avremix: error:")]


def test_the_zoo_is_what_it_says(zoo):
    """The oddities are there (so a change of ffmpeg that smooths one away shows here)."""
    audio = {p.name: probe(p).audio_stream() for p in zoo.iterdir()}
    assert (audio["surround61.mp4"].channels, audio["surround71.mkv"].layout, audio["unknown8.mkv"].layout) == (7, "7.1", "8 channels")
    assert audio["ten.mkv"].channels == 10
    assert audio["late.mkv"].start == pytest.approx(1.5, abs=0.03) and audio["delayed.mp4"].start == pytest.approx(1.5, abs=0.03)
    assert probe(zoo / "shorter.mp4").duration == pytest.approx(4.0, abs=0.05) and audio["shorter.mp4"].end == pytest.approx(2.5, abs=0.05)
    assert probe(zoo / "broadcast.ts").start_time == pytest.approx(1.4, abs=0.01) and audio["broadcast.ts"].codec == "mp2"
    video = {p.name: probe(p).video_streams for p in zoo.iterdir()}
    assert video["hevc10.mkv"][0].codec == "hevc" and (video["uhd.mp4"][0].width, video["uhd.mp4"][0].height) == (3840, 2160)
    assert video["cover.mp3"] == [] and any(s.attached_pic for s in probe(zoo / "cover.mp3").streams)
    for name in ("surround71.mkv", "unknown8.mkv", "ten.mkv"):  # every channel decodes as itself: its own tone, its level
        x, rate = read_audio(zoo / name)
        peaks = [np.argmax(np.abs(np.fft.rfft(ch[:rate]))) for ch in x]
        assert peaks == [200 + 100 * c for c in range(len(x))] and np.abs(x).max(axis=1) == pytest.approx(0.2, abs=0.002), name
    assert "48000 Hz stereo fltp from 1.50 s   <- processed" in run_cli("probe", zoo / "late.mkv", check=True).stdout  # probe says so
    gap, _ = read_audio(zoo / "gap.mkv")  # the gap decodes as silence where it is
    assert gap.shape[1] == pytest.approx(6 * 48000, abs=480) and np.abs(gap[:, int(2.1 * 48000) : int(2.9 * 48000)]).max() == 0


def _check_copy(src: Path, out: Path, lossless: bool) -> None:
    """``out`` is ``src`` with its audio re-encoded: layout, rate, start and length kept, the picture copied."""
    a, b = probe(src).audio_stream(), probe(out).audio_stream()
    assert (b.channels, b.layout, b.sample_rate) == (a.channels, a.layout, a.sample_rate), out.name
    assert (b.start or 0.0) == pytest.approx(a.start or 0.0, abs=0.001 if lossless else 0.025), out.name  # written back at its own time
    x, _ = read_audio(src)
    y, _ = read_audio(out)
    assert abs(y.shape[1] - x.shape[1]) <= (0 if lossless else 2048), out.name
    if probe(src).has_video:
        assert framemd5(out) == framemd5(src), out.name


def test_zoo_copied_at_strength_0(zoo, tmp_path):
    """``highlight --strength 0`` over the zoo: every file, audio-only ones included, comes back with its
    layout, rate, start and length; lossless audio bit for bit."""
    out = tmp_path / "out"
    proc = run_cli("highlight", zoo, "-o", out, "-s", "0", "--json", "-q")
    assert proc.returncode == 0, proc.stderr
    results = _results(proc)
    assert set(results) == set(ZOO) | {EDIT_LIST} and all(r["ok"] for r in results.values())
    for name in results:
        _check_copy(zoo / name, out / name, lossless=name in LOSSLESS)
        if name in LOSSLESS:
            np.testing.assert_array_equal(read_audio(out / name)[0], read_audio(zoo / name)[0])
    assert [s.attached_pic for s in probe(out / "cover.mp3").streams if s.type == "video"] == [True]  # the cover art is kept


def test_zoo_highlighted_by_the_default_model(zoo, tmp_path):
    """The default highlighter over the zoo in one batch: every video works and keeps its layout, start,
    length and picture; each audio-only file fails with one line saying what it lacks (the highlighter
    needs the picture) and the batch goes on."""
    out = tmp_path / "out"
    proc = run_cli("highlight", zoo, "-o", out, "--json", "-q")
    results = _results(proc)
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1] == f"{len(results) - len(AUDIO_ONLY)} done, 0 skipped, {len(AUDIO_ONLY)} failed"
    assert "Traceback" not in proc.stderr and len(_one_line_errors(proc)) == len(AUDIO_ONLY)
    for name, r in results.items():
        if name in AUDIO_ONLY:
            assert not r["ok"] and r["error"].startswith(str(zoo / name)) and "has no video stream" in r["error"]
            assert not (out / name).exists()
            continue
        assert r["ok"], r["error"]
        _check_copy(zoo / name, out / name, lossless=False)
        y, _ = read_audio(out / name)
        assert np.isfinite(y).all() and np.abs(y).max() > 1e-3


def test_zoo_separated(zoo, tmp_path):
    """``separate --stems dx fx mx`` over the zoo: every file, the audio-only ones included (the separator's
    null picture), gives three stems with its channels and length that sum to its audio."""
    out = tmp_path / "stems"
    proc = run_cli("separate", zoo, "-o", out, "--stems", "dx", "fx", "mx", "--json", "-q")
    results = _results(proc)
    assert proc.returncode == 0 and proc.stderr.splitlines()[-1] == f"{len(results)} done, 0 skipped, 0 failed", proc.stderr
    assert set(AUDIO_ONLY) <= set(results)
    for name, r in results.items():
        assert r["ok"], r["error"]
        x, _ = read_audio(zoo / name)
        stems = [read_audio(r["outputs"][stem])[0] for stem in ("dialogue", "effects", "music")]
        assert all(Path(r["outputs"][stem]).suffix == (".wav" if x.shape[0] > 8 else ".flac") for stem in r["outputs"])  # FLAC: 8 channels at most
        assert all(s.shape == x.shape for s in stems), name
        assert np.abs(sum(stems) - x).max() < 1e-3, name  # 24-bit stems sum to the input
        # the default separator was trained with a picture on every clip: audio alone gets a warning that says so
        assert any("no picture" in w for w in r["warnings"]) == (name in AUDIO_ONLY), (name, r["warnings"])


@pytest.mark.slow
def test_a_long_low_rate_file_streams(tmp_path):
    """20 minutes of 8 kHz mono MP3 under a 1 fps picture, through both commands: the lengths to the
    sample, and memory that stays far below the audio's whole length in float32 times the stems."""
    import resource

    src = tmp_path / "phone.mkv"
    subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=1:d=1200",
                    "-f", "lavfi", "-i", tone(1, 8000, 1200) + ":c=mono", "-c:v", "mpeg4", "-c:a", "libmp3lame", str(src)], check=True)
    x, rate = read_audio(src)
    run_cli("highlight", src, "-o", tmp_path / "out.mkv", "-q", check=True)
    run_cli("separate", src, "-o", tmp_path / "stems", "--stems", "dx", "-q", check=True)
    assert read_audio(tmp_path / "stems" / "phone" / "dialogue.flac")[0].shape == x.shape
    assert abs(read_audio(tmp_path / "out.mkv")[0].shape[1] - x.shape[1]) <= 1152 * 2
    assert resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss < 2_000_000  # KB: the workers' peak


def test_stems_muxed_at_the_audio_s_own_start(zoo, tmp_path):
    """``separate --mux`` of audio that starts 1.5 s after the picture: every stem track starts at 1.5 s too."""
    run_cli("separate", zoo / "late.mkv", "-o", tmp_path, "--mux", "-q", check=True)
    audio = probe(tmp_path / "late.mkv").audio_streams
    assert len(audio) == 4 and all(s.start == pytest.approx(1.5, abs=0.001) for s in audio), audio
