"""Engine throughput and peak memory against plain ffmpeg (``make bench``).

For inputs of 1, 10 and 120 minutes (mp4: H.264 + 48 kHz stereo AAC; the longer ones are the 1-minute
clip concatenated, stream copy) it times:

- ``ffmpeg -c:v copy -c:a aac``: the physical floor (demux, decode and re-encode the audio, copy the video);
- ``avremix highlight --strength 0``: decode, encode, remux (no model);
- the engine with an identity model at strength 1: decode, chunk, batch, overlap-add, encode, remux;
- ``avremix highlight`` with the shipped default model on 854x480 (every length: its memory must stay
  flat) and on 1920x1080 H.264 High with B-frames, like a film's encode (10 minutes or less);
- ``avremix separate`` (three FLAC stems) with the shipped default separator (``separate-cass``, every
  length) and the HTDemucs baseline (``separate-htdemucs``, 10 minutes or less), same segment and
  overlap, on the 480p input;
- ``avremix separate --stems on off`` (two FLAC stems) with the on-screen separator
  (``separate-onscreen``, every length), on the 480p input.

``--only`` picks job groups (floor, strength0, identity, highlight, separate, onscreen). Jobs run as the CLI runs
them (``avremix.cli.streaming_threads`` before torch is imported).

Each run is a fresh process; peak RSS is read from the kernel (``ru_maxrss``) for the Python process and,
separately, for its ffmpeg child. Goals (issue 13), checked at the end: highlight at least 20x real time
on 10 minutes of 480p and 12x on 1080p; separate at least 2x the HTDemucs baseline and 5x real time
(on-screen separation: 5x real time too);
peak RSS of the longest input under 2 GB and within 1.3x of the 1-minute input's.

Rows are also merged into ``OUT/results.json`` (avremix and torch versions, CPU, whether it has native
bf16), so runs of different versions can be compared.

    python benchmarks/bench_engine.py [--minutes 1 10 120] [--only separate ...] [--out bench-out]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path


def _worker(mode: str, src: str, dst: str) -> None:
    """Run one job in this (fresh) process and print its timings and peak RSS as JSON."""
    from avremix.cli import streaming_threads

    streaming_threads()  # as `avremix highlight` / `separate` do, before torch is imported
    import torch

    from avremix.engine import EngineConfig
    from avremix.highlight import highlight_file

    class Identity(torch.nn.Module):
        sample_rate, fps, generative = 48000, None, False

        def forward(self, audio, visual=None, noise=None):
            return audio

    peak_child = _watch_children()
    t0 = time.perf_counter()
    if mode == "strength0":
        highlight_file(src, dst, strength=0.0, overwrite=True)
    elif mode == "default":
        from avremix.checkpoint import DEFAULT_MODEL, load
        from avremix.highlight import loudness_target

        model = load(DEFAULT_MODEL)  # as the CLI runs it: --loudness auto, two passes
        highlight_file(src, dst, model=model, strength=1.0, overwrite=True, config=EngineConfig(device="cpu"), loudness=loudness_target("auto", model))
    elif mode.startswith("separate"):
        from avremix.checkpoint import load
        from avremix.separate import separate_file

        name = {"separate-baseline": "separate-htdemucs", "separate-onscreen": "separate-onscreen"}.get(mode, "separate-cass")
        separate_file(src, Path(dst).parent / "stems", load(name), overwrite=True, config=EngineConfig(device="cpu"))
    else:
        highlight_file(src, dst, model=Identity(), strength=1.0, overwrite=True, config=EngineConfig(device="cpu"))
    wall = time.perf_counter() - t0
    print(json.dumps({
        "wall": wall,
        "rss_python_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_ffmpeg_mb": peak_child[0] / 1024,
    }))


def _watch_children() -> list[int]:
    """Poll the peak RSS (VmHWM, kB) of this process's children after their exec (ru_maxrss would
    count the forked copy of the Python parent)."""
    import threading

    peak = [0]

    def poll() -> None:
        me = os.getpid()
        while True:
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
                if fields.get("PPid", "").strip() == str(me) and "ffmpeg" in fields.get("Name", ""):
                    peak[0] = max(peak[0], int(fields.get("VmHWM", "0 kB").split()[0]))
            time.sleep(0.05)

    threading.Thread(target=poll, daemon=True).start()
    return peak


def _ffmpeg_floor(src: Path, dst: Path) -> dict:
    from avremix.media.ffmpeg import ffmpeg_exe

    t0 = time.perf_counter()
    proc = subprocess.Popen([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(src), "-map", "0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", str(dst)])
    _, status, usage = os.wait4(proc.pid, 0)
    assert status == 0, "ffmpeg failed"
    return {"wall": time.perf_counter() - t0, "rss_python_mb": 0.0, "rss_ffmpeg_mb": usage.ru_maxrss / 1024}


def _avremix(mode: str, src: Path, dst: Path) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", mode, str(src), str(dst)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _inputs(out: Path, minutes: float, size: tuple[int, int], high: bool = False) -> Path:
    """The benchmark input: a 1-minute clip (``samples.make_clip``; ``high``: re-encoded as H.264 High
    with B-frames, as films are), concatenated to ``minutes`` by stream copy. Kept between runs."""
    from avremix.media.ffmpeg import ffmpeg_exe
    from avremix.samples import make_clip

    tag = {(320, 240): "", (854, 480): "_480p", (1920, 1080): "_1080p"}[size] + ("_high" if high else "")
    base = out / f"in_1min{tag}.mp4"
    if not base.exists():
        print(f"generating {base} ...", file=sys.stderr)
        if high:
            plain = make_clip(out / "plain.mp4", duration=60, size=size, fps=25)
            subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-i", str(plain), "-c:v", "libx264", "-preset", "veryfast",
                            "-crf", "20", "-profile:v", "high", "-c:a", "copy", str(base)], check=True)
            plain.unlink()
        else:
            make_clip(base, duration=60, size=size, fps=25)
    if minutes == 1:
        return base
    path = out / f"in_{minutes:g}min{tag}.mp4"
    if not path.exists():
        print(f"generating {path} ...", file=sys.stderr)
        listing = out / "concat.txt"
        listing.write_text("".join(f"file '{base.resolve()}'\n" for _ in range(math.ceil(minutes))))
        subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing),
                        "-t", f"{minutes * 60}", "-c", "copy", str(path)], check=True)
        listing.unlink()
    return path


HL480, HL1080 = "avremix highlight, default model, 480p", "avremix highlight, default model, 1080p High"
SEP, SEP_BASE = "avremix separate, separate-cass, 480p", "avremix separate, separate-htdemucs, 480p"
ONSCREEN = "avremix separate --stems on off, separate-onscreen, 480p"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 120])
    p.add_argument("--out", default="bench-out", help="folder for generated inputs (kept between runs) and outputs")
    p.add_argument("--only", nargs="+", default=["floor", "strength0", "identity", "highlight", "separate", "onscreen"], help="job groups to run")
    p.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        _worker(*a.worker)
        return
    out = Path(a.out)
    out.mkdir(exist_ok=True)
    rows = []
    for minutes in a.minutes:
        seconds = minutes * 60
        src = lambda size=(320, 240), high=False: _inputs(out, minutes, size, high)  # noqa: E731 (made when a job needs it)
        src480 = lambda: src((854, 480))  # noqa: E731
        jobs = [
            ("floor", "ffmpeg -c:v copy (floor)", lambda: _ffmpeg_floor(src(), out / "floor.mp4")),
            ("strength0", "avremix --strength 0", lambda: _avremix("strength0", src(), out / "s0.mp4")),
            ("identity", "avremix engine, identity model", lambda: _avremix("identity", src(), out / "id.mp4")),
            ("highlight", HL480, lambda: _avremix("default", src480(), out / "default.mp4")),
        ]
        if minutes <= 10:
            jobs.append(("highlight", HL1080, lambda: _avremix("default", src((1920, 1080), True), out / "default.mp4")))
        jobs.append(("separate", SEP, lambda: _avremix("separate", src480(), out / "sep.mp4")))
        if minutes <= 10:
            jobs.append(("separate", SEP_BASE, lambda: _avremix("separate-baseline", src480(), out / "sep.mp4")))
        jobs.append(("onscreen", ONSCREEN, lambda: _avremix("separate-onscreen", src480(), out / "sep.mp4")))
        for group, name, run in jobs:
            if group not in a.only:
                continue
            r = run()
            rows.append({"minutes": minutes, "job": name, "xrt": seconds / r["wall"], **r})
            print(f"{minutes:>4g} min  {name:<44} {seconds / r['wall']:7.1f}x real time  "
                  f"RSS python {r['rss_python_mb']:6.0f} MB  ffmpeg {r['rss_ffmpeg_mb']:5.0f} MB", file=sys.stderr)
    _write_results(out / "results.json", rows, a)
    print("\n| input | job | × real time | peak RSS python (MB) | peak RSS ffmpeg (MB) |")
    print("|---|---|---:|---:|---:|")
    for r in rows:
        print(f"| {r['minutes']:g} min | {r['job']} | {r['xrt']:.1f} | {r['rss_python_mb']:.0f} | {r['rss_ffmpeg_mb']:.0f} |")
    print()
    for line in _goals(rows):
        print(line)


def _goals(rows: list[dict]) -> list[str]:
    """Issue 13's goals, each with its measured number and ok / MISSED (those this run measured)."""
    xrt = {(r["minutes"], r["job"]): r["xrt"] for r in rows}
    lines = []

    def goal(text: str, value: float, ok: bool) -> None:
        lines.append(f"{'ok    ' if ok else 'MISSED'}  {text}: {value:.2f}")

    if (10, HL480) in xrt:
        goal("highlight, 10 min 480p, x real time (goal >= 20)", xrt[10, HL480], xrt[10, HL480] >= 20)
    if (10, HL1080) in xrt:
        goal("highlight, 10 min 1080p, x real time (goal >= 12)", xrt[10, HL1080], xrt[10, HL1080] >= 12)
    if (10, SEP) in xrt:
        goal("separate, 10 min, x real time (goal >= 5)", xrt[10, SEP], xrt[10, SEP] >= 5)
        if (10, SEP_BASE) in xrt:
            goal("separate, 10 min, speed over the HTDemucs baseline (goal >= 2)", xrt[10, SEP] / xrt[10, SEP_BASE], xrt[10, SEP] >= 2 * xrt[10, SEP_BASE])
    if (10, ONSCREEN) in xrt:
        goal("separate --stems on off, 10 min, x real time (goal >= 5)", xrt[10, ONSCREEN], xrt[10, ONSCREEN] >= 5)
    for job in ("avremix --strength 0", "avremix engine, identity model", HL480, SEP, ONSCREEN):
        rss = {r["minutes"]: r["rss_python_mb"] for r in rows if r["job"] == job}
        if len(rss) > 1:
            lo, hi = min(rss), max(rss)
            goal(f"{job}: peak RSS {hi:g} min / {lo:g} min (goal <= 1.3)", rss[hi] / rss[lo], rss[hi] <= 1.3 * rss[lo])
            goal(f"{job}: peak RSS at {hi:g} min, MB (goal < 2048)", rss[hi], rss[hi] < 2048)
    return lines


def _write_results(path: Path, rows: list[dict], args) -> None:
    """Merge this run's rows into ``path`` (one row per input length and job; a rerun of a job replaces
    its row), with what it ran on, so numbers can be compared between versions and machines."""
    import platform

    import torch

    import avremix
    from avremix.engine import cpu_has_bf16

    old = json.loads(path.read_text()) if path.exists() else {}
    kept = [r for r in old.get("rows", []) if (r["minutes"], r["job"]) not in {(n["minutes"], n["job"]) for n in rows}]
    result = {
        "avremix": avremix.__version__, "torch": torch.__version__, "python": platform.python_version(),
        "machine": {"cpu": _cpu_name(), "cores": os.cpu_count(), "native_bf16": cpu_has_bf16()},
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "rows": sorted(kept + [{k: round(v, 3) if isinstance(v, float) else v for k, v in r.items()} for r in rows],
                       key=lambda r: (r["minutes"], r["job"])),
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2) + "\n")
    tmp.replace(path)
    print(f"wrote {path}", file=sys.stderr)


def _cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        import platform

        return platform.processor() or platform.machine()


if __name__ == "__main__":
    main()
