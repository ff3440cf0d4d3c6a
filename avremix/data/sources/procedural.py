"""Procedural single-source generators: speech, music, sound effects and room tone from numpy/scipy.

Conventions (mono float32 at ``sr``, peaks, determinism, :class:`~avremix.data.sources.common.SourceClip` and
:class:`~avremix.data.sources.common.EffectEvent`) are described in :mod:`avremix.data.sources.common`.

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

:func:`compose_music` is shared with the fluidsynth renderer (:func:`avremix.data.sources.tools.music_fluidsynth`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Callable, NamedTuple, Sequence

import numpy as np
from scipy import signal

from avremix.data.sources.common import (
    AMBIENCE_PEAK, DEFAULT_SR, EFFECT_CLASSES, MUSIC_PEAK, SPEECH_PEAK, EffectEvent, SourceClip, Track, clip, event_onsets,
    fade, fit_length, jsonable, midi_hz, noise, normalise, num_events, num_samples, ramp, stable_hash, times,
    triangular_smooth, unit,
)

__all__ = [
    "BASS", "DRUMS", "HAT", "KICK", "LEAD", "PAD", "SNARE", "VOWELS",
    "MidiNote", "Piece", "Speaker",
    "ambience", "compose_music", "effect_events_procedural", "music_procedural", "speech_procedural",
]


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
        return f"speech:proc:{stable_hash(asdict(self))}"


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


def _formant_filter(x: np.ndarray, formants: Track, bws: np.ndarray, sr: int, block: int = 64) -> np.ndarray:
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
    av, asp, fmt, accent = Track(), Track(), Track(), Track()
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
    av_t = triangular_smooth(av.at(pos), int(5 * ms))
    asp_t = triangular_smooth(asp.at(pos), int(3 * ms))
    f0_start, f0_end = spk.f0 * rng.uniform(1.02, 1.15), spk.f0 * rng.uniform(0.8, 0.92)
    drift = 1.0 + 0.015 * triangular_smooth(rng.standard_normal(n), int(40 * ms)) * math.sqrt(40 * ms)
    f0 = f0_start * (f0_end / f0_start) ** (pos / n) * triangular_smooth(accent.at(pos), int(30 * ms)) * drift
    flow, dflow = _glottal_source(rng, f0, sr, spk.jitter, spk.shimmer, 0.5 + 0.3 * spk.breathiness)
    g_rms = float(np.sqrt(np.mean(dflow ** 2)))
    breath = 0.35 * spk.breathiness * av_t * (0.4 + flow)
    excitation = av_t * dflow + g_rms * rng.standard_normal(n) * (asp_t + breath)
    y = _formant_filter(excitation, fmt, _FORMANT_BW * (1.0 + 0.5 * spk.breathiness), sr)
    voiced = av_t > 0.5 * av_t.max()
    ref = float(np.sqrt(np.mean(y[voiced] ** 2))) if voiced.any() else 1.0
    for start, length, band, level, att, rel in bursts:
        seg = noise(rng, length, sr, "bandpass", band)
        seg = fade(seg / (np.std(seg) + 1e-12), att, rel)
        stop = min(n, start + length)
        y[start:stop] += level * ref * seg[: stop - start]
    return y


def _consonant_controls(rng: np.random.Generator, c: _Consonant, s: _Syllable, v0: int, ms: float,
                        av: Track, asp: Track, bursts: list) -> None:
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
    n = num_samples(duration, sr)
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
    return clip(normalise(out, SPEECH_PEAK), sr, speaker.source_id, meta)


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
    env[: min(n, int(attack * sr))] = ramp(int(attack * sr))[: n]
    env[hold:] *= np.exp(-np.arange(n_rel) / (0.25 * n_rel))
    return x * env


def _pluck_note(rng: np.random.Generator, freq: float, length_s: float, sr: int, tau: float, n_partials: int,
                rolloff: float, detune_cents: float) -> np.ndarray:
    n = int(min(5 * tau, length_s + 0.3) * sr)
    t = times(n, sr)
    k = np.arange(1, n_partials + 1)
    fk = freq * k * (1 + 0.0005 * k ** 2)
    keep = fk < 0.45 * sr
    k, fk = k[keep], fk[keep]
    amps = k ** -rolloff * rng.uniform(0.6, 1.0, len(k))
    decays = np.exp(-t[None, :] * (k[:, None] ** 0.6 / tau))
    x = (amps[:, None] * np.sin(2 * np.pi * fk[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (len(k), 1))) * decays).sum(0)
    x += 0.4 * np.sin(2 * np.pi * freq * 2 ** (detune_cents / 1200) * t) * decays[0]
    return fade(x, int(0.003 * sr), int(0.03 * sr))


def _bass_note(freq: float, length_s: float, sr: int, drive: float, phase0: float) -> np.ndarray:
    n = int((length_s + 0.04) * sr)
    ph = 2 * np.pi * freq * times(n, sr) + phase0
    x = np.tanh(drive * (np.sin(ph) + 0.5 * np.sin(2 * ph) + 0.25 * np.sin(3 * ph))) / np.tanh(drive)
    env = 0.7 + 0.3 * np.exp(-times(n, sr) / 0.15)
    return fade(x * env, int(0.005 * sr), int(0.04 * sr))


def _kick(rng: np.random.Generator, sr: int, f_hi: float, f_lo: float, decay: float) -> np.ndarray:
    n = int(0.4 * sr)
    t = times(n, sr)
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
    hats = noise(rng, sr, sr, "highpass", min(7000.0, 0.35 * sr), order=4)
    snares = noise(rng, sr, sr, "bandpass", (1000.0, min(5000.0, 0.4 * sr)))
    snare_decay = rng.uniform(0.05, 0.12)
    kick_params = (rng.uniform(120, 180), rng.uniform(40, 60), rng.uniform(0.12, 0.3))
    for note in piece.notes:
        vel = note.velocity / 127.0
        length = note.duration * spb
        if note.channel == PAD:
            x = _pad_note(rng, pad_table, midi_hz(note.pitch), int(length * sr), sr, pad_attack, pad_release, pad_detune)
            add("pad", note.start, x, vel)
        elif note.channel == LEAD:
            add("lead", note.start + 0.01 * rng.standard_normal(), _pluck_note(rng, midi_hz(note.pitch), length, sr, **pluck), vel)
        elif note.channel == BASS:
            add("bass", note.start, _bass_note(midi_hz(note.pitch), length, sr, drive, rng.uniform(0, 2 * np.pi)), vel)
        elif note.pitch == KICK:
            add("drums", note.start, _kick(rng, sr, *kick_params), vel)
        else:  # snare or hi-hat: a random slice of pre-filtered noise with an exponential decay
            snare = note.pitch == SNARE
            src, dec, m = (snares, snare_decay, int(0.25 * sr)) if snare else (hats, rng.uniform(0.02, 0.05), int(0.1 * sr))
            off = int(rng.integers(0, len(src) - m))
            hit = src[off:off + m] * np.exp(-times(m, sr) / dec) / np.std(src)
            add("drums", note.start, hit, vel * (0.5 if snare else 0.3))
    levels = {"pad": 0.25 * rng.uniform(0.7, 1.2), "lead": 0.35 * rng.uniform(0.7, 1.2),
              "bass": 0.35 * rng.uniform(0.7, 1.2), "drums": 0.15 * rng.uniform(0.7, 1.2)}
    mix = np.zeros(total)
    for name, x in parts.items():
        rms = float(np.sqrt(np.mean(x ** 2)))
        if rms > 0:
            mix += levels[name] * x / rms
    rt = rng.uniform(0.6, 1.5)
    ir = noise(rng, int(rt * sr), sr, "lowpass", 4000.0) * np.exp(-6.9 * times(int(rt * sr), sr) / rt)
    wet = signal.fftconvolve(mix, ir / np.sqrt(np.sum(ir ** 2)))[:total]
    return (mix + rng.uniform(0.1, 0.3) * wet)[:n]


def music_procedural(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR) -> SourceClip:
    """A composed piece (see :func:`compose_music`) rendered with additive synthesis, peak 0.5."""
    n = num_samples(duration, sr)
    seed = int(rng.integers(2 ** 32))
    sub = np.random.default_rng(seed)
    piece = compose_music(sub, duration)
    audio = _render_piece(sub, piece, n, sr)
    meta = {"generator": "music_procedural", "sr": sr, "seed": seed, **piece.params()}
    return clip(normalise(audio, MUSIC_PEAK), sr, f"music:proc:{seed:08x}", meta)


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
    return fit_length(y, n)


def _fx_impact(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(dur=rng.uniform(0.3, 0.6), cutoff=rng.uniform(800, 3000), noise_decay=rng.uniform(0.02, 0.08),
             thump_hz=rng.uniform(50, 120), drop=rng.uniform(0.5, 0.8), thump_decay=rng.uniform(0.08, 0.25),
             mix=rng.uniform(0.3, 0.7))
    n = int(max(p["dur"], 4 * p["thump_decay"]) * sr)
    t = times(n, sr)
    crash = unit(noise(rng, n, sr, "lowpass", p["cutoff"], order=4) * np.exp(-t / p["noise_decay"]))
    f = p["thump_hz"] * (p["drop"] + (1 - p["drop"]) * np.exp(-t / 0.03))
    thump = np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t / p["thump_decay"])
    return fade(p["mix"] * crash + (1 - p["mix"]) * thump, int(0.001 * sr), int(0.02 * sr)), p


def _fx_clink(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    hi = min(6000.0, 0.45 * sr)
    k = int(rng.integers(3, 7))
    p = dict(freqs=rng.uniform(min(2000.0, 0.6 * hi), hi, k), decays=rng.uniform(0.04, 0.3, k),
             amps=rng.uniform(0.3, 1.0, k), double=bool(rng.random() < 0.35), gap=rng.uniform(0.04, 0.12),
             second=rng.uniform(0.3, 0.6))
    n = int(min(1.2, 4.5 * p["decays"].max()) * sr)
    t = times(n, sr)
    x = (p["amps"][:, None] * np.sin(2 * np.pi * p["freqs"][:, None] * t + rng.uniform(0, 6.3, (k, 1)))
         * np.exp(-t / p["decays"][:, None])).sum(0)
    x[: int(0.004 * sr)] += 0.3 * noise(rng, int(0.004 * sr), sr, "highpass", 3000.0) * np.exp(-t[: int(0.004 * sr)] / 0.001)
    if p["double"]:
        g = int(p["gap"] * sr)
        x = np.concatenate([x, np.zeros(g)])
        x[g:] += p["second"] * x[: n].copy()
    return fade(x, int(0.0005 * sr), int(0.02 * sr)), p


def _fx_whoosh(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(dur=rng.uniform(0.3, 0.8), peak_at=rng.uniform(0.35, 0.7), f_start=rng.uniform(200, 600),
             f_peak=rng.uniform(1500, min(4000.0, 0.4 * sr)), f_end=rng.uniform(200, 800), width=rng.uniform(0.6, 1.5),
             sharp=rng.uniform(1.5, 3.0))
    n = int(p["dur"] * sr)
    tp = p["peak_at"] * p["dur"]
    x = _swept_band_noise(rng, n, sr, (0.0, tp, p["dur"]), (p["f_start"], p["f_peak"], p["f_end"]), p["width"])
    t = times(n, sr)
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
    t = times(m, sr)
    surf = noise(rng, (2 * k + 1) * m, sr, "bandpass", (p["surface_hz"] / 1.6, p["surface_hz"] * 1.6))
    surf /= np.std(surf) * 4
    x = np.zeros(n + m)
    for i, on in enumerate(onsets):
        gain = (1.0 if i % 2 == 0 else 0.8) * rng.uniform(0.85, 1.1)
        heel = surf[2 * i * m:(2 * i + 1) * m] * np.exp(-t / p["click_decay"]) + 0.6 * np.sin(2 * np.pi * p["thud_hz"] * t) * np.exp(-t / 0.03)
        toe = surf[(2 * i + 1) * m:(2 * i + 2) * m] * np.exp(-t / (0.7 * p["click_decay"]))
        s, s2 = int(on * sr), int((on + p["heel_toe"]) * sr)
        x[s:s + m] += gain * heel
        x[s2:s2 + m] += gain * p["toe"] * toe
    return fade(x[:n], int(0.0005 * sr), int(0.02 * sr)), p


def _creak(rng: np.random.Generator, sr: int, dur: float, centre: float, rate0: float, rate1: float, sharp: float) -> np.ndarray:
    n = int(dur * sr)
    t = times(n, sr)
    rate = (rate0 + (rate1 - rate0) * t / dur) * (1 + 0.15 * triangular_smooth(rng.standard_normal(n), int(0.03 * sr)) * math.sqrt(0.03 * sr))
    pulses = (0.5 + 0.5 * np.cos(2 * np.pi * np.cumsum(rate) / sr)) ** sharp
    body = noise(rng, n, sr, "bandpass", (centre / 1.3, centre * 1.3))
    squeak = np.sin(2 * np.pi * np.cumsum(centre * (1 + 0.05 * t / dur) * np.ones(n)) / sr)
    x = pulses * (unit(body) + 0.3 * squeak)
    return fade(x, int(0.08 * sr), int(0.08 * sr))


def _thud(rng: np.random.Generator, sr: int, hz: float, decay: float) -> np.ndarray:
    n = int(0.35 * sr)
    t = times(n, sr)
    x = np.sin(2 * np.pi * hz * t) * np.exp(-t / decay) + 0.6 * unit(noise(rng, n, sr, "lowpass", 500.0)) * np.exp(-t / 0.03)
    click = int(0.004 * sr)
    x[:click] += 0.4 * unit(noise(rng, click, sr, "highpass", 2000.0))
    return fade(x, 0, int(0.02 * sr))


def _fx_door(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(closing=bool(rng.random() < 0.5), creak_dur=rng.uniform(0.4, 1.2), creak_hz=rng.uniform(500, 1500),
             rate0=rng.uniform(15, 60), rate1=rng.uniform(15, 60), sharp=rng.uniform(4, 16), thud_hz=rng.uniform(60, 110),
             thud_decay=rng.uniform(0.12, 0.25), creak_level=rng.uniform(0.2, 0.5))
    creak = p["creak_level"] * unit(_creak(rng, sr, p["creak_dur"], p["creak_hz"], p["rate0"], p["rate1"], p["sharp"]))
    thud = unit(_thud(rng, sr, p["thud_hz"], p["thud_decay"]))
    parts = [creak, thud] if p["closing"] else [0.5 * thud, creak]
    return np.concatenate(parts), p


def _fx_gunshot(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    p = dict(tail=rng.uniform(0.3, 0.6), crack_decay=rng.uniform(0.002, 0.006), boom_hz=rng.uniform(50, 90),
             tail_cutoff=rng.uniform(1500, 4000), tail_level=rng.uniform(0.15, 0.35), predelay=rng.uniform(0.005, 0.025),
             reflections=int(rng.integers(3, 7)))
    n = int((p["tail"] + 0.05) * sr)
    t = times(n, sr)
    crack = noise(rng, n, sr, "highpass", 100.0) * np.exp(-t / p["crack_decay"])
    boom = np.sin(2 * np.pi * p["boom_hz"] * t) * np.exp(-t / 0.06) + unit(noise(rng, n, sr, "lowpass", 300.0)) * np.exp(-t / 0.03)
    x = unit(crack) + 0.5 * boom
    for d, g in zip(rng.uniform(0.01, 0.06, p["reflections"]), rng.uniform(0.15, 0.45, p["reflections"])):
        s = int(d * sr)
        x[s:] += g * unit(crack)[: n - s]
    td = np.maximum(t - p["predelay"], 0.0)
    tail = unit(noise(rng, n, sr, "lowpass", p["tail_cutoff"])) * (1 - np.exp(-td / 0.01)) * np.exp(-6.9 * td / p["tail"])
    return fade(x + p["tail_level"] * tail * (t >= p["predelay"]), 0, int(0.03 * sr)), p


def _fx_engine(rng: np.random.Generator, sr: int) -> tuple[np.ndarray, dict]:
    k = 10
    p = dict(dur=rng.uniform(1.0, 3.0), f0=rng.uniform(40, 120), mod_depth=rng.uniform(0.02, 0.12), mod_rate=rng.uniform(0.2, 1.0),
             ramp=rng.uniform(-0.2, 0.4), am=rng.uniform(0.1, 0.4), noise=rng.uniform(0.2, 0.5),
             amps=rng.uniform(0.3, 1.0, k) * np.arange(1, k + 1) ** -0.7, pass_by=bool(rng.random() < 0.5))
    n = int(p["dur"] * sr)
    t = times(n, sr)
    wobble = 1 + 0.01 * triangular_smooth(rng.standard_normal(n), int(0.05 * sr)) * math.sqrt(0.05 * sr)
    f = p["f0"] * (1 + p["mod_depth"] * np.sin(2 * np.pi * p["mod_rate"] * t + rng.uniform(0, 6.3))) * (1 + p["ramp"] * t / p["dur"]) * wobble
    phase = 2 * np.pi * np.cumsum(f) / sr
    h = np.arange(1, k + 1)[:, None]
    keep = (h[:, 0] * f.max()) < 0.45 * sr
    x = (p["amps"][keep, None] * np.sin(h[keep] * phase + rng.uniform(0, 6.3, (int(keep.sum()), 1)))).sum(0)
    x += 0.3 * np.sin(0.5 * phase)  # four-stroke half-order
    x *= 1 + p["am"] * np.sin(0.5 * phase + rng.uniform(0, 6.3))
    rumble = unit(noise(rng, n, sr, "lowpass", rng.uniform(150, 300))) * (0.6 + 0.4 * (0.5 + 0.5 * np.cos(phase)))
    x = unit(x) + p["noise"] * rumble
    if p["pass_by"]:
        centre = rng.uniform(0.3, 0.7) * p["dur"]
        x *= np.exp(-0.5 * ((t - centre) / (0.3 * p["dur"])) ** 2)
    return fade(x, int(rng.uniform(0.1, 0.4) * sr), int(rng.uniform(0.2, 0.5) * sr)), p


_EFFECT_SYNTHS: dict[str, Callable[[np.random.Generator, int], tuple[np.ndarray, dict]]] = {
    "impact": _fx_impact, "clink": _fx_clink, "whoosh": _fx_whoosh, "footsteps": _fx_footsteps,
    "door": _fx_door, "gunshot": _fx_gunshot, "engine": _fx_engine,
}
_EFFECT_PEAKS = {"impact": (0.5, 0.9), "clink": (0.2, 0.5), "whoosh": (0.3, 0.6), "footsteps": (0.3, 0.6),
                 "door": (0.4, 0.8), "gunshot": (0.8, 0.95), "engine": (0.3, 0.6)}


def effect_events_procedural(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, n_events: int | None = None,
                             classes: Sequence[str] | None = None) -> list[EffectEvent]:
    """Synthesised sound events at random onsets (3-8 per 10 s unless ``n_events``), sorted by onset."""
    num_samples(duration, sr)
    classes = tuple(EFFECT_CLASSES if classes is None else classes)
    unknown = sorted(set(classes) - set(EFFECT_CLASSES))
    if not classes or unknown:
        raise ValueError(f"classes must be a non-empty subset of {EFFECT_CLASSES}, got {classes}")
    k = num_events(rng, duration, n_events)
    events = []
    for onset in event_onsets(rng, duration, k):
        cls = classes[int(rng.integers(len(classes)))]
        sig, params = _EFFECT_SYNTHS[cls](rng, sr)
        sig = normalise(sig, rng.uniform(*_EFFECT_PEAKS[cls]))
        params = jsonable(params)
        events.append(EffectEvent(float(onset), sig, cls, f"effect:proc:{cls}:{stable_hash(params)}",
                                  {"generator": "effect_events_procedural", "sr": sr, **params}))
    return events


def ambience(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR) -> np.ndarray:
    """Continuous room tone: 1/f^alpha noise (pink to brown), slow modulation, optional hum; peak 0.05."""
    n = num_samples(duration, sr)
    alpha = rng.uniform(1.0, 2.0)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    shape = np.where(f >= 20.0, np.maximum(f, 20.0) ** (-alpha / 2), 0.0)
    shape *= 1.0 / (1.0 + (f / rng.uniform(2000, 6000)) ** 4)  # rooms are dull
    x = unit(np.fft.irfft(spec * shape, n))
    t = times(n, sr)
    lfo = sum(rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * rng.uniform(0.03, 0.3) * t + rng.uniform(0, 6.3)) for _ in range(3))
    x *= 1.0 + rng.uniform(0.1, 0.4) * lfo / 2.0
    if rng.random() < 0.4:
        mains = 50.0 if rng.random() < 0.5 else 60.0
        hum = sum(np.sin(2 * np.pi * mains * h * t + rng.uniform(0, 6.3)) / h for h in (1, 2, 3))
        x += rng.uniform(0.05, 0.2) * hum
    return normalise(x, AMBIENCE_PEAK)
