"""``build-dataset synth``: an offline audio-visual corpus with known stems and a video-driven target mix.

Each clip has three sources, a picture that is caused by them, and two mixes:

- dialogue (a speaker), music (no visible source), effects (discrete events + background ambience);
- a picture of shots (hard cuts every 2-5 s): the speaker's face at a camera distance (close / medium /
  wide) or off screen, its mouth opening with the speech envelope; an object that flashes and shakes at the
  onsets of the effect events it makes when it is on screen; background colour and texture per shot;
- ``mix.wav``: the flat mix, every stem at the same loudness (±3 LU);
- ``target.wav``: the director's mix, whose per-stem gains follow what is on screen over time
  (:class:`avremix.data.scene.MixRules`): close-up talking face → dialogue forward; a visible impact →
  that effect forward; nobody on screen → music up; music ducked under on-screen speech; sources out of
  the picture pulled back. The same audio under another picture gives another target, so the video is
  needed to recover it.

Files per clip (``items/<id>/``): ``video.mp4`` (the picture with the director's mix), ``frames.npy``
(uint8 ``[F, H, W, 3]`` decoded from that mp4 at the corpus fps), ``mix.wav``, ``target.wav``,
``stems.wav`` (3 channels: dialogue, music, effects, as in the flat mix), ``target_stems.wav`` (the same
stems as they sound in the director's mix; they sum to the target), ``gains.npy`` (``[4, F]`` linear gains
of dialogue, music, on-screen and off-screen effects at the frame times).

Sources (``--sources``): real recordings (``real``; ``make data-assets``, :mod:`avremix.data.sources.real`),
procedural generators (always available), or espeak-ng voices, fluidsynth renderings of generated MIDI and
Debian sound-effect files installed system-wide (``assets``; ``make data-tools``). ``auto`` takes real
recordings for every family the clip's split has them for.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avremix.config import config_from_dict
from avremix.data import scene, sources
from avremix.data.loudness import normalize_loudness
from avremix.data.sources.real import asset_refs, check_assets, pan_gains, real_sources
from avremix.data.store import Store, split_of, write_wav
from avremix.errors import UsageError
from avremix.media import FrameSampler
from avremix.media.writer import encode_video

STEMS = ("dialogue", "music", "effects")
SOURCES = ("auto", "real", "procedural", "assets")


@dataclass
class SynthConfig:
    duration: float = 10.0  # seconds per clip
    sample_rate: int = 16000  # audio of every stored file
    video_fps: float = 25.0  # rendered mp4
    video_size: tuple[int, int] = (160, 120)  # (W, H) of the mp4
    fps: float = 10.0  # stored frames (frames.npy)
    frame_size: tuple[int, int] = (64, 64)  # (W, H) of the stored frames
    sources: str = "auto"  # auto (real recordings when installed, else tools for half the clips) | real | procedural | assets
    assets: str = "starter"  # the real recordings' collections: starter (every shipped model's) | all (starter + extra)
    stem_lufs: float = -27.0  # loudness of every stem in the flat mix (±3 LU per clip)
    p_onscreen: float = 0.6  # chance that an effect event's source is in the picture
    rules: dict = field(default_factory=dict)  # MixRules overrides

    def validate(self) -> None:
        if self.sources not in SOURCES:
            raise UsageError(f"--sources must be one of {', '.join(SOURCES)}, got {self.sources!r}")
        check_assets(self.assets)
        if self.duration < 1:
            raise UsageError(f"--duration must be at least 1 second, got {self.duration}")


def plan(n_clips: int, seed: int, config: SynthConfig) -> list[dict]:
    """One spec per clip; ids and seeds depend only on (seed, index), so builds are reproducible and resumable."""
    config.validate()
    if config.sources == "assets":
        assets = sources.find_assets()
        missing = [f for f in ("speech", "music", "effects") if not getattr(assets, f"{f}_available")]
        if missing:
            raise UsageError(f"--sources assets: no {', '.join(missing)} tools installed; run `make data-tools` (Debian packages, root) or use --sources procedural")
    if config.sources == "real":
        check_real_sources(assets=config.assets)
    return [
        {"item": f"synth-{seed}-{i:05d}", "source": f"synth-{seed}-{i:05d}", "seed": seed, "index": i, "scene": 0, "config": asdict(config)}
        for i in range(n_clips)
    ]


def build_item(spec: dict, out: Path) -> tuple[list[dict], list[dict]]:
    """Build one clip into ``out``; returns its manifest row."""
    cfg = config_from_dict(SynthConfig, spec["config"])
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    split = split_of(spec["source"])
    rng_audio = np.random.default_rng([spec["seed"], spec["index"], 0])
    rng_video = np.random.default_rng([spec["seed"], spec["index"], 1 + spec.get("scene", 0)])

    clip = make_audio(rng_audio, cfg, split)
    picture = make_picture(rng_video, cfg, clip)
    mixes = mix(clip, picture, cfg)

    video = out / "video.mp4"
    frames_iter = scene.render_frames(picture["shots"], cfg.video_fps, cfg.video_size, clip["activity"], picture["onsets"], sr)
    encode_video(video, frames_iter, cfg.video_fps, cfg.video_size, audio=mixes["target"][None], sample_rate=sr)
    n_frames = math.ceil(cfg.duration * cfg.fps)
    frames = np.stack(list(FrameSampler(video, fps=cfg.fps, size=cfg.frame_size, n_frames=n_frames)))  # [F, H, W, 3]
    np.save(out / "frames.npy", frames)
    times = (np.arange(n_frames) / cfg.fps * sr).astype(int).clip(0, T - 1)
    np.save(out / "gains.npy", np.stack([picture["gains"][k][times] for k in ("dialogue", "music", "effects_onscreen", "effects_offscreen")]).astype(np.float32))
    write_wav(out / "mix.wav", mixes["mix"], sr)
    write_wav(out / "target.wav", mixes["target"], sr)
    write_wav(out / "stems.wav", mixes["stems"], sr)
    write_wav(out / "target_stems.wav", mixes["target_stems"], sr)

    base = f"items/{spec['item']}"
    row = {
        "id": spec["item"],
        "split": split,
        "sample_rate": sr,
        "fps": cfg.fps,
        "duration": cfg.duration,
        "stems": list(STEMS),
        "files": {k: f"{base}/{k}.wav" for k in ("mix", "target", "stems", "target_stems")} | {"video": f"{base}/video.mp4", "gains": f"{base}/gains.npy"},
        "frames": {"frames": f"{base}/frames.npy"},
        "sources": clip["source_ids"],
        "families": clip["families"],
        "assets": clip["assets"],
        "params": {
            "seed": spec["seed"], "index": spec["index"], "scene": spec.get("scene", 0),
            "generators": clip["generators"], "stem_gain_db": mixes["stem_gain_db"], "peak_scale": mixes["peak_scale"],
            "shots": [asdict(s) for s in picture["shots"]],
            "events": [{"onset": round(e.onset, 3), "class": e.cls, "on_screen": on} for e, on in zip(clip["events"], picture["on_screen"])],
        },
    }
    return [row], []


def check_real_sources(categories: tuple[str, ...] = ("speech", "music", "effects"), assets: str = "starter") -> None:
    """One clear error up front when ``--sources real`` cannot be served for every split."""
    index = real_sources(assets).index
    missing = [f"{c} ({s})" for c in categories for s in ("train", "val", "test") if not index.has(c, s)]
    if missing:
        raise UsageError(f"--sources real: no real recordings for {', '.join(missing)} in {index.root}; "
                         "run `make data-assets` (or `avremix assets --fetch`), or use --sources procedural")


def make_audio(rng: np.random.Generator, cfg: SynthConfig, split: str) -> dict:
    """Dialogue, music, effect events and ambience whose sources all belong to ``split``.

    Per family, ``cfg.sources`` picks real recordings (``real``; ``auto`` when the split has them), the
    system-wide Debian tools (``assets``; ``auto`` for half the clips when there are no real ones) or the
    procedural generators. Besides the mono signals it returns each stem's stereo image (``stereo``).
    """
    sr, dur = cfg.sample_rate, cfg.duration
    real = real_sources(cfg.assets) if cfg.sources in ("auto", "real") else None
    tools = sources.find_assets() if cfg.sources in ("auto", "assets") else None

    def family(name: str, category: str) -> str:
        if real is not None and real.index.has(category, split):
            return "real"
        if cfg.sources == "real":
            raise sources.AssetsUnavailable(f"--sources real: no real {category} recordings for the {split} split; run `make data-assets`")
        if tools is not None and getattr(tools, f"{name}_available") and (cfg.sources == "assets" or rng.random() < 0.5):
            return "assets"
        return "procedural"

    fam = {"dialogue": family("speech", "speech"), "music": family("music", "music"), "effects": family("effects", "effects")}
    if fam["dialogue"] == "real":
        speech = real.speech(rng, dur, split, sr)
    else:
        speech = _in_split(lambda: sources.speech_espeak(rng, dur, sr, tools) if fam["dialogue"] == "assets" else sources.speech_procedural(rng, dur, sr), split)
    if fam["music"] == "real":
        music = real.music(rng, dur, split, sr)
    else:
        music = _in_split(lambda: sources.music_fluidsynth(rng, dur, sr, tools) if fam["music"] == "assets" else sources.music_procedural(rng, dur, sr), split)
    ambience_meta = {"generator": "ambience"}
    if fam["effects"] == "real":
        events = real.effect_events(rng, dur, split, sr)
    elif fam["effects"] == "assets":
        files = [f for f in tools.effect_files if split_of(f"effects:file:{Path(f).name}") == split]
        events = sources.effect_events_assets(rng, dur, sr, tools, files=files) if files else sources.effect_events_procedural(rng, dur, sr)
    else:
        events = sources.effect_events_procedural(rng, dur, sr)
    if real is not None and real.index.has("ambience", split):
        bed, ambience_meta = real.ambience(rng, dur, split, sr)
    else:
        bed = np.repeat(sources.ambience(rng, dur, sr)[None], 2, axis=0)
    return {
        "speech": speech.audio, "activity": speech.activity, "music": music.audio, "events": events,
        "ambience": bed.mean(0),
        "stereo": {"dialogue": _stereo(speech), "music": _stereo(music), "ambience": bed},
        "level_jitter": rng.uniform(-3, 3, size=3),  # LU added to the flat mix's stem loudness
        "source_ids": {"dialogue": speech.source_id, "music": music.source_id, "effects": sorted({e.source_id for e in events})},
        "generators": {"dialogue": speech.meta, "music": music.meta, "ambience": ambience_meta},
        "families": fam,
        "assets": {"dialogue": asset_refs([speech.meta]), "music": asset_refs([music.meta]),
                   "effects": asset_refs([e.meta for e in events] + [ambience_meta])},
    }


def _stereo(clip: sources.SourceClip) -> np.ndarray:
    """[2, T]: the clip's own stereo image, or its mono signal in the centre (-3 dB each side)."""
    return clip.stereo if clip.stereo is not None else np.repeat(clip.audio[None] * np.float32(0.5 ** 0.5), 2, axis=0)


def effects_stereo(events: list, ambience_bed: np.ndarray, T: int, sr: int) -> np.ndarray:
    """[2, T] effects stem: the ambience bed plus every event at its pan position."""
    out = ambience_bed[:, :T].astype(np.float32).copy()
    for e in events:
        out += pan_gains(e.pan)[:, None] * e.place(T, sr)[None]
    return out


def _in_split(make, split: str, tries: int = 50):
    """Draw sources until one whose identity hashes to ``split`` (no source material in two splits)."""
    for _ in range(tries):
        clip = make()
        if split_of(clip.source_id) == split:
            return clip
    return clip  # ids of fresh procedural sources are unique anyway


def make_picture(rng: np.random.Generator, cfg: SynthConfig, clip: dict) -> dict:
    """Shots, which events are on screen, and the director's gains those imply."""
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    shots = scene.random_shots(rng, cfg.duration)
    on_screen = [bool(rng.random() < cfg.p_onscreen) for _ in clip["events"]]
    onsets = [(e.onset, len(e.signal) / sr, on) for e, on in zip(clip["events"], on_screen)]
    rules = scene.MixRules(**cfg.rules)
    gains = scene.director_gains(shots, clip["activity"], onsets, sr, T, rules)
    return {"shots": shots, "on_screen": on_screen, "onsets": onsets, "gains": gains}


def mix(clip: dict, picture: dict, cfg: SynthConfig) -> dict:
    """Flat mix and director's mix; one common scale keeps both below full scale."""
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    fx_on = np.zeros(T, np.float32)
    fx_off = clip["ambience"][:T].astype(np.float32).copy()
    for event, on in zip(clip["events"], picture["on_screen"]):
        if on:
            fx_on += event.place(T, sr)
        else:
            fx_off += event.place(T, sr)
    stem_gain_db = {}
    jitter = clip["level_jitter"]
    dx, stem_gain_db["dialogue"] = normalize_loudness(clip["speech"][:T], sr, cfg.stem_lufs + jitter[0])
    mx, stem_gain_db["music"] = normalize_loudness(clip["music"][:T], sr, cfg.stem_lufs + jitter[1])
    fx, stem_gain_db["effects"] = normalize_loudness(fx_on + fx_off, sr, cfg.stem_lufs + jitter[2])
    k = 10 ** (stem_gain_db["effects"] / 20)
    g = picture["gains"]
    stems = np.stack([dx, mx, fx])  # [3, T]
    target_stems = np.stack([dx * g["dialogue"], mx * g["music"], k * (fx_on * g["effects_onscreen"] + fx_off * g["effects_offscreen"])])
    mix_, target = stems.sum(0), target_stems.sum(0)
    peak = max(np.abs(mix_).max(), np.abs(target).max(), 1e-9)
    scale = min(1.0, 0.9 / peak)
    return {
        "stems": (stems * scale).astype(np.float32), "target_stems": (target_stems * scale).astype(np.float32),
        "mix": (mix_ * scale).astype(np.float32), "target": (target * scale).astype(np.float32),
        "stem_gain_db": {k_: round(v, 2) for k_, v in stem_gain_db.items()}, "peak_scale": round(float(scale), 4),
    }


def build(root: str | Path, n_clips: int, seed: int = 0, config: SynthConfig | None = None, jobs: int = 1, on_item=None):
    """Build (or complete) a synth corpus of ``n_clips`` clips in ``root``."""
    config = config or SynthConfig()
    return Store(root, "synth").build(plan(n_clips, seed, config), build_item, jobs=jobs, on_item=on_item)
