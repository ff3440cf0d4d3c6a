"""Single-source audio generators for the offline synthetic audio-visual corpus.

Every generator returns mono float32 audio at ``sr`` (default 16 kHz), never peaks above 1, and is
deterministic given a :class:`numpy.random.Generator` (no global random state is used). Continuous sources
come back as a :class:`SourceClip` (audio, activity envelope, identity, JSON-serialisable metadata); sound
effects as a list of :class:`EffectEvent` (onset + short signal) that the mixer places with
:meth:`EffectEvent.place`.

Procedural family (numpy/scipy only, always available)
    :func:`speech_procedural`
        Formant-synthesised dialogue by a :class:`Speaker` (f0, formant scale = vocal-tract length, speaking
        rate, breathiness, jitter, shimmer, pitch range). Talk spurts of 0.8-3 s separated by 0.2-1.5 s
        pauses (speech active ~55-80 % of the time); syllables of 120-300 ms = optional consonant onset
        (fricative, plosive with burst and aspiration, nasal, liquid/glide, /h/) + vowel from :data:`VOWELS`.
        Source: Rosenberg glottal pulse derivative with declination + accents (intonation), per-cycle jitter
        and shimmer, breath noise; filter: time-varying cascade of 4 formant resonators. Peak 0.5.
    :func:`music_procedural`
        A piece from :func:`compose_music` (tempo 70-140 BPM, key, major/minor, chord progression such as
        I-V-vi-IV, melody or arpeggio, bass on chord roots, optional drums) rendered with additive synthesis:
        wavetable pad with slow attack, plucked lead (decaying partials, detune), saturated bass, kick
        (pitch-swept sine), snare, hi-hat (high-passed noise), light noise reverb. Continuous. Peak 0.5.
    :func:`effect_events_procedural`
        3-8 events per 10 s of the classes in :data:`EFFECT_CLASSES`, each synthesised with random
        class-specific parameters (so two events of one class differ).
    :func:`ambience`
        Room tone: pink-to-brown noise, slowly modulated, optional mains hum. Peak 0.05.

Asset-backed family (Debian packages; each raises :class:`AssetsUnavailable` when what it needs is missing)
    :func:`find_assets`
        Locates ``espeak-ng``, ``fluidsynth``, a General MIDI soundfont and sound-effect files
        (sound-theme-freedesktop, heroes-sound-effects).
    :func:`speech_espeak`
        Random English sentences (built-in word list and grammar templates, :func:`english_sentence`)
        spoken by espeak-ng with a random :class:`EspeakSpeaker` (voice variant, speed, pitch, word gap).
    :func:`music_fluidsynth`
        The same composition logic, written as a Standard MIDI File by :func:`write_midi` with random General
        MIDI programs, rendered by fluidsynth.
    :func:`effect_events_assets`
        Events cut from sound-effect files (trimmed, at most 3 s, faded out); class = file stem.

:func:`activity_envelope` (rectify, ~30 ms low-pass, normalise by the 99th percentile) gives every clip's
``activity`` (for speech: how open the mouth is, 0 in pauses).
"""

from __future__ import annotations

import fnmatch
import functools
import hashlib
import json
import math
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Mapping, NamedTuple, Sequence

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter1d

__all__ = [
    "AMBIENCE_PEAK", "BASS", "DEFAULT_SR", "DRUMS", "EFFECT_CLASSES", "HAT", "KICK", "LEAD", "MUSIC_PEAK", "NOT_EFFECTS",
    "PAD", "SNARE", "SPEECH_PEAK", "VOWELS",
    "Assets", "AssetsUnavailable", "EffectEvent", "EspeakSpeaker", "MidiNote", "Piece", "SourceClip", "Speaker",
    "activity_envelope", "ambience", "compose_music", "effect_events_assets", "effect_events_procedural",
    "english_sentence", "find_assets", "music_fluidsynth", "music_procedural", "speech_espeak",
    "speech_procedural", "write_midi",
]

DEFAULT_SR = 16000
EFFECT_CLASSES = ("impact", "clink", "whoosh", "footsteps", "door", "gunshot", "engine")
SPEECH_PEAK = 0.5
MUSIC_PEAK = 0.5
AMBIENCE_PEAK = 0.05


class AssetsUnavailable(Exception):
    """A tool or data file of a Debian package needed by an asset-backed generator is missing."""


# ----------------------------------------------------------------------------------------------------------
# data types
# ----------------------------------------------------------------------------------------------------------


@dataclass
class SourceClip:
    """One source's audio over the whole clip."""

    audio: np.ndarray  # [T] float32, T == round(duration * sr)
    activity: np.ndarray  # [T] float32 in [0, 1], smoothed amplitude envelope (0 in pauses)
    source_id: str  # stable id of the source identity
    meta: dict  # generator name and parameters (JSON-serialisable)


@dataclass
class EffectEvent:
    """One sound event: its own short signal and where it starts in the clip."""

    onset: float  # seconds
    signal: np.ndarray  # [n] float32
    cls: str
    source_id: str
    meta: dict = field(default_factory=dict)

    def place(self, total_samples: int, sr: int) -> np.ndarray:
        """The event on a [total_samples] float32 timeline, starting at its onset (cropped at the end)."""
        out = np.zeros(int(total_samples), np.float32)
        start = int(round(self.onset * sr))
        sig = self.signal[max(0, -start):]
        start = max(0, start)
        n = min(len(sig), int(total_samples) - start)
        if n > 0:
            out[start:start + n] = sig[:n]
        return out


# ----------------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------------


def _num_samples(duration: float, sr: int) -> int:
    if not duration > 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    if int(sr) != sr or sr < 4000:
        raise ValueError(f"sample rate must be an integer >= 4000 Hz, got {sr}")
    return int(round(duration * sr))


def _jsonable(obj: object) -> object:
    """numpy scalars/arrays and tuples to plain Python, recursively."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return round(float(obj), 6)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def _stable_hash(obj: object) -> str:
    return hashlib.sha1(json.dumps(_jsonable(obj), sort_keys=True).encode()).hexdigest()[:12]


def _normalise(x: np.ndarray, peak: float) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    y = x * (peak / m) if m > 0 else x
    return np.asarray(y, np.float32)


def _unit(x: np.ndarray) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x / m if m > 0 else x


def _times(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def _ramp(n: int) -> np.ndarray:
    """Raised-cosine rise from 0 to 1 over n samples."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))


def _fade(x: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """Raised-cosine fade-in/out, in place; returns x."""
    n_in, n_out = min(n_in, len(x)), min(n_out, len(x))
    if n_in > 0:
        x[:n_in] *= _ramp(n_in)
    if n_out > 0:
        x[len(x) - n_out:] *= _ramp(n_out)[::-1]
    return x


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-phase triangular smoothing (two passes of a box of ``width`` samples)."""
    if width <= 1:
        return x
    return uniform_filter1d(uniform_filter1d(x, width, mode="nearest"), width, mode="nearest")


def _sos(kind: str, freqs: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth sections; cut-offs clipped to (20 Hz, 0.45 sr)."""
    nyq_safe = 0.45 * sr
    if kind == "bandpass":
        lo = float(np.clip(freqs[0], 20.0, nyq_safe * 0.8))
        hi = float(np.clip(freqs[1], lo * 1.25, nyq_safe))
        return signal.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")
    return signal.butter(order, float(np.clip(freqs, 20.0, nyq_safe)), btype=kind, fs=sr, output="sos")


def _noise(rng: np.random.Generator, n: int, sr: int, kind: str | None = None,
           freqs: float | tuple[float, float] | None = None, order: int = 2) -> np.ndarray:
    x = rng.standard_normal(n)
    return signal.sosfilt(_sos(kind, freqs, sr, order), x) if kind else x


def _midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def _resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    return signal.resample_poly(x, int(sr_out) // g, int(sr_in) // g)


def _fit_length(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def activity_envelope(audio: np.ndarray, sr: int, smooth: float = 0.03) -> np.ndarray:
    """Smoothed amplitude envelope in [0, 1]: |audio| low-passed over ~``smooth`` s, divided by its 99th percentile."""
    env = _smooth(np.abs(np.asarray(audio, np.float64)), max(1, int(round(smooth * sr))))
    ref = float(np.percentile(env, 99)) if env.size else 0.0
    if ref <= 1e-9:
        return np.zeros(len(env), np.float32)
    return np.clip(env / ref, 0.0, 1.0).astype(np.float32)


def _clip(audio: np.ndarray, sr: int, source_id: str, meta: dict) -> SourceClip:
    audio = np.asarray(audio, np.float32)
    return SourceClip(audio, activity_envelope(audio, sr), source_id, _jsonable(meta))


class _Track:
    """Piecewise-linear control track from keypoints (x in samples, kept strictly increasing)."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.y: list = []

    def add(self, x: float, y) -> None:
        if self.x and x <= self.x[-1]:
            x = self.x[-1] + 1e-3
        self.x.append(float(x))
        self.y.append(y)

    def at(self, pos: np.ndarray) -> np.ndarray:
        xp, yp = np.asarray(self.x), np.asarray(self.y, np.float64)
        if yp.ndim == 1:
            return np.interp(pos, xp, yp)
        return np.stack([np.interp(pos, xp, yp[:, k]) for k in range(yp.shape[1])], axis=-1)


# ----------------------------------------------------------------------------------------------------------
# procedural speech (formant synthesis)
# ----------------------------------------------------------------------------------------------------------

#: F1-F4 in Hz of an adult male vocal tract (Peterson & Barney-like); scaled by Speaker.formant_scale.
VOWELS: dict[str, tuple[float, float, float, float]] = {
    "a": (730.0, 1090.0, 2440.0, 3400.0),
    "e": (530.0, 1840.0, 2480.0, 3500.0),
    "i": (270.0, 2290.0, 3010.0, 3700.0),
    "o": (570.0, 840.0, 2410.0, 3300.0),
    "u": (300.0, 870.0, 2240.0, 3300.0),
    "ae": (660.0, 1720.0, 2410.0, 3400.0),
    "schwa": (500.0, 1500.0, 2500.0, 3400.0),
}
_VOWEL_WEIGHTS = {"a": 1.2, "e": 1.0, "i": 1.0, "o": 0.8, "u": 0.6, "ae": 0.8, "schwa": 0.6}
_FORMANT_BW = np.array([80.0, 100.0, 160.0, 260.0])


@dataclass(frozen=True)
class _Consonant:
    kind: str  # "stop", "fric", "asp", "nasal", "approx"
    voiced: bool
    locus: tuple[float, float, float, float] | None  # formant targets during the consonant (male reference)
    band: tuple[float, float] = (0.0, 0.0)  # frication / burst band, Hz
    level: float = 0.0  # frication / burst level relative to the vowels' RMS
    weight: float = 1.0  # how often it starts a syllable


_CONSONANTS: dict[str, _Consonant | None] = {
    "": None,
    "p": _Consonant("stop", False, (300, 800, 2200, 3300), (400, 1600), 0.5, 1.0),
    "t": _Consonant("stop", False, (300, 1700, 2600, 3400), (3000, 6500), 0.6, 1.6),
    "k": _Consonant("stop", False, (300, 1900, 2300, 3300), (1400, 3000), 0.6, 1.2),
    "b": _Consonant("stop", True, (300, 800, 2200, 3300), (400, 1600), 0.3, 0.8),
    "d": _Consonant("stop", True, (300, 1700, 2600, 3400), (2500, 5000), 0.35, 1.0),
    "g": _Consonant("stop", True, (300, 1900, 2300, 3300), (1400, 3000), 0.35, 0.5),
    "s": _Consonant("fric", False, (350, 1700, 2600, 3500), (4000, 7500), 0.3, 1.5),
    "z": _Consonant("fric", True, (350, 1700, 2600, 3500), (4000, 7500), 0.15, 0.4),
    "sh": _Consonant("fric", False, (350, 1800, 2300, 3300), (2000, 5000), 0.35, 0.5),
    "f": _Consonant("fric", False, (350, 900, 2300, 3300), (1500, 7000), 0.1, 0.8),
    "v": _Consonant("fric", True, (350, 900, 2300, 3300), (1500, 6000), 0.07, 0.5),
    "th": _Consonant("fric", False, (350, 1400, 2600, 3400), (1500, 7000), 0.07, 0.6),
    "h": _Consonant("asp", False, None, (0, 0), 0.6, 0.8),
    "m": _Consonant("nasal", True, (250, 1100, 2200, 3300), weight=1.2),
    "n": _Consonant("nasal", True, (250, 1500, 2500, 3400), weight=1.6),
    "l": _Consonant("approx", True, (360, 1200, 2700, 3400), weight=1.2),
    "r": _Consonant("approx", True, (400, 1100, 1600, 3200), weight=1.2),
    "w": _Consonant("approx", True, (300, 700, 2200, 3200), weight=0.8),
    "j": _Consonant("approx", True, (280, 2200, 3000, 3600), weight=0.5),
}
_NO_ONSET_WEIGHT = 2.5


def _weighted_choice(rng: np.random.Generator, names: Sequence[str], weights: Sequence[float]) -> str:
    w = np.asarray(weights, np.float64)
    return names[int(rng.choice(len(names), p=w / w.sum()))]


@dataclass(frozen=True)
class Speaker:
    """Voice of a procedural talker; the same Speaker always gives the same ``source_id``."""

    f0: float  # mean fundamental frequency, Hz (85-255)
    formant_scale: float  # vocal-tract length factor on all formants (0.85 long ... 1.2 short)
    rate: float  # syllables per second (3-6)
    breathiness: float  # 0 modal ... 1 very breathy
    jitter: float = 0.008  # relative cycle-to-cycle f0 perturbation
    shimmer: float = 0.04  # relative cycle-to-cycle amplitude perturbation
    pitch_range: float = 1.0  # intonation expressiveness

    def __post_init__(self) -> None:
        if not (40 <= self.f0 <= 500 and 0.5 <= self.formant_scale <= 1.6 and 1 <= self.rate <= 10
                and 0 <= self.breathiness <= 1):
            raise ValueError(f"implausible speaker parameters: {self}")

    @classmethod
    def random(cls, rng: np.random.Generator) -> Speaker:
        """A male- or female-like voice: low f0 goes with a long vocal tract (small formant scale)."""
        if rng.random() < 0.5:
            f0, scale, breath = rng.uniform(85, 160), rng.uniform(0.85, 1.05), rng.uniform(0.0, 0.45)
        else:
            f0, scale, breath = rng.uniform(160, 255), rng.uniform(1.05, 1.2), rng.uniform(0.1, 0.6)
        return cls(
            f0=round(float(f0), 3), formant_scale=round(float(scale), 4), rate=round(float(rng.uniform(3, 6)), 3),
            breathiness=round(float(breath), 3), jitter=round(float(rng.uniform(0.004, 0.015)), 4),
            shimmer=round(float(rng.uniform(0.02, 0.08)), 4), pitch_range=round(float(rng.uniform(0.6, 1.4)), 3),
        )

    @property
    def source_id(self) -> str:
        return f"speech:proc:{_stable_hash(asdict(self))}"


@dataclass
class _Syllable:
    start: int  # samples from the spurt's start
    cons: str
    cons_len: int
    length: int
    vowel: str
    stress: bool
    gain: float

    @property
    def end(self) -> int:
        return self.start + self.length


def _consonant_length(rng: np.random.Generator, c: _Consonant | None) -> float:
    if c is None:
        return 0.0
    if c.kind == "stop":
        return rng.uniform(0.03, 0.06) + (rng.uniform(0.025, 0.05) if not c.voiced else 0.012)
    if c.kind == "fric":
        return rng.uniform(0.06, 0.11)
    return rng.uniform(0.04, 0.08)


def _plan_syllables(rng: np.random.Generator, spk: Speaker, target: float, sr: int) -> list[_Syllable]:
    names = list(_CONSONANTS)
    weights = [(_NO_ONSET_WEIGHT if c is None else c.weight) for c in _CONSONANTS.values()]
    vowels, vweights = list(_VOWEL_WEIGHTS), list(_VOWEL_WEIGHTS.values())
    out: list[_Syllable] = []
    t = 0.0
    while t < target or not out:
        dur = float(np.clip(rng.normal(1.0 / spk.rate, 0.25 / spk.rate), 0.12, 0.30))
        cons = _weighted_choice(rng, names, weights)
        c_len = _consonant_length(rng, _CONSONANTS[cons])
        dur = max(dur, c_len + 0.07)
        stress = bool(rng.random() < 0.4)
        vowel = "schwa" if (not stress and rng.random() < 0.5) else _weighted_choice(rng, vowels, vweights)
        gain = rng.uniform(0.85, 1.0) if stress else rng.uniform(0.5, 0.8)
        out.append(_Syllable(int(t * sr), cons, int(c_len * sr), int(dur * sr), vowel, stress, float(gain)))
        t += dur
    last = out[-1]
    last.length = int(last.length * 1.3)  # phrase-final lengthening
    return out


def _glottal_source(rng: np.random.Generator, f0: np.ndarray, sr: int, jitter: float, shimmer: float,
                    open_quotient: float) -> tuple[np.ndarray, np.ndarray]:
    """Rosenberg glottal flow and its derivative (lip radiation included), with per-cycle jitter/shimmer."""
    cycles = (np.cumsum(f0) / sr).astype(np.int64)
    jit = 1.0 + jitter * rng.standard_normal(int(cycles[-1]) + 2)
    phase = np.cumsum(f0 * jit[cycles]) / sr
    frac = phase % 1.0
    tp, tn = 0.65 * open_quotient, 0.35 * open_quotient
    rising = 0.5 * (1.0 - np.cos(np.pi * frac / tp))
    falling = np.cos(0.5 * np.pi * np.minimum((frac - tp) / tn, 1.0))
    flow = np.where(frac < tp, rising, np.where(frac < tp + tn, falling, 0.0))
    cyc = phase.astype(np.int64)
    flow *= 1.0 + shimmer * rng.standard_normal(int(cyc[-1]) + 2)[cyc]
    dflow = np.diff(flow, prepend=0.0) * (sr / f0)
    return flow, dflow


def _resonator_sos(freqs: np.ndarray, bws: np.ndarray, sr: int) -> np.ndarray:
    """Unity-DC-gain two-pole resonators (Klatt), [..., K] -> sos [..., K, 6]."""
    r = np.exp(-np.pi * bws / sr)
    a1 = -2.0 * r * np.cos(2.0 * np.pi * freqs / sr)
    a2 = r * r
    zeros, ones = np.zeros_like(r), np.ones_like(r)
    return np.stack([1.0 + a1 + a2, zeros, zeros, ones, a1, a2], axis=-1)


def _formant_filter(x: np.ndarray, formants: _Track, bws: np.ndarray, sr: int, block: int = 64) -> np.ndarray:
    """Cascade of time-varying formant resonators, coefficients updated every ``block`` samples."""
    n = len(x)
    nb = -(-n // block)
    centres = np.minimum(np.arange(nb) * block + block // 2, n - 1)
    freqs = np.minimum(formants.at(centres), 0.45 * sr)
    sos = _resonator_sos(freqs, np.broadcast_to(bws, freqs.shape), sr)
    zi = np.zeros((freqs.shape[1], 2))
    y = np.empty(n)
    for b in range(nb):
        s = b * block
        y[s:s + block], zi = signal.sosfilt(sos[b], x[s:s + block], zi=zi)
    return y


def _speak_spurt(rng: np.random.Generator, spk: Speaker, target: float, sr: int) -> np.ndarray:
    """One talk spurt (a run of syllables without pause)."""
    syls = _plan_syllables(rng, spk, target, sr)
    ms = sr / 1000.0
    n = syls[-1].end + int(30 * ms)
    av, asp, fmt, accent = _Track(), _Track(), _Track(), _Track()
    bursts: list[tuple[int, int, tuple[float, float], float, int, int]] = []
    av.add(0, 0.0)
    asp.add(0, 0.0)
    accent.add(0, 1.0)
    scale = spk.formant_scale
    for i, s in enumerate(syls):
        c = _CONSONANTS[s.cons]
        target_f = np.asarray(VOWELS[s.vowel]) * scale * (1.0 + 0.04 * rng.standard_normal(4))
        v0 = s.start + s.cons_len
        av.add(s.start, 0.0 if i == 0 else rng.uniform(0.03, 0.2))
        asp.add(s.start, 0.0)
        if c is None or c.kind == "asp":
            locus = target_f
        else:
            alpha = 0.85 if c.kind in ("nasal", "approx") else 0.6
            locus = alpha * np.asarray(c.locus) * scale + (1 - alpha) * target_f
        fmt.add(s.start, locus)
        if c is not None:
            _consonant_controls(rng, c, s, v0, ms, av, asp, bursts)
        fmt.add(v0, locus)
        trans = rng.uniform(30, 60) * ms
        fmt.add(v0 + trans, target_f)
        fmt.add(s.end - 10 * ms, target_f)
        av.add(v0 + rng.uniform(15, 30) * ms, s.gain)
        av.add(s.end - rng.uniform(30, 50) * ms, 0.85 * s.gain)
        rise = rng.uniform(0.08, 0.25) if s.stress else 0.03 * rng.standard_normal()
        accent.add(v0 + 0.4 * (s.end - v0), 1.0 + spk.pitch_range * rise)
    av.add(n - 20 * ms, 0.0)
    question = rng.random() < 0.2
    accent.add(n, 1.0 + (0.3 * spk.pitch_range if question else -0.05))

    pos = np.arange(n)
    av_t = _smooth(av.at(pos), int(5 * ms))
    asp_t = _smooth(asp.at(pos), int(3 * ms))
    f0_start, f0_end = spk.f0 * rng.uniform(1.02, 1.15), spk.f0 * rng.uniform(0.8, 0.92)
    drift = 1.0 + 0.015 * _smooth(rng.standard_normal(n), int(40 * ms)) * math.sqrt(40 * ms)
    f0 = f0_start * (f0_end / f0_start) ** (pos / n) * _smooth(accent.at(pos), int(30 * ms)) * drift
    flow, dflow = _glottal_source(rng, f0, sr, spk.jitter, spk.shimmer, 0.5 + 0.3 * spk.breathiness)
    g_rms = float(np.sqrt(np.mean(dflow ** 2)))
    breath = 0.35 * spk.breathiness * av_t * (0.4 + flow)
    excitation = av_t * dflow + g_rms * rng.standard_normal(n) * (asp_t + breath)
    y = _formant_filter(excitation, fmt, _FORMANT_BW * (1.0 + 0.5 * spk.breathiness), sr)
    voiced = av_t > 0.5 * av_t.max()
    ref = float(np.sqrt(np.mean(y[voiced] ** 2))) if voiced.any() else 1.0
    for start, length, band, level, att, rel in bursts:
        seg = _noise(rng, length, sr, "bandpass", band)
        seg = _fade(seg / (np.std(seg) + 1e-12), att, rel)
        stop = min(n, start + length)
        y[start:stop] += level * ref * seg[: stop - start]
    return y


def _consonant_controls(rng: np.random.Generator, c: _Consonant, s: _Syllable, v0: int, ms: float,
                        av: _Track, asp: _Track, bursts: list) -> None:
    """Voicing / aspiration keypoints and noise bursts of one syllable onset."""
    if c.kind == "stop":
        vot = int(12 * ms) if c.voiced else int(rng.uniform(0.4, 0.5) * (v0 - s.start))
        release = v0 - vot
        closure_level = 0.08 if c.voiced else 0.0
        av.add(s.start + 8 * ms, closure_level)
        av.add(release, closure_level)
        length = int(rng.uniform(8, 15) * ms * (1.0 if c.voiced else 1.3))
        bursts.append((release, length, c.band, c.level * rng.uniform(0.7, 1.2), int(ms), int(6 * ms)))
        if not c.voiced:
            av.add(v0, 0.0)
            asp.add(release, 0.0)
            asp.add(release + 5 * ms, 0.6)
            asp.add(v0, 0.35)
            asp.add(v0 + 15 * ms, 0.0)
    elif c.kind == "fric":
        level = 0.2 if c.voiced else 0.0
        av.add(s.start + 10 * ms, level)
        av.add(v0 - 5 * ms, level)
        bursts.append((s.start, v0 - s.start, c.band, c.level * rng.uniform(0.7, 1.2), int(25 * ms), int(15 * ms)))
    elif c.kind == "asp":
        av.add(s.start + 10 * ms, 0.0)
        av.add(v0 - 5 * ms, 0.0)
        asp.add(s.start + 15 * ms, c.level)
        asp.add(v0, 0.7 * c.level)
        asp.add(v0 + 20 * ms, 0.0)
    else:  # nasal murmur or approximant: voiced, weaker than the vowel
        level = (0.3 if c.kind == "nasal" else 0.45) * s.gain
        av.add(s.start + 15 * ms, level)
        av.add(v0, level)


def speech_procedural(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR,
                      speaker: Speaker | None = None) -> SourceClip:
    """Formant-synthesised dialogue: talk spurts separated by pauses, normalised to peak 0.5."""
    n = _num_samples(duration, sr)
    speaker = speaker if speaker is not None else Speaker.random(rng)
    out = np.zeros(n)
    active_ratio = rng.uniform(0.55, 0.78)
    t = rng.uniform(0.0, 0.6)
    spurts: list[list[float]] = []
    while t < duration:
        seg = _speak_spurt(rng, speaker, rng.uniform(0.8, 3.0), sr)
        start = int(round(t * sr))
        stop = min(n, start + len(seg))
        out[start:stop] += seg[: stop - start] * rng.uniform(0.7, 1.0)
        seg_s = len(seg) / sr
        spurts.append([t, min(duration, t + seg_s)])
        pause = seg_s * (1 - active_ratio) / active_ratio * rng.uniform(0.6, 1.4)
        t += seg_s + float(np.clip(pause, 0.2, 1.5))
    meta = {"generator": "speech_procedural", "sr": sr, "speaker": asdict(speaker), "spurts": spurts}
    return _clip(_normalise(out, SPEECH_PEAK), sr, speaker.source_id, meta)


# ----------------------------------------------------------------------------------------------------------
# music: composition (shared by the procedural and the fluidsynth renderers)
# ----------------------------------------------------------------------------------------------------------

_SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
_PROGRESSIONS = {  # scale degrees from 0 (0 = I / i)
    "major": ((0, 4, 5, 3), (0, 5, 3, 4), (5, 3, 0, 4), (0, 3, 4, 3), (1, 4, 0, 0), (0, 2, 3, 4), (0, 3, 0, 4),
              (3, 4, 2, 5)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 5, 3, 4), (0, 3, 6, 2), (0, 2, 6, 5)),
}
PAD, LEAD, BASS, DRUMS = 0, 1, 2, 9  # MIDI channels of the parts (drums on GM channel 10)
KICK, SNARE, HAT = 36, 38, 42  # General MIDI percussion keys
_MELODY_RHYTHMS = ((1, 1, 1, 1), (0.5, 0.5, 1, 2), (1.5, 0.5, 1, 1), (2, 1, 1), (0.5,) * 8, (1, 0.5, 0.5, 2),
                   (0.75, 0.75, 0.5, 2), (3, 1), (1, 1, 2))
_BASS_PATTERNS = {  # (beat in bar, duration, interval: 0 root, 7 fifth, 12 octave)
    "whole": ((0, 4, 0),),
    "halves": ((0, 2, 0), (2, 2, 0)),
    "quarters": ((0, 1, 0), (1, 1, 0), (2, 1, 7), (3, 1, 0)),
    "eighths": tuple((i * 0.5, 0.5, 0) for i in range(8)),
    "octaves": ((0, 1, 0), (1, 0.5, 12), (1.5, 0.5, 0), (2, 1, 0), (3, 1, 12)),
    "syncopated": ((0, 1.5, 0), (1.5, 0.5, 0), (2, 1.5, 7), (3.5, 0.5, 0)),
}
_KICK_PATTERNS = ((0, 2), (0, 1.5, 2), (0, 2.5), (0, 0.75, 2, 2.5), (0, 1, 2, 3))


class MidiNote(NamedTuple):
    channel: int  # 0-15 (9 = percussion)
    pitch: int  # MIDI key 0-127
    velocity: int  # 1-127
    start: float  # beats
    duration: float  # beats


@dataclass
class Piece:
    """A composed piece: notes in beats plus the musical parameters (for metadata)."""

    tempo: float  # BPM
    key: int  # tonic pitch class 0-11
    mode: str  # "major" or "minor"
    progression: list[int]  # scale degrees, one chord per ``beats_per_chord``
    beats_per_chord: int
    lead_style: str  # "melody" or "arpeggio"
    drums: bool
    n_beats: int
    notes: list[MidiNote]

    def params(self) -> dict:
        d = asdict(self)
        d.pop("notes")
        d["n_notes"] = len(self.notes)
        return d


def _degree_pc(key: int, scale: Sequence[int], degree: int) -> int:
    """Pitch (relative to octave 0) of a scale degree, degrees beyond 6 climb octaves."""
    return key + scale[degree % 7] + 12 * (degree // 7)


def _near(pc: int, centre: float) -> int:
    """The pitch of pitch class ``pc`` closest to ``centre``."""
    return int(pc % 12 + 12 * round((centre - pc % 12) / 12))


def compose_music(rng: np.random.Generator, duration: float) -> Piece:
    """Tempo 70-140 BPM, key, mode, progression (I-V-vi-IV and friends), pad, lead, bass, optional drums."""
    tempo = float(round(rng.uniform(70, 140), 2))
    key = int(rng.integers(12))
    mode = "major" if rng.random() < 0.65 else "minor"
    scale = _SCALES[mode]
    progs = _PROGRESSIONS[mode]
    prog = list(progs[int(rng.integers(len(progs)))])
    if rng.random() < 0.3:
        prog = prog[2:] + prog[:2]
    bpc = 8 if (tempo > 110 and rng.random() < 0.5) else 4
    n_beats = 4 * math.ceil((duration * tempo / 60 + 4) / 4)
    sevenths = bool(rng.random() < 0.3)
    lead_style = "arpeggio" if rng.random() < 0.4 else "melody"
    drums = bool(rng.random() < 0.7)
    chords = [prog[i % len(prog)] for i in range(math.ceil(n_beats / bpc))]
    notes: list[MidiNote] = []
    bass_pattern = _BASS_PATTERNS[list(_BASS_PATTERNS)[int(rng.integers(len(_BASS_PATTERNS)))]]
    for i, deg in enumerate(chords):
        t0 = i * bpc
        tones = [deg, deg + 2, deg + 4] + ([deg + 6] if sevenths else [])
        vel = int(rng.integers(55, 80))
        for d in tones:
            notes.append(MidiNote(PAD, _near(_degree_pc(key, scale, d), 62), vel, t0, bpc))
        root = _near(_degree_pc(key, scale, deg), 41)
        fifth = _near(_degree_pc(key, scale, deg + 4), root + 7)
        for bar in range(bpc // 4):
            for beat, dur, iv in bass_pattern:
                pitch = fifth if iv == 7 else root + iv
                notes.append(MidiNote(BASS, pitch, int(rng.integers(80, 110)), t0 + 4 * bar + beat, dur * 0.95))
    notes += _compose_lead(rng, key, scale, chords, bpc, sevenths, lead_style, tempo)
    if drums:
        notes += _compose_drums(rng, n_beats, tempo)
    notes = [MidiNote(n.channel, n.pitch, n.velocity, n.start, n.duration) for n in notes if n.start < n_beats]
    return Piece(tempo, key, mode, prog, bpc, lead_style, drums, n_beats, _fix_overlaps(notes))


def _compose_lead(rng: np.random.Generator, key: int, scale: Sequence[int], chords: list[int], bpc: int,
                  sevenths: bool, style: str, tempo: float) -> list[MidiNote]:
    notes: list[MidiNote] = []
    if style == "arpeggio":
        step = 0.25 if (tempo < 95 and rng.random() < 0.5) else 0.5
        shape = ("up", "updown", "random")[int(rng.integers(3))]
        for i, deg in enumerate(chords):
            tones = sorted(_near(_degree_pc(key, scale, d), 67) for d in (deg, deg + 2, deg + 4) + ((deg + 6,) if sevenths else ()))
            tones = tones + [p + 12 for p in tones]
            seq = tones if shape == "up" else (tones + tones[-2:0:-1] if shape == "updown" else None)
            for j in range(int(bpc / step)):
                p = tones[int(rng.integers(len(tones)))] if seq is None else seq[j % len(seq)]
                vel = int(rng.integers(60, 90)) + (15 if (j * step) % 1 == 0 else 0)
                notes.append(MidiNote(LEAD, p, min(vel, 127), i * bpc + j * step, step * 1.5))
        return notes
    degree = 9 + int(rng.integers(0, 4))  # scale index from the tonic of octave 4 (MIDI 48 + key)
    motif = _MELODY_RHYTHMS[int(rng.integers(len(_MELODY_RHYTHMS)))]
    for bar in range(len(chords) * bpc // 4):
        chord = chords[bar * 4 // bpc]
        rhythm = motif if rng.random() < 0.5 else _MELODY_RHYTHMS[int(rng.integers(len(_MELODY_RHYTHMS)))]
        t = bar * 4.0
        for dur in rhythm:
            degree = int(np.clip(degree + rng.choice([-2, -1, -1, 0, 1, 1, 2, 3, -3]), 8, 17))
            if t % 1 == 0:  # strong beat: snap to a chord tone
                tones = np.array([chord + k for k in (0, 2, 4)])
                octs = np.round((degree - tones) / 7)
                cands = tones + 7 * octs
                degree = int(cands[np.argmin(np.abs(cands - degree))])
            if rng.random() > 0.1:
                vel = int(rng.integers(70, 105))
                notes.append(MidiNote(LEAD, _degree_pc(key, scale, degree) + 48, vel, t, dur * 0.9))
            t += dur
    return notes


def _compose_drums(rng: np.random.Generator, n_beats: int, tempo: float) -> list[MidiNote]:
    kicks = _KICK_PATTERNS[int(rng.integers(len(_KICK_PATTERNS)))]
    snare = rng.random() < 0.8
    hat_step = 0.25 if (tempo < 95 and rng.random() < 0.5) else 0.5
    notes: list[MidiNote] = []
    for bar in range(n_beats // 4):
        t0 = bar * 4
        notes += [MidiNote(DRUMS, KICK, int(rng.integers(95, 120)), t0 + b, 0.25) for b in kicks]
        if snare:
            notes += [MidiNote(DRUMS, SNARE, int(rng.integers(85, 115)), t0 + b, 0.25) for b in (1, 3)]
        for j in range(int(4 / hat_step)):
            accent = 20 if (j * hat_step) % 1 == 0 else 0
            notes.append(MidiNote(DRUMS, HAT, int(rng.integers(45, 70)) + accent, t0 + j * hat_step, hat_step / 2))
    return notes


def _fix_overlaps(notes: list[MidiNote]) -> list[MidiNote]:
    """Sort by start and shorten notes that would overlap the next note of the same channel and key."""
    notes = sorted(notes, key=lambda n: (n.start, n.channel, n.pitch))
    next_start: dict[tuple[int, int], float] = {}
    out: list[MidiNote] = []
    for note in reversed(notes):
        k = (note.channel, note.pitch)
        dur = min(note.duration, next_start.get(k, math.inf) - note.start)
        next_start[k] = note.start
        if dur > 1e-3:
            out.append(note._replace(duration=dur))
    return out[::-1]


def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def write_midi(notes: Sequence[MidiNote], tempo: float, programs: Mapping[int, int] | None = None,
               ticks_per_beat: int = 480) -> bytes:
    """A Standard MIDI File (format 0, one track): tempo, 4/4, program changes per channel, the notes."""
    if not tempo > 0:
        raise ValueError(f"tempo must be > 0, got {tempo}")
    events: list[tuple[int, int, bytes]] = [  # (tick, order at equal ticks, message)
        (0, 0, b"\xff\x51\x03" + int(round(60e6 / tempo)).to_bytes(3, "big")),
        (0, 0, b"\xff\x58\x04\x04\x02\x18\x08"),
    ]
    for ch, prog in sorted((programs or {}).items()):
        events.append((0, 1, bytes([0xC0 | (ch & 0x0F), int(prog) & 0x7F])))
    for n in notes:
        ch, pitch, vel = n.channel & 0x0F, int(np.clip(n.pitch, 0, 127)), int(np.clip(n.velocity, 1, 127))
        on = max(0, int(round(n.start * ticks_per_beat)))
        off = max(on + 1, int(round((n.start + n.duration) * ticks_per_beat)))
        events.append((on, 3, bytes([0x90 | ch, pitch, vel])))
        events.append((off, 2, bytes([0x80 | ch, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track, last = bytearray(), 0
    for tick, _, msg in events:
        track += _vlq(tick - last) + msg
        last = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


# ----------------------------------------------------------------------------------------------------------
# music: procedural renderer
# ----------------------------------------------------------------------------------------------------------

_TABLE_SIZE = 4096


def _wavetable(amps: np.ndarray) -> np.ndarray:
    x = np.arange(_TABLE_SIZE + 1) / _TABLE_SIZE
    k = np.arange(1, len(amps) + 1)
    return (amps[:, None] * np.sin(2 * np.pi * k[:, None] * x[None, :])).sum(0)


def _table_osc(table: np.ndarray, freq: float, n: int, sr: int, phase0: float) -> np.ndarray:
    pos = ((phase0 + freq / sr * np.arange(n)) % 1.0) * _TABLE_SIZE
    i = pos.astype(np.int64)
    frac = pos - i
    return table[i] * (1.0 - frac) + table[i + 1] * frac


def _pad_note(rng: np.random.Generator, table: np.ndarray, freq: float, hold: int, sr: int, attack: float,
              release: float, detune: float) -> np.ndarray:
    n_rel = int(release * sr)
    n = hold + n_rel
    x = _table_osc(table, freq * (1 + detune), n, sr, rng.random()) + _table_osc(table, freq * (1 - detune), n, sr, rng.random())
    env = np.ones(n)
    env[: min(n, int(attack * sr))] = _ramp(int(attack * sr))[: n]
    env[hold:] *= np.exp(-np.arange(n_rel) / (0.25 * n_rel))
    return x * env


def _pluck_note(rng: np.random.Generator, freq: float, length_s: float, sr: int, tau: float, n_partials: int,
                rolloff: float, detune_cents: float) -> np.ndarray:
    n = int(min(5 * tau, length_s + 0.3) * sr)
    t = _times(n, sr)
    k = np.arange(1, n_partials + 1)
    fk = freq * k * (1 + 0.0005 * k ** 2)
    keep = fk < 0.45 * sr
    k, fk = k[keep], fk[keep]
    amps = k ** -rolloff * rng.uniform(0.6, 1.0, len(k))
    decays = np.exp(-t[None, :] * (k[:, None] ** 0.6 / tau))
    x = (amps[:, None] * np.sin(2 * np.pi * fk[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (len(k), 1))) * decays).sum(0)
    x += 0.4 * np.sin(2 * np.pi * freq * 2 ** (detune_cents / 1200) * t) * decays[0]
    return _fade(x, int(0.003 * sr), int(0.03 * sr))


def _bass_note(freq: float, length_s: float, sr: int, drive: float, phase0: float) -> np.ndarray:
    n = int((length_s + 0.04) * sr)
    ph = 2 * np.pi * freq * _times(n, sr) + phase0
    x = np.tanh(drive * (np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.25 * np.sin(3 * ph))) / np.tanh(drive)
    env = 0.7 + 0.3 * np.exp(-_times(n, sr) / 0.15)
    return _fade(x * env, int(0.005 * sr), int(0.04 * sr))


def _kick(rng: np.random.Generator, sr: int, f_hi: float, f_lo: float, decay: float) -> np.ndarray:
    n = int(0.4 * sr)
    t = _times(n, sr)
    f = f_lo + (f_hi - f_lo) * np.exp(-t / 0.03)
    x = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / decay)
    x[: int(0.002 * sr)] += 0.3 * rng.standard_normal(int(0.002 * sr))
    return x


def _render_piece(rng: np.random.Generator, piece: Piece, n: int, sr: int) -> np.ndarray:
    spb = 60.0 / piece.tempo
    total = n + int(2 * sr)
    parts = {p: np.zeros(total) for p in ("pad", "lead", "bass", "drums")}

    def add(part: str, start_beat: float, x: np.ndarray, gain: float) -> None:
        s = max(0, int(round(start_beat * spb * sr)))
        if s >= total:
            return
        m = min(len(x), total - s)
        parts[part][s:s + m] += gain * x[:m]

    n_harm = int(max(2, min(10, 0.45 * sr // 600)))
    pad_table = _wavetable(np.arange(1, n_harm + 1) ** -rng.uniform(1.0, 2.0) * rng.uniform(0.5, 1.0, n_harm))
    pad_attack, pad_release, pad_detune = rng.uniform(0.3, 0.8), rng.uniform(0.6, 1.2), rng.uniform(0.002, 0.006)
    pluck = dict(tau=rng.uniform(0.15, 0.6), n_partials=int(rng.integers(3, 7)), rolloff=rng.uniform(0.8, 1.8),
                 detune_cents=rng.uniform(3, 8))
    drive = rng.uniform(1.0, 2.5)
    hats = _noise(rng, sr, sr, "highpass", min(7000.0, 0.35 * sr), order=4)
    snares = _noise(rng, sr, sr, "bandpass", (1000.0, min(5000.0, 0.4 * sr)))
    snare_decay = rng.uniform(0.05, 0.12)
    kick_params = (rng.uniform(120, 180), rng.uniform(40, 60), rng.uniform(0.12, 0.3))
    for note in piece.notes:
        vel = note.velocity / 127.0
        length = note.duration * spb
        if note.channel == PAD:
            x = _pad_note(rng, pad_table, _midi_hz(note.pitch), int(length * sr), sr, pad_attack, pad_release, pad_detune)
            add("pad", note.start, x, vel)
        elif note.channel == LEAD:
            add("lead", note.start + 0.01 * rng.standard_normal(), _pluck_note(rng, _midi_hz(note.pitch), length, sr, **pluck), vel)
        elif note.channel == BASS:
            add("bass", note.start, _bass_note(_midi_hz(note.pitch), length, sr, drive, rng.uniform(0, 2 * np.pi)), vel)
        elif note.pitch == KICK:
            add("drums", note.start, _kick(rng, sr, *kick_params), vel)
        else:  # snare or hi-hat: a random slice of pre-filtered noise with an exponential decay
            snare = note.pitch == SNARE
            src, dec, m = (snares, snare_decay, int(0.25 * sr)) if snare else (hats, rng.uniform(0.02, 0.05), int(0.1 * sr))
            off = int(rng.integers(0, len(src) - m))
            hit = src[off:off + m] * np.exp(-_times(m, sr) / dec) / np.std(src)
            add("drums", note.start, hit, vel * (0.5 if snare else 0.3))
    levels = {"pad": 0.25 * rng.uniform(0.7, 1.2), "lead": 0.35 * rng.uniform(0.7, 1.2),
              "bass": 0.35 * rng.uniform(0.7, 1.2), "drums": 0.15 * rng.uniform(0.7, 1.2)}
    mix = np.zeros(total)
    for name, x in parts.items():
        rms = float(np.sqrt(np.mean(x ** 2)))
        if rms > 0:
            mix += levels[name] * x / rms
    rt = rng.uniform(0.6, 1.5)
    ir = _noise(rng, int(rt * sr), sr, "lowpass", 4000.0) * np.exp(-6.9 * _times(int(rt * sr), sr) / rt)
    wet = signal.fftconvolve(mix, ir / np.sqrt(np.sum(ir ** 2)))[:total]
    return (mix + rng.uniform(0.1, 0.3) * wet)[:n]


def music_procedural(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR) -> SourceClip:
    """A composed piece (see :func:`compose_music`) rendered with additive synthesis, peak 0.5."""
    n = _num_samples(duration, sr)
    seed = int(rng.integers(2 ** 32))
    sub = np.random.default_rng(seed)
    piece = compose_music(sub, duration)
    audio = _render_piece(sub, piece, n, sr)
    meta = {"generator": "music_procedural", "sr": sr, "seed": seed, **piece.params()}
    return _clip(_normalise(audio, MUSIC_PEAK), sr, f"music:proc:{seed:08x}", meta)


# ----------------------------------------------------------------------------------------------------------
# procedural sound effects
# ----------------------------------------------------------------------------------------------------------


def _swept_band_noise(rng: np.random.Generator, n: int, sr: int, times: Sequence[float], centres: Sequence[float],
                      width_oct: float) -> np.ndarray:
    """Noise through a band-pass whose centre follows (times, centres), done as an STFT-domain mask."""
    nper, hop = 512, 128
    _, t, z = signal.stft(rng.standard_normal(n), fs=sr, nperseg=nper, noverlap=nper - hop)
    f = np.maximum(np.fft.rfftfreq(nper, 1 / sr), 1.0)
    fc = np.interp(t, times, centres)
    mask = np.exp(-0.5 * (np.log2(f[:, None] / fc[None, :]) / (width_oct / 2)) ** 2)
    _, y = signal.istft(z * mask, fs=sr, nperseg=nper, noverlap=nper - hop)
    return _fit_length(y, n)


def _fx_impact(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(dur=rng.uniform(0.3, 0.6), cutoff=rng.uniform(800, 3000), noise_decay=rng.uniform(0.02, 0.08),
             thump_hz=rng.uniform(50, 120), drop=rng.uniform(0.5, 0.8), thump_decay=rng.uniform(0.08, 0.25),
             mix=rng.uniform(0.3, 0.7))
    n = int(max(p["dur"], 4 * p["thump_decay"]) * sr)
    t = _times(n, sr)
    crash = _unit(_noise(rng, n, sr, "lowpass", p["cutoff"], order=4) * np.exp(-t / p["noise_decay"]))
    f = p["thump_hz"] * (p["drop"] + (1 - p["drop"]) * np.exp(-t / 0.03))
    thump = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / p["thump_decay"])
    return _fade(p["mix"] * crash + (1 - p["mix"]) * thump, int(0.001 * sr), int(0.02 * sr)), p


def _fx_clink(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    hi = min(6000.0, 0.45 * sr)
    k = int(rng.integers(3, 7))
    p = dict(freqs=rng.uniform(min(2000.0, 0.6 * hi), hi, k), decays=rng.uniform(0.04, 0.3, k),
             amps=rng.uniform(0.3, 1.0, k), double=bool(rng.random() < 0.35), gap=rng.uniform(0.04, 0.12),
             second=rng.uniform(0.3, 0.6))
    n = int(min(1.2, 4.5 * p["decays"].max()) * sr)
    t = _times(n, sr)
    x = (p["amps"][:, None] * np.sin(2 * np.pi * p["freqs"][:, None] * t + rng.uniform(0, 6.3, (k, 1)))
         * np.exp(-t / p["decays"][:, None])).sum(0)
    x[: int(0.004 * sr)] += 0.3 * _noise(rng, int(0.004 * sr), sr, "highpass", 3000.0) * np.exp(-t[: int(0.004 * sr)] / 0.001)
    if p["double"]:
        g = int(p["gap"] * sr)
        x = np.concatenate([x, np.zeros(g)])
        x[g:] += p["second"] * x[: n].copy()
    return _fade(x, int(0.0005 * sr), int(0.02 * sr)), p


def _fx_whoosh(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(dur=rng.uniform(0.3, 0.8), peak_at=rng.uniform(0.35, 0.7), f_start=rng.uniform(200, 600),
             f_peak=rng.uniform(1500, min(4000.0, 0.4 * sr)), f_end=rng.uniform(200, 800), width=rng.uniform(0.6, 1.5),
             sharp=rng.uniform(1.5, 3.0))
    n = int(p["dur"] * sr)
    tp = p["peak_at"] * p["dur"]
    x = _swept_band_noise(rng, n, sr, (0.0, tp, p["dur"]), (p["f_start"], p["f_peak"], p["f_end"]), p["width"])
    t = _times(n, sr)
    u = np.where(t < tp, t / tp, 1 - (t - tp) / (p["dur"] - tp))  # 0 -> 1 at the peak -> 0
    env = np.sin(0.5 * np.pi * np.clip(u, 0, 1)) ** p["sharp"]
    return x * env, p


def _fx_footsteps(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    k = int(rng.integers(3, 7))
    p = dict(steps=k, interval=rng.uniform(0.42, 0.6), surface_hz=rng.uniform(300, 2500), click_decay=rng.uniform(0.01, 0.03),
             thud_hz=rng.uniform(60, 110), heel_toe=rng.uniform(0.03, 0.08), toe=rng.uniform(0.3, 0.7))
    onsets = np.cumsum(np.r_[0.0, p["interval"] + 0.03 * rng.standard_normal(k - 1)])
    n = int((onsets[-1] + 0.3) * sr)
    m = int(0.15 * sr)
    t = _times(m, sr)
    surf = _noise(rng, (2 * k + 1) * m, sr, "bandpass", (p["surface_hz"] / 1.6, p["surface_hz"] * 1.6))
    surf /= np.std(surf) * 4
    x = np.zeros(n + m)
    for i, on in enumerate(onsets):
        gain = (1.0 if i % 2 == 0 else 0.8) * rng.uniform(0.85, 1.1)
        heel = surf[2 * i * m:(2 * i + 1) * m] * np.exp(-t / p["click_decay"]) + 0.6 * np.sin(2 * np.pi * p["thud_hz"] * t) * np.exp(-t / 0.03)
        toe = surf[(2 * i + 1) * m:(2 * i + 2) * m] * np.exp(-t / (0.7 * p["click_decay"]))
        s, s2 = int(on * sr), int((on + p["heel_toe"]) * sr)
        x[s:s + m] += gain * heel
        x[s2:s2 + m] += gain * p["toe"] * toe
    return _fade(x[:n], int(0.0005 * sr), int(0.02 * sr)), p


def _creak(rng: np.random.Generator, sr: int, dur: float, centre: float, rate0: float, rate1: float, sharp: float) -> np.ndarray:
    n = int(dur * sr)
    t = _times(n, sr)
    rate = (rate0 + (rate1 - rate0) * t / dur) * (1 + 0.15 * _smooth(rng.standard_normal(n), int(0.03 * sr)) * math.sqrt(0.03 * sr))
    pulses = (0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(rate) / sr)) ** sharp
    body = _noise(rng, n, sr, "bandpass", (centre / 1.3, centre * 1.3))
    squeak = np.sin(2 * np.pi * np.cumsum(centre * (1 + 0.05 * t / dur) * np.ones(n)) / sr)
    x = pulses * (_unit(body) + 0.3 * squeak)
    return _fade(x, int(0.08 * sr), int(0.08 * sr))


def _thud(rng: np.random.Generator, sr: int, hz: float, decay: float) -> np.ndarray:
    n = int(0.35 * sr)
    t = _times(n, sr)
    x = np.sin(2 * np.pi * hz * t) * np.exp(-t / decay) + 0.6 * _unit(_noise(rng, n, sr, "lowpass", 500.0)) * np.exp(-t / 0.03)
    click = int(0.004 * sr)
    x[:click] += 0.4 * _unit(_noise(rng, click, sr, "highpass", 2000.0))
    return _fade(x, 0, int(0.02 * sr))


def _fx_door(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(closing=bool(rng.random() < 0.5), creak_dur=rng.uniform(0.4, 1.2), creak_hz=rng.uniform(500, 1500),
             rate0=rng.uniform(15, 60), rate1=rng.uniform(15, 60), sharp=rng.uniform(4, 16), thud_hz=rng.uniform(60, 110),
             thud_decay=rng.uniform(0.12, 0.25), creak_level=rng.uniform(0.2, 0.5))
    creak = p["creak_level"] * _unit(_creak(rng, sr, p["creak_dur"], p["creak_hz"], p["rate0"], p["rate1"], p["sharp"]))
    thud = _unit(_thud(rng, sr, p["thud_hz"], p["thud_decay"]))
    parts = [creak, thud] if p["closing"] else [0.5 * thud, creak]
    return np.concatenate(parts), p


def _fx_gunshot(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(tail=rng.uniform(0.3, 0.6), crack_decay=rng.uniform(0.002, 0.006), boom_hz=rng.uniform(50, 90),
             tail_cutoff=rng.uniform(1500, 4000), tail_level=rng.uniform(0.15, 0.35), predelay=rng.uniform(0.005, 0.025),
             reflections=int(rng.integers(3, 7)))
    n = int((p["tail"] + 0.05) * sr)
    t = _times(n, sr)
    crack = _noise(rng, n, sr, "highpass", 100.0) * np.exp(-t / p["crack_decay"])
    boom = np.sin(2 * np.pi * p["boom_hz"] * t) * np.exp(-t / 0.06) + _unit(_noise(rng, n, sr, "lowpass", 300.0)) * np.exp(-t / 0.03)
    x = _unit(crack) + 0.5 * boom
    for d, g in zip(rng.uniform(0.01, 0.06, p["reflections"]), rng.uniform(0.15, 0.45, p["reflections"])):
        s = int(d * sr)
        x[s:] += g * _unit(crack)[: n - s]
    td = np.maximum(t - p["predelay"], 0.0)
    tail = _unit(_noise(rng, n, sr, "lowpass", p["tail_cutoff"])) * (1 - np.exp(-td / 0.01)) * np.exp(-6.9 * td / p["tail"])
    return _fade(x + p["tail_level"] * tail * (t >= p["predelay"]), 0, int(0.03 * sr)), p


def _fx_engine(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    k = 10
    p = dict(dur=rng.uniform(1.0, 3.0), f0=rng.uniform(40, 120), mod_depth=rng.uniform(0.02, 0.12), mod_rate=rng.uniform(0.2, 1.0),
             ramp=rng.uniform(-0.2, 0.4), am=rng.uniform(0.1, 0.4), noise=rng.uniform(0.2, 0.5),
             amps=rng.uniform(0.3, 1.0, k) * np.arange(1, k + 1) ** -0.7, pass_by=bool(rng.random() < 0.5))
    n = int(p["dur"] * sr)
    t = _times(n, sr)
    wobble = 1 + 0.01 * _smooth(rng.standard_normal(n), int(0.05 * sr)) * math.sqrt(0.05 * sr)
    f = p["f0"] * (1 + p["mod_depth"] * np.sin(2 * np.pi * p["mod_rate"] * t + rng.uniform(0, 6.3))) * (1 + p["ramp"] * t / p["dur"]) * wobble
    phase = 2 * np.pi * np.cumsum(f) / sr
    h = np.arange(1, k + 1)[:, None]
    keep = (h[:, 0] * f.max()) < 0.45 * sr
    x = (p["amps"][keep, None] * np.sin(h[keep] * phase + rng.uniform(0, 6.3, (int(keep.sum()), 1)))).sum(0)
    x += 0.3 * np.sin(0.5 * phase)  # four-stroke half-order
    x *= 1 + p["am"] * np.sin(0.5 * phase + rng.uniform(0, 6.3))
    rumble = _unit(_noise(rng, n, sr, "lowpass", rng.uniform(150, 300))) * (0.6 + 0.4 * (0.5 + 0.5 * np.cos(phase)))
    x = _unit(x) + p["noise"] * rumble
    if p["pass_by"]:
        centre = rng.uniform(0.3, 0.7) * p["dur"]
        x *= np.exp(-0.5 * ((t - centre) / (0.3 * p["dur"])) ** 2)
    return _fade(x, int(rng.uniform(0.1, 0.4) * sr), int(rng.uniform(0.2, 0.5) * sr)), p


_EFFECT_SYNTHS: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, dict]]] = {
    "impact": _fx_impact, "clink": _fx_clink, "whoosh": _fx_whoosh, "footsteps": _fx_footsteps,
    "door": _fx_door, "gunshot": _fx_gunshot, "engine": _fx_engine,
}
_EFFECT_PEAKS = {"impact": (0.5, 0.9), "clink": (0.2, 0.5), "whoosh": (0.3, 0.6), "footsteps": (0.3, 0.6),
                 "door": (0.4, 0.8), "gunshot": (0.8, 0.95), "engine": (0.3, 0.6)}


def _n_events(rng: np.random.Generator, duration: float, n_events: int | None) -> int:
    if n_events is not None:
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        return int(n_events)
    return max(1, int(round(int(rng.integers(3, 9)) * duration / 10.0)))


def _onsets(rng: np.random.Generator, duration: float, k: int) -> np.ndarray:
    return np.sort(rng.uniform(0.0, max(0.0, duration - 0.3), k))


def effect_events_procedural(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, n_events: int | None = None,
                             classes: Sequence[str] | None = None) -> list[EffectEvent]:
    """Synthesised sound events at random onsets (3-8 per 10 s unless ``n_events``), sorted by onset."""
    _num_samples(duration, sr)
    classes = tuple(EFFECT_CLASSES if classes is None else classes)
    unknown = sorted(set(classes) - set(EFFECT_CLASSES))
    if not classes or unknown:
        raise ValueError(f"classes must be a non-empty subset of {EFFECT_CLASSES}, got {classes}")
    k = _n_events(rng, duration, n_events)
    events = []
    for onset in _onsets(rng, duration, k):
        cls = classes[int(rng.integers(len(classes)))]
        sig, params = _EFFECT_SYNTHS[cls](rng, sr)
        sig = _normalise(sig, rng.uniform(*_EFFECT_PEAKS[cls]))
        params = _jsonable(params)
        events.append(EffectEvent(float(onset), sig, cls, f"effect:proc:{cls}:{_stable_hash(params)}",
                                  {"generator": "effect_events_procedural", "sr": sr, **params}))
    return events


def ambience(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR) -> np.ndarray:
    """Continuous room tone: 1/f^alpha noise (pink to brown), slow modulation, optional hum; peak 0.05."""
    n = _num_samples(duration, sr)
    alpha = rng.uniform(1.0, 2.0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    shape = np.where(f >= 20.0, np.maximum(f, 20.0) ** (-alpha / 2), 0.0)
    shape *= 1.0 / (1.0 + (f / rng.uniform(2000, 6000)) ** 4)  # rooms are dull
    x = _unit(np.fft.irfft(spec * shape, n))
    t = _times(n, sr)
    lfo = sum(rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.03, 0.3) * t + rng.uniform(0, 6.3)) for _ in range(3))
    x *= 1.0 + rng.uniform(0.1, 0.4) * lfo / 2.0
    if rng.random() < 0.4:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3))
        x += rng.uniform(0.05, 0.2) * hum
    return _normalise(x, AMBIENCE_PEAK)


# ----------------------------------------------------------------------------------------------------------
# asset-backed generators
# ----------------------------------------------------------------------------------------------------------

_SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
               "/usr/share/sounds/sf2/default-GM.sf2")
_SOUNDFONT_DIR = "/usr/share/sounds/sf2"
_EFFECT_DIRS = ("/usr/share/sounds/freedesktop", "/usr/share/games/heroes", "/usr/share/heroes", "/usr/share/sounds")
_EFFECT_EXTS = (".wav", ".ogg", ".oga", ".flac", ".mp3")
#: Files under the effect folders that are not sound effects: spoken words (freedesktop's channel names,
#: heroes' "go" / "oh yeah" / "no" / "oh" voice samples) and musical jingles (heroes' end-of-level and dream
#: tunes). Excluded by ``find_assets(curated=True)`` so that the effects stem holds no speech or music.
NOT_EFFECTS = ("audio-channel-*", "go", "ho_yeh", "no", "oh", "finlevel", "dream")


@dataclass
class Assets:
    """What the asset-backed generators can use on this machine (see :func:`find_assets`)."""

    espeak: str | None = None
    fluidsynth: str | None = None
    soundfont: str | None = None
    effect_files: list[str] = field(default_factory=list)

    @property
    def available(self) -> dict[str, bool]:
        """Per family ("speech", "music", "effects"): whether its asset-backed generator can run."""
        return {"speech": self.speech_available, "music": self.music_available, "effects": self.effects_available}

    @property
    def speech_available(self) -> bool:
        return self.espeak is not None

    @property
    def music_available(self) -> bool:
        return self.fluidsynth is not None and self.soundfont is not None

    @property
    def effects_available(self) -> bool:
        return bool(self.effect_files)


def find_assets(curated: bool = True) -> Assets:
    """Locate espeak-ng, fluidsynth, a GM soundfont and sound-effect files (Debian package locations).

    ``curated`` drops the files listed in :data:`NOT_EFFECTS` (speech and music clips) from ``effect_files``.
    """
    soundfont = next((p for p in _SOUNDFONTS if os.path.isfile(p)), None)
    if soundfont is None and os.path.isdir(_SOUNDFONT_DIR):
        soundfont = next(iter(sorted(str(p) for p in Path(_SOUNDFONT_DIR).rglob("*.sf2") if p.is_file())), None)
    files: set[str] = set()
    for root in _EFFECT_DIRS:
        if os.path.isdir(root):
            files.update(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in _EFFECT_EXTS and p.is_file())
    if curated:
        files = {f for f in files if not any(fnmatch.fnmatch(Path(f).stem, pat) for pat in NOT_EFFECTS)}
    return Assets(shutil.which("espeak-ng"), shutil.which("fluidsynth"), soundfont, sorted(files))


def _run_tool(cmd: list[str], what: str, timeout: float = 120.0) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise AssetsUnavailable(f"{what}: {cmd[0]} is not installed ({e})") from e
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' | '.join(err)}")


def _read_audio(path: str, sr: int) -> np.ndarray:
    """Decode a file to mono float64 at ``sr`` (soundfile, else PyAV)."""
    try:
        import soundfile as sf

        x, file_sr = sf.read(path, dtype="float64", always_2d=True)
        return _resample(x.mean(axis=1), int(file_sr), sr)
    except Exception:  # noqa: BLE001 - formats libsndfile cannot read (mp3 on old builds...) go to PyAV
        pass
    try:
        import av

        chunks = []
        with av.open(path) as container:
            resampler = av.AudioResampler(format="dbl", layout="mono", rate=sr)
            for frame in container.decode(audio=0):
                chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
            chunks += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        return np.concatenate(chunks) if chunks else np.zeros(0)
    except Exception as e:  # noqa: BLE001
        raise AssetsUnavailable(f"{path}: cannot decode audio ({e})") from e


def _trim_silence(x: np.ndarray, sr: int, threshold_db: float = -45.0) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (threshold_db / 20))
    return x[max(0, loud[0] - int(0.005 * sr)): loud[-1] + int(0.02 * sr)]


# ---- espeak-ng speech -------------------------------------------------------------------------------------

_NOUNS = ("car house door window road city river money letter phone gun key bag box book map boat train plane bridge "
          "tower street garden kitchen table chair bed light fire water coffee dinner party meeting job plan problem "
          "question answer story secret truth night morning day week year minute hour friend brother sister mother "
          "father doctor captain officer driver teacher boss kid girl boy man woman team police army ship engine radio "
          "camera picture file computer signal message package ticket hotel office bank station hospital school church "
          "market forest mountain beach island storm rain snow sun moon star dog horse bird cat").split()
_ADJECTIVES = ("big small old new red blue black white dark bright quiet loud strange beautiful dangerous safe empty "
               "full broken hidden cold warm hot long short heavy fast slow good bad wrong real last first next whole "
               "lucky crazy tired happy angry little huge final perfect simple serious green open").split()
_VERBS = tuple(tuple(v.split(":")) for v in (
    "see:saw find:found take:took bring:brought open:opened close:closed call:called tell:told leave:left keep:kept "
    "break:broke fix:fixed move:moved stop:stopped start:started check:checked watch:watched follow:followed "
    "lose:lost need:needed want:wanted give:gave sell:sold buy:bought drive:drove carry:carried hide:hid send:sent "
    "read:read write:wrote build:built paint:painted clean:cleaned steal:stole catch:caught hold:held push:pushed "
    "pull:pulled drop:dropped miss:missed remember:remembered forget:forgot love:loved hate:hated visit:visited "
    "cross:crossed search:searched burn:burned save:saved").split())
_INTRANSITIVE = tuple(tuple(v.split(":")) for v in (
    "go:went come:came run:ran wait:waited sleep:slept work:worked talk:talked listen:listened laugh:laughed "
    "stay:stayed fall:fell sit:sat stand:stood win:won fight:fought hide:hid").split())
_ADVERBS = ("now", "today", "tonight", "tomorrow", "yesterday", "again", "later", "soon", "already", "quickly",
            "slowly", "quietly", "carefully", "together", "alone", "outside", "inside", "here", "there", "right away",
            "before dawn", "after dinner", "every day", "at night")
_NAMES = ("John Mary Sam Anna Jack Kate Tom Lucy Mike Sarah David Emma Peter Laura Frank Alice Harry Julia Max Nina "
          "Oscar Rose Victor Grace Leo Claire Ben Diana Paul Helen").split()
_SUBJECTS = ("I", "you", "we", "they", "he", "she")
_DETS = ("the", "a", "my", "your", "his", "her", "our", "their", "this", "that")
_PREPS = ("in", "on", "under", "near", "behind", "inside", "outside", "across", "through", "next to", "at", "from", "into")
_MODALS = ("can", "could", "should", "will", "would", "must")
_INTERJECTIONS = ("okay", "listen", "look", "well", "hey", "oh no", "wait", "come on", "yes", "no", "hello", "sorry",
                  "thanks", "alright", "really")
_TEMPLATES = (
    "{det} {adj} {noun} is {prep} the {noun2}.",
    "{subj} {vpast} the {noun} {adv}.",
    "{name}, {subj} {modal} {vbase} the {noun} {adv}.",
    "did you {vbase} the {adj} {noun}?",
    "where is the {noun}?",
    "{intj}, {subj} {ipast} {prep} the {noun} {adv}.",
    "{vbase} the {noun} and {ibase} {adv}!",
    "{subj} think {name} {vpast} {det} {noun}.",
    "why did {name} {vbase} {det} {adj} {noun}?",
    "{intj}!",
    "{name} {ipast} to the {noun} with {det} {adj} {noun2}.",
    "there is a {adj} {noun} {prep} the {noun2}.",
    "{subj} {modal} not {ibase} here.",
    "the {noun} was {adj} {adv}.",
    "{intj}, {name}. {subj} need the {noun} {adv}.",
    "how long have you been {prep} the {noun}?",
    "we have to {vbase} the {adj} {noun} {adv}.",
    "{name} and {name2} {ipast} {adv}.",
)


def english_sentence(rng: np.random.Generator) -> str:
    """A random, grammatical-ish English sentence from the built-in word list and templates."""
    def pick(seq: Sequence):
        return seq[int(rng.integers(len(seq)))]

    verb, intr = pick(_VERBS), pick(_INTRANSITIVE)
    slots = dict(det=pick(_DETS), adj=pick(_ADJECTIVES), noun=pick(_NOUNS), noun2=pick(_NOUNS), prep=pick(_PREPS),
                 subj=pick(_SUBJECTS), vbase=verb[0], vpast=verb[1], ibase=intr[0], ipast=intr[1], adv=pick(_ADVERBS),
                 name=pick(_NAMES), name2=pick(_NAMES), modal=pick(_MODALS), intj=pick(_INTERJECTIONS))
    words = pick(_TEMPLATES).format(**slots).split(" ")
    for i in range(len(words) - 1):  # a -> an before a vowel
        if words[i].lower() == "a" and words[i + 1][:1].lower() in "aeiou":
            words[i] = words[i][0] + "n"
    text = " ".join(words)
    return text[0].upper() + text[1:]


_ESPEAK_VOICES = tuple(f"en+m{i}" for i in range(1, 8)) + tuple(f"en+f{i}" for i in range(1, 6))


@dataclass(frozen=True)
class EspeakSpeaker:
    """An espeak-ng voice: variant, words per minute, pitch 0-99, extra gap between words (x10 ms)."""

    voice: str
    speed: int
    pitch: int
    word_gap: int = 0

    @classmethod
    def random(cls, rng: np.random.Generator) -> EspeakSpeaker:
        return cls(_ESPEAK_VOICES[int(rng.integers(len(_ESPEAK_VOICES)))], int(rng.integers(130, 191)),
                   int(rng.integers(30, 71)), int(rng.integers(0, 3)))

    @property
    def source_id(self) -> str:
        return f"speech:espeak:{_stable_hash(asdict(self))}"


def _espeak_batch(exe: str, spk: EspeakSpeaker, texts: list[str], pitches: list[int], folder: str, sr: int) -> list[np.ndarray]:
    """Render sentences concurrently (one espeak-ng process each), trimmed and resampled to ``sr``."""
    procs = []
    for i, (text, pitch) in enumerate(zip(texts, pitches)):
        path = os.path.join(folder, f"u{i}.wav")
        cmd = [exe, "-v", spk.voice, "-s", str(spk.speed), "-p", str(pitch), "-g", str(spk.word_gap), "-w", path, text]
        try:
            procs.append((subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path))
        except FileNotFoundError as e:
            raise AssetsUnavailable(f"speech_espeak: {exe} is not installed ({e})") from e
    out = []
    for proc, path in procs:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0 or not os.path.isfile(path):
            raise RuntimeError(f"espeak-ng failed (exit {proc.returncode}): {err.decode(errors='replace').strip()}")
        out.append(_fade(_trim_silence(_read_audio(path, sr), sr), int(0.005 * sr), int(0.01 * sr)))
    return out


def speech_espeak(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, assets: Assets | None = None,
                  speaker: EspeakSpeaker | None = None) -> SourceClip:
    """English sentences spoken by espeak-ng, separated by 0.2-1.5 s pauses, peak 0.5."""
    n = _num_samples(duration, sr)
    assets = assets if assets is not None else find_assets()
    if assets.espeak is None:
        raise AssetsUnavailable("speech_espeak needs espeak-ng (Debian package espeak-ng), which is not installed")
    speaker = speaker if speaker is not None else EspeakSpeaker.random(rng)
    out = np.zeros(n)
    pos = int(rng.uniform(0.0, 0.5) * sr)
    utterances = []
    with tempfile.TemporaryDirectory(prefix="avremix-espeak-") as tmp:
        while pos < n:
            texts = [english_sentence(rng) + (" " + english_sentence(rng) if rng.random() < 0.3 else "") for _ in range(4)]
            pitches = [int(np.clip(speaker.pitch + rng.integers(-4, 5), 0, 99)) for _ in texts]
            for text, wav in zip(texts, _espeak_batch(assets.espeak, speaker, texts, pitches, tmp, sr)):
                if pos >= n:
                    break
                m = min(len(wav), n - pos)
                out[pos:pos + m] = wav[:m] * rng.uniform(0.8, 1.0)
                utterances.append({"start": pos / sr, "end": (pos + m) / sr, "text": text})
                pos += len(wav) + int(rng.uniform(0.2, 1.5) * sr)
    meta = {"generator": "speech_espeak", "sr": sr, "speaker": asdict(speaker), "utterances": utterances}
    return _clip(_normalise(out, SPEECH_PEAK), sr, speaker.source_id, meta)


# ---- fluidsynth music -------------------------------------------------------------------------------------

_GM_PAD = (0, 1, 4, 5, 16, 19, 48, 49, 50, 52, 88, 89, 90, 91, 92, 94)
_GM_LEAD = (0, 1, 2, 4, 6, 8, 10, 11, 12, 13, 24, 25, 26, 40, 46, 56, 60, 65, 68, 71, 73, 79, 80, 81)
_GM_BASS = (32, 33, 34, 35, 36, 38, 39)


def music_fluidsynth(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, assets: Assets | None = None) -> SourceClip:
    """A composed piece (see :func:`compose_music`) as MIDI with random GM programs, rendered by fluidsynth; peak 0.5."""
    n = _num_samples(duration, sr)
    assets = assets if assets is not None else find_assets()
    if assets.fluidsynth is None:
        raise AssetsUnavailable("music_fluidsynth needs fluidsynth (Debian package fluidsynth), which is not installed")
    if assets.soundfont is None or not os.path.isfile(assets.soundfont):
        raise AssetsUnavailable("music_fluidsynth needs a General MIDI soundfont in /usr/share/sounds/sf2 "
                                "(Debian package fluid-soundfont-gm or timgm6mb-soundfont)")
    seed = int(rng.integers(2 ** 32))
    sub = np.random.default_rng(seed)
    piece = compose_music(sub, duration)
    programs = {PAD: int(sub.choice(_GM_PAD)), LEAD: int(sub.choice(_GM_LEAD)), BASS: int(sub.choice(_GM_BASS))}
    with tempfile.TemporaryDirectory(prefix="avremix-fluidsynth-") as tmp:
        mid, wav = os.path.join(tmp, "song.mid"), os.path.join(tmp, "out.wav")
        Path(mid).write_bytes(write_midi(piece.notes, piece.tempo, programs))
        _run_tool([assets.fluidsynth, "-ni", "-g", "0.6", "-r", str(sr), "-F", wav, assets.soundfont, mid], "fluidsynth")
        audio = _fit_length(_read_audio(wav, sr), n)
    if not np.any(audio):
        raise RuntimeError(f"fluidsynth rendered silence with {assets.soundfont}")
    meta = {"generator": "music_fluidsynth", "sr": sr, "seed": seed, "soundfont": os.path.basename(assets.soundfont),
            "programs": {"pad": programs[PAD], "lead": programs[LEAD], "bass": programs[BASS]}, **piece.params()}
    return _clip(_normalise(audio, MUSIC_PEAK), sr, f"music:fluidsynth:{seed:08x}", meta)


# ---- sound-effect files -----------------------------------------------------------------------------------

_MAX_EFFECT_S = 3.0


@functools.lru_cache(maxsize=256)
def _effect_from_file(path: str, sr: int) -> np.ndarray:
    """Decoded, mono, resampled, silence-trimmed, at most 3 s with a fade-out (read-only, cached)."""
    if not os.path.isfile(path):
        raise AssetsUnavailable(f"{path}: sound-effect file not found")
    x = _trim_silence(_read_audio(path, sr), sr)
    if len(x) > _MAX_EFFECT_S * sr:
        x = _fade(x[: int(_MAX_EFFECT_S * sr)].copy(), 0, int(0.3 * sr))
    else:
        x = _fade(x.copy(), 0, int(0.01 * sr))
    x = x.astype(np.float32)
    x.setflags(write=False)
    return x


def effect_events_assets(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, assets: Assets | None = None,
                         n_events: int | None = None, files: Sequence[str] | None = None) -> list[EffectEvent]:
    """Events from random sound-effect files at random onsets; class = file stem."""
    _num_samples(duration, sr)
    if files is None:
        assets = assets if assets is not None else find_assets()
        files = assets.effect_files
    pool = list(files)
    if not pool:
        raise AssetsUnavailable("effect_events_assets needs sound-effect files (Debian packages sound-theme-freedesktop, "
                                "heroes-sound-effects); none found")
    k = _n_events(rng, duration, n_events)
    events = []
    for onset in _onsets(rng, duration, k):
        path = pool[int(rng.integers(len(pool)))]
        sig = _normalise(_effect_from_file(path, sr), rng.uniform(0.3, 0.8))
        stem = Path(path).stem
        events.append(EffectEvent(float(onset), sig, stem, f"effect:file:{stem}",
                                  {"generator": "effect_events_assets", "sr": sr, "file": path}))
    return events
