"""Dataset build on real recordings: time and disk use (``make bench-data``; needs ``make data-assets``).

Builds ``avremix build-dataset avdnr --sources real --clips N -j 2`` (10 s mono clips whose three stems are all
real recordings) into a fresh folder and reports wall-clock time, clips per minute, disk use and the split
counts; the numbers go to ``bench-out/data.json`` and into the README's dataset section.

    python benchmarks/bench_data.py [--clips 200] [--jobs 2] [--channels 1] [--out bench-out]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path


def disk_use(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=200)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--channels", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    target = args.out / f"avdnr-real-{args.clips}"
    shutil.rmtree(target, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "avremix.cli", "build-dataset", "avdnr", "-o", str(target), "--sources", "real",
           "--clips", str(args.clips), "-j", str(args.jobs), "--channels", str(args.channels), "--json", "--quiet"]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    if proc.returncode != 0:
        sys.exit(f"build failed ({proc.returncode}): {proc.stderr.strip()}")
    summary = json.loads(proc.stdout)
    rows = [json.loads(line) for line in (target / "manifest.jsonl").read_text().splitlines()]
    all_real = sum(all(v == "real" for v in r["families"].values()) for r in rows)
    result = {
        "job": f"build-dataset avdnr --sources real --clips {args.clips} -j {args.jobs} --channels {args.channels}",
        "seconds": round(seconds, 1), "clips_per_minute": round(60 * len(rows) / seconds, 1),
        "disk_mb": round(disk_use(target) / 1e6, 1), "mb_per_clip": round(disk_use(target) / 1e6 / max(1, len(rows)), 2),
        "per_split": summary["per_split"], "clips_all_real": all_real, "failed": summary["failed"],
    }
    (args.out / "data.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
