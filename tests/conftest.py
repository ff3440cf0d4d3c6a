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
        [sys.executable, "-m", "avremix.cli", *map(str, args)], capture_output=True, text=True, stdin=subprocess.DEVNULL
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
