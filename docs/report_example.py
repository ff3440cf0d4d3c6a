"""The README's report screenshot (``docs/report.png``): the shipped highlighter on the synthetic test split,
run the way a user runs avremix on files.

1. ``avremix build-dataset muddy --sources procedural --clips 160 --seed 0`` (the highlight-cfm card's
   synthetic split) into a work folder;
2. each test example becomes a file: its picture and its mis-mixed input in ``input/<id>.mkv`` (H.264 +
   FLAC), its target in ``reference/<id>.wav``;
3. ``avremix highlight input/ -o highlighted/``, ``avremix evaluate --est highlighted --ref reference --input
   input --out run``, ``avremix report run -o report.html``;
4. headless Chromium takes the screenshot (Debian's ``chromium``).

    python docs/report_example.py [--work DIR] [--out docs/report.png]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np


def avremix(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "avremix.cli", *args], check=True)


def to_files(data: Path, work: Path) -> int:
    """The test split's examples as input / reference files; returns how many."""
    from avremix.data.datasets import MuddyDataset
    from avremix.data.store import read_wav, write_wav
    from avremix.media.ffmpeg import ffmpeg_exe

    rows = MuddyDataset(data, "test").rows
    for d in ("input", "reference"):
        (work / d).mkdir(parents=True, exist_ok=True)
    for row in rows:
        name, sr = row["id"], row["sample_rate"]
        frames = np.load(data / row["frames"]["frames"])  # [F, H, W, 3] at the dataset's fps
        write_wav(work / "reference" / f"{name}.wav", read_wav(data / row["files"]["target"]), sr)
        audio = work / f"{name}.input.wav"
        write_wav(audio, read_wav(data / row["files"]["input"]), sr)
        h, w = frames.shape[1:3]
        cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
               "-r", str(row["fps"]), "-i", "pipe:0", "-i", str(audio), "-map", "0:v", "-map", "1:a", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-c:a", "flac", "-shortest", str(work / "input" / f"{name}.mkv")]
        subprocess.run(cmd, input=np.ascontiguousarray(frames, dtype=np.uint8).tobytes(), check=True)
        audio.unlink()
    return len(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=None, help="work folder (kept; default: a temporary one)")
    p.add_argument("--out", type=Path, default=Path(__file__).with_name("report.png"))
    a = p.parse_args()
    work = a.work or Path(tempfile.mkdtemp(prefix="avremix-report-"))
    data = work / "muddy"
    avremix("build-dataset", "muddy", "-o", str(data), "--sources", "procedural", "--clips", "160", "--seed", "0", "-j", "2")
    n = to_files(data, work)
    avremix("highlight", str(work / "input"), "-o", str(work / "highlighted"), "--skip-existing", "-q")
    avremix("evaluate", "--est", str(work / "highlighted"), "--ref", str(work / "reference"), "--input", str(work / "input"),
            "--out", str(work / "run"))
    avremix("report", str(work / "run"), "-o", str(work / "report.html"), "--overwrite")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--mute-audio", "--window-size=1450,1500",
                    f"--screenshot={a.out.resolve()}", "--virtual-time-budget=10000", (work / "report.html").as_uri()],
                   check=True, capture_output=True)
    rows = json.loads((work / "run" / "metrics.json").read_text())["rows"]
    print(f"{n} clips; MAG estimate {rows['estimate']['MAG']:.3f}, input {rows['input']['MAG']:.3f}; screenshot {a.out}; work {work}")


if __name__ == "__main__":
    main()
