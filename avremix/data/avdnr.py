"""``build-dataset avdnr``: AV-CASS-style mixtures (speech with its face video, effects with their scene
video, music without a picture), summed at the loudness of film mixes.

Levels (integrated LUFS, BS.1770): dialogue is the anchor, uniform in [−27, −24] LUFS, the range of
dialogue-normalised film and TV mixes (Netflix's delivery spec: −27 LKFS dialogue-gated; ATSC A/85 and
EBU R128 broadcast: −24 / −23). Music and effects follow the Divide-and-Remaster (DnR) dataset's per-stem
distributions (Petermann et al., "The Cocktail Fork Problem", ICASSP 2022: speech −17, music −24, effects
−21 LUFS, each with a 2 LU spread) taken relative to the dialogue: music dialogue + N(−7, 2), effects
dialogue + N(−4, 2), each clipped to ±2 standard deviations. ``--channels 2`` writes stereo: dialogue
near the centre, music in its recorded stereo, effect events panned, ambience in stereo. The face stream is a close-up of the speaker whose mouth follows the
speech envelope (head position and background change at cuts); the scene stream shows the objects that
make the effect events, flashing and shaking at their onsets, and no face.

Files per example: ``mix.wav`` (``[C, T]``), ``stems.wav`` (``3·C`` channels, stem-major: dialogue, music,
effects, each with its C channels), ``face.mp4`` and
``scene.mp4`` (each with the mixture as audio), ``face.npy`` and ``scene.npy`` (uint8 frames at the
corpus fps).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from avremix.config import config_from_dict
from avremix.data import scene
from avremix.data.loudness import normalize_loudness
from avremix.data.store import Store, split_of, write_wav
from avremix.data.synth import SynthConfig, check_real_sources, effects_stereo, make_audio
from avremix.errors import UsageError
from avremix.media import FrameSampler
from avremix.media.writer import encode_video

STEMS = ("dialogue", "music", "effects")
DIALOGUE_LUFS = (-27.0, -24.0)  # uniform range of the anchor
RELATIVE_LU = {"music": (-7.0, 2.0), "effects": (-4.0, 2.0)}  # DnR's levels relative to its speech: mean, std


@dataclass
class AVDnRConfig(SynthConfig):
    channels: int = 1  # 1: mono mixes, 2: stereo

    def validate(self) -> None:
        super().validate()
        if self.channels not in (1, 2):
            raise UsageError(f"--channels must be 1 or 2, got {self.channels}")


def stem_levels(rng: np.random.Generator) -> dict[str, float]:
    """Target loudness (LUFS) of each stem: the dialogue anchor and DnR's offsets from it."""
    dx = float(rng.uniform(*DIALOGUE_LUFS))
    return {"dialogue": dx} | {k: dx + float(np.clip(rng.normal(m, s), m - 2 * s, m + 2 * s)) for k, (m, s) in RELATIVE_LU.items()}


def plan(n: int, seed: int, config: SynthConfig) -> list[dict]:
    config = config if isinstance(config, AVDnRConfig) else AVDnRConfig(**asdict(config))
    config.validate()
    if config.sources == "real":
        check_real_sources(assets=config.assets)
    return [{"item": f"avdnr-{seed}-{i:05d}", "source": f"avdnr-{seed}-{i:05d}", "seed": seed, "index": i, "config": asdict(config)} for i in range(n)]


def build_item(spec: dict, out: Path) -> tuple[list[dict], list[dict]]:
    cfg = config_from_dict(AVDnRConfig, spec["config"])
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    split = split_of(spec["source"])
    rng = np.random.default_rng([spec["seed"], spec["index"], 7])
    clip = make_audio(rng, cfg, split)
    st = clip["stereo"]
    raw = {"dialogue": st["dialogue"][:, :T], "music": st["music"][:, :T], "effects": effects_stereo(clip["events"], st["ambience"], T, sr)}
    if cfg.channels == 1:
        raw = {k: v.mean(0, keepdims=True) for k, v in raw.items()}
    lufs = stem_levels(rng)
    stems = np.stack([normalize_loudness(raw[k], sr, lufs[k])[0] for k in STEMS])  # [3, C, T]
    mixture = stems.sum(0)  # [C, T]
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
        encode_video(video, frames, cfg.video_fps, cfg.video_size, audio=mixture, sample_rate=sr)
        np.save(out / f"{name}.npy", np.stack(list(FrameSampler(video, fps=cfg.fps, size=cfg.frame_size, n_frames=n_frames))))
    write_wav(out / "mix.wav", mixture, sr)
    write_wav(out / "stems.wav", stems.reshape(-1, T), sr)  # [3 * C, T], stem-major
    base = f"items/{spec['item']}"
    row = {
        "id": spec["item"], "split": split, "sample_rate": sr, "fps": cfg.fps, "duration": cfg.duration, "stems": list(STEMS),
        "channels": cfg.channels, "families": clip["families"], "assets": clip["assets"],
        "files": {"mix": f"{base}/mix.wav", "stems": f"{base}/stems.wav", "face_video": f"{base}/face.mp4", "scene_video": f"{base}/scene.mp4"},
        "frames": {"face": f"{base}/face.npy", "scene": f"{base}/scene.npy"},
        "sources": clip["source_ids"],
        "params": {"loudness_lufs": {k: round(v, 2) for k, v in lufs.items()}, "peak_scale": round(scale, 4),
                   "events": [{"onset": round(e.onset, 3), "class": e.cls} for e in clip["events"]], "generators": clip["generators"]},
    }
    return [row], []


def build(root: str | Path, n: int, seed: int = 0, config: SynthConfig | None = None, jobs: int = 1, on_item=None):
    return Store(root, "avdnr").build(plan(n, seed, config or AVDnRConfig()), build_item, jobs=jobs, on_item=on_item)
