"""``build-dataset muddy``: the Muddy Mix recipe of VisAH (separate, adjust loudness, remix).

A well-mixed soundtrack (a movie's, or a synth clip's director's mix) is the target. It is cut into
windows (10 s by default); windows without audio or silent ones are dropped. Each window is split into
dialogue, music and effects: by ``--separator`` for real movies, by the known stems for the synth corpus.
Whatever the separator leaves is folded into effects, so the three stems sum to the original.

Adjustment (pyloudnorm loudness of each stem): the loudest stem is *suppressed* and the two others
*highlighted*. Modes:

- ``discrete`` (the paper): each stem independently draws a difficulty high / moderate / low, i.e.
  −12 / −9 / −6 dB for the suppressed stem and +12 / +9 / +6 dB for a highlighted one;
- ``continuous``: the same roles with magnitudes drawn uniformly from [6, 12] dB;
- ``timevarying``: the same roles, a new magnitude from [6, 12] dB every second, gliding between
  seconds over 50 ms (raised cosine).

Remix, as the seed describes it: the input is the linear sum of the adjusted stems, so its level is
wrong the way a real mis-mix's level is wrong, and a model trained on it learns to restore the target's
level too. ``--peak-normalize`` (off by default; avremix ≤ 0.4 always did it) scales that sum to the
target's peak instead (one gain, recorded as ``normalize_db``; 0 dB otherwise). Silent stems keep 0 dB.
Every parameter is recorded per example; ``--seed`` makes a build reproducible.

Files per example: ``input.wav`` (the poorly mixed input), ``target.wav``, ``stems.wav`` (3 channels:
separated dialogue, music, effects of the target), ``input_stems.wav`` (the same after adjustment and
normalisation; they sum to the input), ``frames.npy`` (uint8 ``[F, H, W, 3]`` at the corpus fps).
"""

from __future__ import annotations

import csv
import math
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF
from scipy.signal import oaconvolve

from avremix.config import config_from_dict
from avremix.data.loudness import loudness
from avremix.data.store import Store, read_wav, seed_of, split_of, write_wav
from avremix.errors import MediaError, UsageError
from avremix.media import AudioDecoder, FrameSampler, probe
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

STEMS = ("dialogue", "music", "effects")
LEVELS_DB = {"high": 12.0, "moderate": 9.0, "low": 6.0}
MODES = ("discrete", "continuous", "timevarying")


@dataclass
class MuddyConfig:
    window: float = 10.0  # seconds per example
    sample_rate: int = 16000  # of every stored file (mono)
    fps: float = 10.0  # stored frames
    frame_size: tuple[int, int] = (64, 64)  # (W, H)
    mode: str = "discrete"  # discrete | continuous | timevarying
    silence_lufs: float = -60.0  # windows quieter than this are dropped
    separator: str | None = None  # for real videos: separate-cass, a model folder or htdemucs:PATH
    peak_normalize: bool = False  # scale the remix to the target's peak (not in the seed's recipe)

    def validate(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"--mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.window < 1:
            raise UsageError(f"--window must be at least 1 second, got {self.window}")


# -- the recipe ---------------------------------------------------------------------------------------
def adjust(stems: np.ndarray, target: np.ndarray, sr: int, mode: str, rng: np.random.Generator,
           peak_normalize: bool = False) -> dict:
    """Suppress the loudest stem, highlight the others, remix (and with ``peak_normalize`` scale the remix to
    the target's peak). ``stems`` is ``[3, T]``."""
    T = stems.shape[1]
    levels = [loudness(s, sr) for s in stems]
    audible = [i for i, v in enumerate(levels) if math.isfinite(v)]
    loudest = max(audible, key=lambda i: levels[i])
    roles, difficulty, gains_db = [], [], []
    curves = np.ones_like(stems)  # [3, T] linear gains
    seconds = max(1, math.ceil(T / sr))
    for i in range(len(stems)):
        if i not in audible:
            roles.append("silent"), difficulty.append(None), gains_db.append(0.0)
            continue
        sign = -1.0 if i == loudest else 1.0
        roles.append("suppress" if i == loudest else "highlight")
        if mode == "discrete":
            level = str(rng.choice(list(LEVELS_DB)))
            difficulty.append(level)
            gains_db.append(sign * LEVELS_DB[level])
            curves[i] = 10 ** (gains_db[-1] / 20)
        elif mode == "continuous":
            difficulty.append(None)
            gains_db.append(round(sign * float(rng.uniform(6, 12)), 3))
            curves[i] = 10 ** (gains_db[-1] / 20)
        else:  # timevarying: one value per second
            per_second = [round(sign * float(v), 3) for v in rng.uniform(6, 12, size=seconds)]
            difficulty.append(None)
            gains_db.append(per_second)
            curves[i] = _glide(np.asarray(per_second), sr, T)
    adjusted = stems * curves
    mixed = adjusted.sum(0)
    scale = 1.0
    if peak_normalize:
        peak_in, peak_target = float(np.abs(mixed).max()), float(np.abs(target).max())
        scale = peak_target / peak_in if peak_in > 0 else 1.0
    return {
        "input": (mixed * scale).astype(np.float32),
        "input_stems": (adjusted * scale).astype(np.float32),
        "params": {
            "mode": mode, "roles": dict(zip(STEMS, roles)), "difficulty": dict(zip(STEMS, difficulty)),
            "gains_db": dict(zip(STEMS, gains_db)), "peak_normalize": peak_normalize, "normalize_db": round(20 * math.log10(scale), 4) if scale > 0 else 0.0,
            "loudness_lufs": {k: (round(v, 2) if math.isfinite(v) else None) for k, v in zip(STEMS, levels)},
        },
    }


def _glide(per_second_db: np.ndarray, sr: int, T: int, ramp: float = 0.05) -> np.ndarray:
    """Piecewise-constant gains (one per second) joined by raised-cosine ramps of ``ramp`` seconds."""
    steps = np.repeat(10 ** (per_second_db / 20), sr)[:T]  # [T]
    n = max(1, int(ramp * sr))
    window = np.hanning(2 * n + 1)[: n + 1]
    window = np.concatenate([window, window[::-1][1:]])
    kernel = window / window.sum()
    padded = np.pad(steps, (n, n), mode="edge")
    return oaconvolve(padded, kernel, mode="valid")[:T].astype(np.float32)  # overlap-add: ~20x faster than np.convolve here


def _write_example(out: Path, name: str, stems: np.ndarray, target: np.ndarray, frames: np.ndarray, cfg: MuddyConfig, rng) -> tuple[dict | None, str | None]:
    """Adjust one window and write its files; returns (row fields, None) or (None, reason it was dropped)."""
    sr = cfg.sample_rate
    level = loudness(target, sr)
    if not math.isfinite(level) or level < cfg.silence_lufs:
        return None, f"silent window (loudness {level:.1f} LUFS)"
    result = adjust(stems, target, sr, cfg.mode, rng, cfg.peak_normalize)
    write_wav(out / f"{name}_input.wav", result["input"], sr)
    write_wav(out / f"{name}_target.wav", target, sr)
    write_wav(out / f"{name}_stems.wav", stems, sr)
    write_wav(out / f"{name}_input_stems.wav", result["input_stems"], sr)
    np.save(out / f"{name}_frames.npy", frames)
    base = f"items/{out.name.removeprefix('.tmp-')}"
    files = {k: f"{base}/{name}_{k}.wav" for k in ("input", "target", "stems", "input_stems")}
    return {"files": files, "frames": {"frames": f"{base}/{name}_frames.npy"}, "params": result["params"]}, None


# -- sources ----------------------------------------------------------------------------------------
def plan_synth(synth_root: str | Path, seed: int, cfg: MuddyConfig) -> list[dict]:
    rows = Store(synth_root, "synth").rows()
    if not rows:
        raise UsageError("holds no synth clips (manifest.jsonl is missing or empty); run `avremix build-dataset synth` first", synth_root)
    longest = max(row["duration"] for row in rows)
    if longest < cfg.window:
        raise UsageError(f"synth clips are {longest:g} s long; use --window {longest:g} or less", synth_root)
    return [{"item": f"muddy-{row['id']}", "source": row["id"], "kind": "synth", "root": str(Path(synth_root).resolve()), "row": row, "seed": seed, "config": asdict(cfg)} for row in rows]


def plan_videos(folder: str | Path, seed: int, cfg: MuddyConfig) -> list[dict]:
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError("is not a folder", folder)
    if cfg.separator is None:
        raise UsageError("--videos needs --separator (separate-cass, a separator folder, or htdemucs:PATH)")
    from avremix.data.separators import separator_path

    separator_path(cfg.separator)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS | AUDIO_EXTENSIONS)
    if not files:
        raise UsageError("contains no video files", folder)
    return [{"item": f"muddy-{_slug(p.relative_to(folder))}", "source": str(p.resolve()), "kind": "video", "seed": seed, "config": asdict(cfg)} for p in files]


def fetch_cmd(csv_path: str | Path, download_dir: Path) -> tuple[list[Path], list[dict]]:
    """Download the Condensed Movies clips listed in ``csv_path`` with yt-dlp (resumable: existing files are
    kept). Returns the files there and the failures; a failure is never fatal."""
    yt = shutil.which("yt-dlp")
    download_dir.mkdir(parents=True, exist_ok=True)
    with open(csv_path, newline="") as f:
        reader = csv.DictReader(f)
        column = next((c for c in ("videoid", "youtube_id", "video_id", "id") if c in (reader.fieldnames or [])), None)
        if column is None:
            raise UsageError(f"has no videoid/youtube_id column (columns: {', '.join(reader.fieldnames or [])})", csv_path)
        ids = [row[column].strip() for row in reader if row.get(column, "").strip()]
    failures = []
    for vid in ids:
        if any(download_dir.glob(f"{vid}.*")):
            continue
        if yt is None:
            failures.append({"item": vid, "source": vid, "error": "yt-dlp is not installed (pip install yt-dlp)"})
            continue
        proc = subprocess.run([yt, "-q", "--no-progress", "-f", "mp4/best", "-o", str(download_dir / f"{vid}.%(ext)s"), f"https://www.youtube.com/watch?v={vid}"],
                              capture_output=True, text=True, stdin=subprocess.DEVNULL, timeout=600)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["download failed"])[-1]
            failures.append({"item": vid, "source": vid, "error": last})
    return sorted(download_dir.glob("*.*")), failures


def _slug(path: Path) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in str(path.with_suffix("")))[:120]


def build_item(spec: dict, out: Path) -> tuple[list[dict], list[dict]]:
    cfg = config_from_dict(MuddyConfig, spec["config"])
    rng = np.random.default_rng(seed_of(spec["seed"], spec["item"]))
    windows = _synth_windows(spec, cfg) if spec["kind"] == "synth" else _video_windows(spec, cfg)
    split = spec["row"]["split"] if spec["kind"] == "synth" else split_of(f"movie:{Path(spec['source']).name}")
    rows, dropped = [], []
    for k, (start, stems, target, frames) in enumerate(windows):
        fields, reason = _write_example(out, f"w{k:04d}", stems, target, frames, cfg, rng)
        if fields is None:
            dropped.append({"item": spec["item"], "window": k, "start": start, "reason": reason})
            continue
        rows.append({"id": f"{spec['item']}-w{k:04d}", "split": split, "sample_rate": cfg.sample_rate, "fps": cfg.fps,
                     "duration": cfg.window, "stems": list(STEMS), "source": spec["source"], "start": start,
                     "separator": "known stems" if spec["kind"] == "synth" else cfg.separator, **fields})
    if not rows and not dropped:
        raise MediaError("is shorter than one window", spec["source"])
    return rows, dropped


def _synth_windows(spec: dict, cfg: MuddyConfig) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """Windows of a synth clip with its known stems as they sound in the director's mix."""
    root, row = Path(spec["root"]), spec["row"]
    if row["sample_rate"] != cfg.sample_rate:
        raise UsageError(f"synth corpus is at {row['sample_rate']} Hz; build muddy with --sample-rate {row['sample_rate']}")
    stems = read_wav(root / row["files"]["target_stems"])  # [3, T]
    target = read_wav(root / row["files"]["target"])[0]
    frames = np.load(root / row["frames"]["frames"], mmap_mode="r")
    n, spf = int(cfg.window * cfg.sample_rate), cfg.sample_rate / row["fps"]
    for start in range(0, stems.shape[1] - n + 1, n):
        f0 = int(round(start / spf))
        idx = np.clip(np.arange(f0, f0 + math.ceil(cfg.window * row["fps"])), 0, len(frames) - 1)
        yield start / cfg.sample_rate, stems[:, start : start + n], target[start : start + n], np.asarray(frames[idx])


def _video_windows(spec: dict, cfg: MuddyConfig) -> Iterator[tuple[float, np.ndarray, np.ndarray, np.ndarray]]:
    """Windows of a real video, streamed: audio decoded once at the separator's rate, frames sampled once."""
    from avremix.data.separators import load_separator

    path = spec["source"]
    info = probe(path)
    info.audio_stream()  # raises "has no audio stream"
    separator = load_separator(cfg.separator)
    decoder = AudioDecoder(path, sample_rate=separator.sample_rate, info=info)
    n_frames_window = math.ceil(cfg.window * cfg.fps)
    frames = iter(FrameSampler(path, fps=cfg.fps, size=cfg.frame_size, start=decoder.start, info=info)) if info.has_video else None
    n = int(cfg.window * separator.sample_rate)
    buffer = np.zeros((decoder.channels, 0), np.float32)
    k = 0
    for block in decoder:
        buffer = np.concatenate([buffer, block], axis=1)
        while buffer.shape[1] >= n:
            window, buffer = buffer[:, :n], buffer[:, n:]
            pictures = _take(frames, n_frames_window, cfg.frame_size)
            seen = pictures if frames is not None else None  # an audio file: the separator hears it alone
            yield k * cfg.window, *_separate(window, separator, cfg.sample_rate, seen, cfg.fps), pictures
            k += 1


def _take(frames, n: int, size: tuple[int, int]) -> np.ndarray:
    """The next ``n`` frames (black when the file has no picture)."""
    if frames is None:
        return np.zeros((n, size[1], size[0], 3), np.uint8)
    got = [f for _, f in zip(range(n), frames)]
    while len(got) < n:
        got.append(got[-1] if got else np.zeros((size[1], size[0], 3), np.uint8))
    return np.stack(got)


def _separate(window: np.ndarray, separator, sr_out: int, pictures: np.ndarray | None, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Mono stems ``[3, T]`` at ``sr_out`` and the mono target; effects = target − dialogue − music. A
    separator that takes the picture gets the window's frames (None for an audio file)."""
    parts = separator(window, pictures, fps) if getattr(separator, "fps", None) else separator(window)

    def mono(x: np.ndarray) -> np.ndarray:
        return AF.resample(torch.from_numpy(np.ascontiguousarray(x.mean(0), dtype=np.float32)), separator.sample_rate, sr_out).numpy()

    target = mono(window)
    dialogue, music = mono(parts["dialogue"]), mono(parts["music"])
    effects = target - dialogue - music
    return np.stack([dialogue, music, effects]).astype(np.float32), target.astype(np.float32)


def plan(root: str | Path, synth_dir=None, videos=None, cmd_csv=None, config: MuddyConfig | None = None, seed: int = 0,
         sources: str | None = None, clips: int = 200, jobs: int = 1, assets: str = "starter") -> tuple[list[dict], list[dict]]:
    """Item specs from exactly one source, and the sources that failed before building (downloads).

    ``sources`` (auto | real | procedural | assets) builds the synth corpus first, ``clips`` clips of the
    window's length into ``root/synth`` (resumable like every build; real recordings of the ``assets`` set),
    and makes Muddy Mix from it."""
    config = config or MuddyConfig()
    config.validate()
    given = [x for x in (synth_dir, videos, cmd_csv, sources) if x is not None]
    if len(given) != 1:
        raise UsageError("give exactly one source: --synth DIR, --videos DIR, --cmd-csv FILE or --sources KIND")
    if sources is not None:
        from avremix.data import synth

        synth_dir = Path(root) / "synth"
        built = synth.build(synth_dir, clips, seed, synth.SynthConfig(duration=config.window, sources=sources, assets=assets), jobs)
        if built.failed:
            raise UsageError(f"{len(built.failed)} synth clips failed; first: {built.failed[0]['error']}", synth_dir)
    if synth_dir is not None:
        return plan_synth(synth_dir, seed, config), []
    if videos is not None:
        return plan_videos(videos, seed, config), []
    if config.separator is None:
        raise UsageError("--cmd-csv needs --separator (separate-cass, a separator folder, or htdemucs:PATH)")
    download_dir = Path(root) / "downloads"
    _, failures = fetch_cmd(cmd_csv, download_dir)
    specs = plan_videos(download_dir, seed, config) if any(download_dir.iterdir()) else []
    return specs, failures


def build(root: str | Path, specs: list[dict], jobs: int = 1, on_item=None, failures: list[dict] | None = None):
    return Store(root, "muddy").build(specs, build_item, jobs=jobs, on_item=on_item, failed=failures)
