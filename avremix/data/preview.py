"""Preview mp4 files of a built dataset, to look at and listen to (``build-dataset ... --preview N``).

Each preview is the example's picture with its audio as separate, titled tracks (e.g. synth: the flat mix,
then the director's mix; avdnr: the mixture, then each stem), so a player switches between them on the same
picture. Written to ``<dataset>/preview/<id>.mp4`` (a temporary file renamed when complete); the first N
examples of the test split come first, then validation, then training.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from avremix.data.store import Store, read_wav, write_wav
from avremix.errors import AvremixError
from avremix.media.ffmpeg import ffmpeg_exe

#: per dataset kind: the video file key and the (audio key, track title) pairs; "stems" expands to one track per stem
TRACKS = {
    "synth": ("video", [("mix", "flat mix"), ("target", "director's mix")]),
    "muddy": (None, [("input", "muddy mix"), ("target", "target mix")]),
    "avdnr": ("scene_video", [("mix", "mixture"), ("stems", None)]),
    "hardpairs": ("video", [("mix", "mixture"), ("target", "on-screen target"), ("interferer", "off-screen interferer")]),
}


def write_previews(root: str | Path, n: int) -> list[Path]:
    """Write up to ``n`` preview mp4 files for the dataset in ``root``; returns their paths."""
    root = Path(root)
    rows = Store(root, "").rows()
    order = {"test": 0, "val": 1, "train": 2}
    rows = sorted(rows, key=lambda r: (order.get(r.get("split"), 3), r["id"]))[:n]
    out_dir = root / "preview"
    out_dir.mkdir(exist_ok=True)
    return [_preview(root, row, out_dir / f"{row['id']}.mp4") for row in rows]


def _preview(root: Path, row: dict, out: Path) -> Path:
    video_key, tracks = TRACKS[row["kind"]]
    video = row["files"].get(video_key) if video_key else row["files"].get("video")
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        inputs, titles = [], []
        for key, title in tracks:
            audio = read_wav(root / row["files"][key])  # [C, T]
            if key == "stems":
                per = audio.reshape(len(row["stems"]), -1, audio.shape[-1])  # [S, C, T]
                for name, stem in zip(row["stems"], per):
                    inputs.append(_wav(tmp, name, stem, row))
                    titles.append(name)
            else:
                inputs.append(_wav(tmp, key, audio, row))
                titles.append(title)
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        if video:
            cmd += ["-i", str(root / video)]
        for path in inputs:
            cmd += ["-i", path]
        if video:
            cmd += ["-map", "0:v:0"]
        else:  # a still black picture, so every preview plays as a video
            cmd += ["-f", "lavfi", "-i", f"color=c=black:s=160x120:r=10:d={row['duration']}", "-map", f"{len(inputs)}:v:0"]
        first = 1 if video else 0
        for k, title in enumerate(titles):
            cmd += ["-map", f"{first + k}:a:0", f"-metadata:s:a:{k}", f"title={title}", f"-metadata:s:a:{k}", f"handler_name={title}"]
        part = Path(tmp) / "preview.mp4"
        cmd += ["-c:v", "libx264" if not video else "copy", "-c:a", "aac", "-b:a", "128k", "-shortest", str(part)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise AvremixError(f"preview failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}", out)
        os.replace(part, out)
    return out



def _wav(folder: str, name: str, audio: np.ndarray, row: dict) -> str:
    path = os.path.join(folder, f"{name}.wav")
    write_wav(path, audio, row["sample_rate"])
    return path
