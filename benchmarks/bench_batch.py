"""Per-file overhead of a batch of many small files (``make bench-batch``; part of ``make bench``).

Writes N one-second videos (320x240 H.264, 48 kHz stereo AAC), runs ``avremix highlight DIR -o OUT`` on them (one process,
the model loaded once), then the same N seconds of audio as *one* file, and reports the overhead per file
beyond the audio's own processing: ``(T_batch - T_one) / N``. Goal: under 0.1 s per file. Results go to
``bench-out/batch.json``.

    python benchmarks/bench_batch.py [--files 1000] [--model highlight-cfm] [--out bench-out]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path



def run(args: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "avremix.cli", *args, "-q"], check=True)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--model", default="highlight-cfm", help="The highlighter (a name or folder).")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    a = ap.parse_args()
    from avremix.samples import make_clip

    n = a.files
    work = Path(tempfile.mkdtemp(prefix="avremix-bench-batch-"))
    try:
        src = work / "in"
        src.mkdir()
        first = make_clip(src / "f0000.mp4", duration=1.0)  # 320x240 H.264 + 48 kHz stereo AAC
        for k in range(1, n):
            os.link(first, src / f"f{k:04d}.mp4")  # one file under n names: the same work n times
        one = make_clip(work / "one.mp4", duration=float(n))
        model = ["--model", a.model]
        t_batch = run(["highlight", str(src), "-o", str(work / "out"), *model, "--summary", str(work / "s.jsonl")])
        t_one = run(["highlight", str(one), "-o", str(work / "one-out.mp4"), *model])
        t_copy = run(["highlight", str(src), "-o", str(work / "copy"), "-s", "0"])
        lines = (work / "s.jsonl").read_text().splitlines()
        assert len(lines) == n and all(json.loads(x)["ok"] for x in lines)
        result = {"files": n, "seconds_batch": round(t_batch, 2), "seconds_one_file": round(t_one, 2),
                  "overhead_per_file_s": round((t_batch - t_one) / n, 4), "seconds_copy_batch": round(t_copy, 2),
                  "copy_per_file_s": round(t_copy / n, 4), "model": a.model, "goal_overhead_per_file_s": 0.1}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "batch.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
