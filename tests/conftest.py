"""Shared fixtures: media files generated with ffmpeg's built-in sources, once per test session."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Tests never see the real recordings a developer fetched (`make data-assets`): builders with `--sources auto`
# run on procedural sources, as on CI. Tests of the real family build tiny packages of their own.
os.environ["AVREMIX_ASSETS"] = tempfile.mkdtemp(prefix="avremix-no-assets-")

from avremix.media.ffmpeg import ffmpeg_exe  # noqa: E402
from avremix.samples import make_clip  # noqa: E402


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def mp4_30s(media_dir) -> Path:
    """30 s, 48 kHz stereo AAC + H.264 mp4 (the issue's reference case)."""
    return make_clip(media_dir / "clip30.mp4", duration=30, sample_rate=48000, channels=2)


@pytest.fixture(scope="session")
def mkv_flac(media_dir) -> Path:
    """mkv with FLAC stereo, a second (commentary) audio track and a subtitle track."""
    return make_clip(media_dir / "flac.mkv", duration=6, channels=2, extra_audio=True, subtitles=True)


@pytest.fixture(scope="session")
def mov_51(media_dir) -> Path:
    return make_clip(media_dir / "surround.mov", duration=3, channels=6, sample_rate=48000)


def run_cli(*args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run the real ``avremix`` console entry point in a subprocess."""
    proc = subprocess.run(
        [sys.executable, "-m", "avremix.cli", *map(str, args)], capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=900,  # a stuck command fails its test instead of hanging the suite
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"avremix {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc


def framemd5(path: Path, spec: str = "v:0") -> list[str]:
    """Per-packet MD5 lines of one stream copied out of ``path`` (ffmpeg ``-f framemd5``), header dropped."""
    out = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-i", str(path), "-map", f"0:{spec}", "-c", "copy", "-f", "framemd5", "-"],
        capture_output=True, text=True, check=True,
    ).stdout
    return [line for line in out.splitlines() if line and not line.startswith("#")]


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory):
    """A small procedural synth corpus (needs no Debian asset)."""
    from avremix.data import synth

    root = tmp_path_factory.mktemp("synth")
    summary = synth.build(root, n_clips=4, seed=3, config=synth.SynthConfig(duration=4.0, sources="procedural"), jobs=2)
    assert not summary.failed, summary.failed
    return root


@pytest.fixture(scope="session")
def muddy_corpus(synth_corpus, tmp_path_factory):
    """Muddy Mix examples made from ``synth_corpus``; every split gets the examples (tiny data)."""
    import json

    from avremix.data import muddy

    root = tmp_path_factory.mktemp("muddy")
    specs, _ = muddy.plan(root, synth_dir=synth_corpus, config=muddy.MuddyConfig(window=4.0), seed=0)
    muddy.build(root, specs)
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    with open(root / "manifest.jsonl", "w") as f:  # the same examples in train, val and test
        for split in ("train", "val", "test"):
            for row in rows:
                f.write(json.dumps({**row, "split": split}) + "\n")
    return root


def _tone_stems(seconds: float, sr: int, seed: int) -> dict:
    """Three procedural stems, stereo ``[2, T]``: a vowel-like voice with syllables (dialogue), decaying
    piano-like notes (music) and noise bursts (effects)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    f0 = 110 + 20 * seed
    voice = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t)) ** 2
    voice *= (np.sin(2 * np.pi * 0.4 * t) > -0.3)  # pauses between phrases
    music = np.zeros_like(t)
    for onset in np.arange(0.0, seconds, 0.5):
        f = 220 * 2 ** (rng.integers(0, 12) / 12)
        d = t[t >= onset] - onset
        music[t >= onset] += sum(np.exp(-3 * d) * np.sin(2 * np.pi * f * k * d) / k**2 for k in range(1, 6))
    effects = np.zeros_like(t)
    for onset in rng.uniform(0, seconds - 0.3, 4):
        i = int(onset * sr)
        n = int(0.2 * sr)
        effects[i:i + n] += rng.standard_normal(n) * np.exp(-np.arange(n) / (0.05 * sr))
    stems = {"dialogue": 0.1 * voice, "music": 0.05 * music, "effects": 0.1 * effects}
    return {k: np.stack([v, 0.9 * v]).astype(np.float32) for k, v in stems.items()}


def mux_picture(audio_path: Path, out: Path, seconds: float) -> Path:
    """``out`` (mkv): a moving test pattern with ``audio_path``'s audio (PCM)."""
    subprocess.run([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=size=160x120:rate=25:duration={seconds}",
                    "-i", str(audio_path), "-map", "0:v", "-map", "1:a", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                    "-c:a", "pcm_s16le", "-shortest", str(out)], check=True, stdin=subprocess.DEVNULL)
    return out


@pytest.fixture(scope="session")
def remix_folders(tmp_path_factory) -> Path:
    """``est/``, ``ref/`` and ``input/`` for `evaluate --est`: clip ``a`` (estimate = the reference at
    44.1 kHz, input with a picture), ``b`` (estimate = the muddy input, 0.5 s short), and ``c`` (an
    estimate without a reference)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("remix")
    for d in ("est", "ref", "input"):
        (root / d).mkdir()
    sr = 48000
    for name, seed in (("a", 0), ("b", 1)):
        s = _tone_stems(4.0, sr, seed)
        ref = s["dialogue"] + 0.3 * s["music"] + 0.5 * s["effects"]
        muddy = 0.3 * s["dialogue"] + s["music"] + s["effects"]
        sf.write(root / "ref" / f"{name}.wav", ref.T, sr, subtype="FLOAT")
        if name == "a":
            import torch
            import torchaudio.functional as AF

            sf.write(root / "est" / "a.flac", AF.resample(torch.from_numpy(ref), sr, 44100).numpy().T, 44100, subtype="PCM_24")
            sf.write(root / "muddy-a.wav", muddy.T, sr, subtype="PCM_16")
            mux_picture(root / "muddy-a.wav", root / "input" / "a.mkv", 4.0)
            (root / "muddy-a.wav").unlink()
        else:
            sf.write(root / "est" / "b.wav", muddy[:, : int(3.5 * sr)].T, sr, subtype="FLOAT")
            sf.write(root / "input" / "b.wav", muddy.T, sr, subtype="FLOAT")
    sf.write(root / "est" / "c.wav", _tone_stems(1.0, sr, 2)["music"].T, sr)
    return root


@pytest.fixture(scope="session")
def stem_folders(tmp_path_factory) -> Path:
    """``ref/<clip>/<stem>.wav``, ``input/<clip>.mkv|wav`` (their sum, 16-bit) and two estimates: ``perfect/`` (the
    reference stems as ``dx/fx/mx.flac``) and ``swapped/`` (dialogue and music exchanged)."""
    import soundfile as sf

    root = tmp_path_factory.mktemp("stems")
    sr = 44100
    for name, seed in (("one", 3), ("two", 4)):
        s = _tone_stems(4.0, sr, seed)
        for d in ("ref", "perfect", "swapped"):
            (root / d / name).mkdir(parents=True)
        (root / "input").mkdir(exist_ok=True)
        sf.write(root / "input" / f"{name}.wav", sum(s.values()).T, sr, subtype="FLOAT")
        if name == "one":  # a video, as `avremix separate` takes it
            mux_picture(root / "input" / "one.wav", root / "input" / "one.mkv", 4.0)
            (root / "input" / "one.wav").unlink()
        for stem, short in (("dialogue", "dx"), ("effects", "fx"), ("music", "mx")):
            sf.write(root / "ref" / name / f"{stem}.wav", s[stem].T, sr, subtype="FLOAT")
            sf.write(root / "perfect" / name / f"{short}.flac", s[stem].T, sr, subtype="PCM_24")
        swap = {"dialogue": "music", "music": "dialogue", "effects": "effects"}
        for stem in s:
            sf.write(root / "swapped" / name / f"{stem}.wav", s[swap[stem]].T, sr, subtype="FLOAT")
    return root
