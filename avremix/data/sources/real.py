"""Real recordings (Debian packages, see :mod:`~avremix.data.sources.catalog`) shaped to sound like film sound.

Every generator draws only from the files of one split (whole packages are held out, so validation and
test material never meets training) and returns the same types as the other families, plus a stereo
image (``SourceClip.stereo`` ``[2, T]``, ``EffectEvent.pan``) for stereo mixes.

Dialogue (:meth:`RealSources.speech`)
    One speaker per clip. Recordings of that speaker are cut to their speech with silero-vad, levelled to
    each other within ±2 dB, and laid out with natural pauses (isolated words and prompts joined into
    phrases; sentences separated by 0.4-1.5 s). Then one room per clip: an image-source room impulse
    response (RT60 0.2-0.8 s, source 0.5-3 m from the microphone, :mod:`~avremix.data.sources.room`), a
    random microphone colouring, and room tone 35-50 dB under the speech. Near the centre of the stereo
    image (pan within ±0.15). ``activity`` is the dry speech's envelope (the mouth follows the voice, not
    the room).
Music (:meth:`RealSources.music`)
    A real track, from a random point (quiet openings skipped), stereo as recorded. In a quarter of clips
    it enters part-way (fade-in of 0.5-3 s) and in a quarter it leaves (fade-out), sounding at least half
    of the clip.
Effects (:meth:`RealSources.effect_events`)
    Events cut from effect files (silence-trimmed, at most 4 s, faded out), each with its own room
    (70 % of events; RT60 0.2-1.2 s, 1-8 m away) and pan (±0.8); class = the file name without digits.
Ambience (:meth:`RealSources.ambience`)
    A bed looped from an ambience recording (ufoai and megaglest loops, lincity's city sounds) with 0.5 s
    crossfades, stereo.

Decoded files are cached per process (LRU), so a build reads each file once per worker.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import numpy as np

from avremix.data.sources import room as rooms
from avremix.data.sources import vad
from avremix.data.sources.common import (AssetsUnavailable, EffectEvent, SourceClip, activity_envelope, event_onsets, fade,
                                         num_events, num_samples, read_channels, resample, trim_silence)
from avremix.data.sources.fetch import assets_root
from avremix.data.sources.index import AssetFile, AssetIndex, load_index
from avremix.data.sources.procedural import ambience as room_tone_noise

MAX_EFFECT_S = 4.0


def pan_gains(pan: float) -> np.ndarray:
    """Constant-power pan law: [left, right] gains for ``pan`` in [-1, 1] (0 = centre, -3 dB each side)."""
    theta = (float(np.clip(pan, -1, 1)) + 1) * np.pi / 4
    return np.array([np.cos(theta), np.sin(theta)], np.float32)


@functools.lru_cache(maxsize=256)
def _decoded(path: str, sr: int) -> np.ndarray:
    """[C, n] float32 of a whole file at ``sr`` (read-only, cached)."""
    x = read_channels(path, None, None)
    x = np.stack([resample(c, x[1], sr) for c in x[0]]).astype(np.float32) if x[1] != sr else x[0].astype(np.float32)
    x.setflags(write=False)
    return x


@functools.lru_cache(maxsize=512)
def _speech_only(path: str, sr: int) -> np.ndarray | None:
    """A recording at ``sr``, mono, cut to its speech by the VAD (None without speech; cached)."""
    x = _decoded(path, sr).mean(0)
    t = vad.trim(x if sr == vad.VAD_SR else resample(x, sr, vad.VAD_SR).astype(np.float32))
    if t is not None and sr != vad.VAD_SR:
        t = resample(t, vad.VAD_SR, sr).astype(np.float32)
    if t is not None:
        t.setflags(write=False)
    return t


def _stereo(x: np.ndarray) -> np.ndarray:
    """[C, n] → [2, n] (mono duplicated, more than two channels: the first two)."""
    return np.repeat(x[:1], 2, axis=0) if x.shape[0] == 1 else x[:2]


def _loop(x: np.ndarray, n: int, sr: int, offset: int) -> np.ndarray:
    """[C, m] looped with 0.5 s crossfades to [C, n], starting ``offset`` samples in."""
    xf = min(int(0.5 * sr), x.shape[1] // 4)
    if x.shape[1] >= n + offset:
        return x[:, offset: offset + n]
    out = np.zeros((x.shape[0], n + offset + x.shape[1]), np.float32)
    ramp = np.linspace(0, 1, xf, dtype=np.float32) if xf else np.ones(0, np.float32)
    seg = x.copy()
    if xf:
        seg[:, :xf] *= ramp
        seg[:, -xf:] *= ramp[::-1]
    pos = 0
    while pos < n + offset:
        out[:, pos: pos + seg.shape[1]] += seg
        pos += seg.shape[1] - xf
    return out[:, offset: offset + n]


def asset_refs(metas) -> list[dict]:
    """The real recordings (package, file, licence) named in generators' metadata, each once."""
    out: list[dict] = []
    for m in metas:
        for r in m.get("files", [m]):
            ref = {k: r[k] for k in ("package", "file", "licence")} if "package" in r else None
            if ref and ref not in out:
                out.append(ref)
    return out


def effect_class(path: str) -> str:
    """``archer_attack3.wav`` → ``archer_attack``: the file name without digits and extension."""
    stem = re.sub(r"[\d_\-\s]+$", "", Path(path).stem.lower())
    return re.sub(r"[\d]+", "", stem) or Path(path).stem.lower()


ASSET_SETS = {"starter": ("starter",), "all": None}  # --assets: the catalogue collections a build draws from


def check_assets(assets: str) -> None:
    """One clear error for an ``--assets`` value that is not a set of :data:`ASSET_SETS`."""
    if assets not in ASSET_SETS:
        from avremix.errors import UsageError

        raise UsageError(f"--assets must be {' or '.join(ASSET_SETS)}, got {assets!r}")


class RealSources:
    """Generators over an :class:`~avremix.data.sources.index.AssetIndex` (default: the installed starter
    collection, which every shipped model was trained on)."""

    def __init__(self, index: AssetIndex | None = None):
        self.index = index if index is not None else load_index(collections=ASSET_SETS["starter"])

    def _pool(self, category: str, split: str) -> list[AssetFile]:
        pool = self.index.pool(category, split)
        if not pool:
            raise AssetsUnavailable(f"no real {category} recordings for the {split} split in {self.index.root}; "
                                    "run `make data-assets` (or `avremix assets --fetch`)")
        return pool

    @staticmethod
    def _meta(f: AssetFile) -> dict:
        return {"package": f.package, "file": f.path, "licence": f.licence}

    # ---- dialogue ----------------------------------------------------------------------------------------
    def speech(self, rng: np.random.Generator, duration: float, split: str, sr: int = 16000) -> SourceClip:
        n = num_samples(duration, sr)
        pool = self._pool("speech", split)
        speakers: dict[str, list[AssetFile]] = {}
        for f in pool:
            speakers.setdefault(f.source, []).append(f)
        names = sorted(speakers)
        weight = np.sqrt([sum(f.seconds for f in speakers[s]) for s in names])
        speaker = names[int(rng.choice(len(names), p=weight / weight.sum()))]
        files = speakers[speaker]
        words = files[0].words
        pieces, used, total = [], [], 0.0
        for k in rng.permutation(len(files))[: 60]:
            f = files[int(k)]
            t = _speech_only(self.index.abspath(f), sr)
            if t is None:
                continue
            rms = float(np.sqrt(np.mean(t ** 2))) + 1e-9
            pieces.append(t * (0.1 / rms) * 10 ** (rng.uniform(-2, 2) / 20))
            used.append(f)
            total += len(t) / sr + (0.2 if words else 0.8)
            if total > duration * 1.1:
                break
        if not pieces:
            raise AssetsUnavailable(f"speaker {speaker}: no speech found by the VAD in {len(files)} files")
        dry, placed = vad.join(rng, pieces, sr, n, words)
        used = used[: len(placed)]
        room = rooms.random_room(rng, distance=(0.5, 3.0), rt60=(0.2, 0.8))
        wet = rooms.apply_rir(dry, rooms.shoebox_rir(room, sr, rng), wet=float(rng.uniform(0.6, 1.0)))
        wet, colour = rooms.mic_colour(rng, wet, sr)
        tone_db = float(rng.uniform(35, 50))
        tone = room_tone_noise(rng, duration, sr)[:n]
        speech_rms = float(np.sqrt(np.mean(wet[np.abs(dry) > 1e-4] ** 2))) if np.any(np.abs(dry) > 1e-4) else 0.1
        tone = tone * (speech_rms * 10 ** (-tone_db / 20) / (float(np.sqrt(np.mean(tone ** 2))) + 1e-12))
        audio = (wet + tone).astype(np.float32)
        peak = float(np.abs(audio).max())
        audio *= 0.5 / peak if peak > 0 else 1.0
        pan = float(rng.uniform(-0.15, 0.15))
        meta = {"generator": "real.speech", "sr": sr, "speaker": speaker, "words": words, "room": room.params(),
                "mic": colour, "room_tone_db": round(-tone_db, 1), "pan": round(pan, 3),
                "files": [self._meta(f) for f in used]}
        return SourceClip(audio, activity_envelope(dry, sr), f"speech:real:{speaker}", meta, stereo=pan_gains(pan)[:, None] * audio)

    # ---- music -------------------------------------------------------------------------------------------
    def music(self, rng: np.random.Generator, duration: float, split: str, sr: int = 16000) -> SourceClip:
        n = num_samples(duration, sr)
        pool = self._pool("music", split)
        weight = np.array([f.seconds for f in pool])
        f = pool[int(rng.choice(len(pool), p=weight / weight.sum()))]
        x = np.zeros((2, 0))
        for _ in range(6):  # skip quiet openings and breaks
            start = float(rng.uniform(0, max(0.0, f.seconds - duration)))
            raw, file_sr = read_channels(self.index.abspath(f), start, duration + 0.1)
            x = _stereo(np.stack([resample(c, file_sr, sr) for c in raw]))
            if x.shape[1] and np.sqrt(np.mean(x ** 2)) > 10 ** (-45 / 20):
                break
        x = _loop(x.astype(np.float32), n, sr, 0) if x.shape[1] < n else x[:, :n].astype(np.float32)
        env = np.ones(n, np.float32)
        enter = leave = None
        if rng.random() < 0.25:
            enter = float(rng.uniform(0, 0.4 * duration))
            env *= np.clip((np.arange(n) / sr - enter) / rng.uniform(0.5, 3.0), 0, 1)
        if rng.random() < 0.25:
            leave = float(rng.uniform(max(enter or 0, 0) + 0.5 * duration, duration))
            env *= np.clip((leave - np.arange(n) / sr) / rng.uniform(0.5, 3.0), 0, 1)
        stereo = x * env
        peak = float(np.abs(stereo).max())
        stereo *= 0.5 / peak if peak > 0 else 1.0
        audio = stereo.mean(0)
        meta = {"generator": "real.music", "sr": sr, "start": round(start, 2), "enter": enter, "leave": leave, **self._meta(f)}
        return SourceClip(audio.astype(np.float32), activity_envelope(audio, sr), f"music:real:{f.source}", meta,
                          stereo=stereo.astype(np.float32))

    # ---- effects -----------------------------------------------------------------------------------------
    def effect_events(self, rng: np.random.Generator, duration: float, split: str, sr: int = 16000,
                      n_events: int | None = None, files: list[AssetFile] | None = None) -> list[EffectEvent]:
        num_samples(duration, sr)
        pool = files if files is not None else self._pool("effects", split)
        events = []
        for onset in event_onsets(rng, duration, num_events(rng, duration, n_events)):
            f = pool[int(rng.integers(len(pool)))]
            x = trim_silence(_decoded(self.index.abspath(f), sr).mean(0), sr)
            if len(x) > MAX_EFFECT_S * sr:
                start = int(rng.integers(0, len(x) - int(MAX_EFFECT_S * sr)))
                x = fade(x[start: start + int(MAX_EFFECT_S * sr)].copy(), int(0.01 * sr), int(0.3 * sr))
            else:
                x = fade(x.copy(), 0, int(0.01 * sr))
            room = None
            if rng.random() < 0.7:
                r = rooms.random_room(rng, distance=(1.0, 8.0), rt60=(0.2, 1.2))
                h = rooms.shoebox_rir(r, sr, rng)
                h = h[int(np.argmax(np.abs(h))):] / (np.abs(h).max() + 1e-12)
                x = np.convolve(x, h)[: int(MAX_EFFECT_S * sr)]
                x = fade(x, 0, int(0.05 * sr))
                room = r.params()
            peak = float(np.abs(x).max())
            x = (x * (rng.uniform(0.3, 0.8) / peak if peak > 0 else 1.0)).astype(np.float32)
            pan = float(rng.uniform(-0.8, 0.8))
            events.append(EffectEvent(float(onset), x, effect_class(f.path), f"effects:real:{f.source}",
                                      {"generator": "real.effects", "sr": sr, "room": room, **self._meta(f)}, pan=pan))
        return events

    # ---- ambience ----------------------------------------------------------------------------------------
    def ambience(self, rng: np.random.Generator, duration: float, split: str, sr: int = 16000) -> tuple[np.ndarray, dict]:
        """[2, T] ambience bed (peak 0.05, like the procedural room tone) and its metadata."""
        n = num_samples(duration, sr)
        pool = self._pool("ambience", split)
        f = pool[int(rng.integers(len(pool)))]
        x = _stereo(_decoded(self.index.abspath(f), sr))
        bed = _loop(np.asarray(x, np.float32), n, sr, int(rng.integers(0, max(1, x.shape[1]))))
        peak = float(np.abs(bed).max())
        bed = bed * (0.05 / peak) if peak > 0 else bed
        return bed.astype(np.float32), {"generator": "real.ambience", **self._meta(f), "source": f"ambience:real:{f.source}"}


@functools.lru_cache(maxsize=4)
def _sources_at(root: str, assets: str) -> RealSources:
    return RealSources(load_index(root, collections=ASSET_SETS[assets]))


def real_sources(assets: str = "starter") -> RealSources:
    """The generators over the installed assets (``$AVREMIX_ASSETS``) of the ``assets`` set (``starter``: the
    starter collection; ``all``: every collection), indexed once per process."""
    check_assets(assets)
    return _sources_at(str(assets_root()), assets)
