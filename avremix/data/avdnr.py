"""``build-dataset avdnr``: AV-CASS-style mixtures (speech with its face video, effects with their scene
video, music without a picture), summed at DnR-like loudness.

Loudness of each stem is drawn independently (LUFS, normal distributions around the averages the
Divide-and-Remaster (DnR) dataset reports, clipped to ±2 standard deviations): dialogue N(−17, 2),
effects N(−21, 2), music N(−24, 2). The face stream is a close-up of the speaker whose mouth follows the
speech envelope (head position and background change at cuts); the scene stream shows the objects that
make the effect events, flashing and shaking at their onsets, and no face.

Files per example: ``mix.wav``, ``stems.wav`` (3 channels: dialogue, music, effects), ``face.mp4`` and
``scene.mp4`` (each with the mixture as audio), ``face.npy`` and ``scene.npy`` (uint8 frames at the
corpus fps).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict
from pathlib import Path

import numpy as np

from avremix.config import config_from_dict
from avremix.data import scene
from avremix.data.loudness import normalize_loudness
from avremix.data.store import Store, split_of, write_wav
from avremix.data.synth import SynthConfig, make_audio
from avremix.media import FrameSampler
from avremix.media.writer import encode_video

STEMS = ("dialogue", "music", "effects")
DNR_LUFS = {"dialogue": (-17.0, 2.0), "music": (-24.0, 2.0), "effects": (-21.0, 2.0)}  # mean, std


def plan(n: int, seed: int, config: SynthConfig) -> list[dict]:
    config.validate()
    return [{"item": f"avdnr-{seed}-{i:05d}", "source": f"avdnr-{seed}-{i:05d}", "seed": seed, "index": i, "config": asdict(config)} for i in range(n)]


def build_item(spec: dict, out: Path) -> tuple[list[dict], list[dict]]:
    cfg = config_from_dict(SynthConfig, spec["config"])
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    split = split_of(spec["source"])
    rng = np.random.default_rng([spec["seed"], spec["index"], 7])
    clip = make_audio(rng, cfg, split)
    effects = clip["ambience"][:T].astype(np.float32).copy()
    for event in clip["events"]:
        effects += event.place(T, sr)
    lufs = {k: float(np.clip(rng.normal(m, s), m - 2 * s, m + 2 * s)) for k, (m, s) in DNR_LUFS.items()}
    raw = {"dialogue": clip["speech"][:T], "music": clip["music"][:T], "effects": effects}
    stems = np.stack([normalize_loudness(raw[k], sr, lufs[k])[0] for k in STEMS])  # [3, T]
    mixture = stems.sum(0)
    peak = float(np.abs(mixture).max())
    scale = min(1.0, 0.95 / peak) if peak > 0 else 1.0
    stems, mixture = stems * scale, mixture * scale

    shots = scene.random_shots(rng, cfg.duration)
    face_shots = [dataclasses.replace(s, face="close", face_x=0.5, face_y=0.5, object_visible=False) for s in shots]
    scene_shots = [dataclasses.replace(s, face=None, object_visible=True) for s in shots]
    onsets = [(e.onset, len(e.signal) / sr, True) for e in clip["events"]]
    n_frames = math.ceil(cfg.duration * cfg.fps)
    for name, shot_list in (("face", face_shots), ("scene", scene_shots)):
        video = out / f"{name}.mp4"
        frames = scene.render_frames(shot_list, cfg.video_fps, cfg.video_size, clip["activity"], onsets, sr)
        encode_video(video, frames, cfg.video_fps, cfg.video_size, audio=mixture[None], sample_rate=sr)
        np.save(out / f"{name}.npy", np.stack(list(FrameSampler(video, fps=cfg.fps, size=cfg.frame_size, n_frames=n_frames))))
    write_wav(out / "mix.wav", mixture, sr)
    write_wav(out / "stems.wav", stems, sr)
    base = f"items/{spec['item']}"
    row = {
        "id": spec["item"], "split": split, "sample_rate": sr, "fps": cfg.fps, "duration": cfg.duration, "stems": list(STEMS),
        "files": {"mix": f"{base}/mix.wav", "stems": f"{base}/stems.wav", "face_video": f"{base}/face.mp4", "scene_video": f"{base}/scene.mp4"},
        "frames": {"face": f"{base}/face.npy", "scene": f"{base}/scene.npy"},
        "sources": clip["source_ids"],
        "params": {"loudness_lufs": {k: round(v, 2) for k, v in lufs.items()}, "peak_scale": round(scale, 4),
                   "events": [{"onset": round(e.onset, 3), "class": e.cls} for e in clip["events"]], "generators": clip["generators"]},
    }
    return [row], []


def build(root: str | Path, n: int, seed: int = 0, config: SynthConfig | None = None, jobs: int = 1, on_item=None):
    return Store(root, "avdnr").build(plan(n, seed, config or SynthConfig()), build_item, jobs=jobs, on_item=on_item)
