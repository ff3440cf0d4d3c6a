"""Shared pieces of the single-source generators: constants, data types and small DSP / I/O helpers.

Every generator returns mono float32 audio at ``sr`` (default :data:`DEFAULT_SR`, 16 kHz), never peaks above 1,
and is deterministic given a :class:`numpy.random.Generator` (no global random state is used). Continuous
sources come back as a :class:`SourceClip` (audio, activity envelope, identity, JSON-serialisable metadata);
sound effects as a list of :class:`EffectEvent` (onset + short signal) that the mixer places with
:meth:`EffectEvent.place`.

:func:`activity_envelope` (rectify, ~30 ms low-pass, normalise by the 99th percentile) gives every clip's
``activity`` (for speech: how open the mouth is, 0 in pauses).
"""

from __future__ import annotations

import hashlib
import json
import math
import subprocess
from dataclasses import dataclass, field

import numpy as np
from scipy import signal
from scipy.ndimage import uniform_filter1d

__all__ = [
    "AMBIENCE_PEAK", "DEFAULT_SR", "EFFECT_CLASSES", "MUSIC_PEAK", "SPEECH_PEAK",
    "AssetsUnavailable", "EffectEvent", "SourceClip", "Track",
    "activity_envelope", "clip", "event_onsets", "fade", "fit_length", "jsonable", "midi_hz", "noise", "normalise",
    "num_events", "num_samples", "ramp", "read_audio", "read_channels", "resample", "run_tool", "sos", "stable_hash", "times",
    "triangular_smooth", "trim_silence", "unit",
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
    stereo: np.ndarray | None = None  # [2, T] float32 stereo image where the source has one (real recordings)


@dataclass
class EffectEvent:
    """One sound event: its own short signal and where it starts in the clip."""

    onset: float  # seconds
    signal: np.ndarray  # [n] float32
    cls: str
    source_id: str
    meta: dict = field(default_factory=dict)
    pan: float = 0.0  # position in a stereo mix, -1 (left) to 1 (right)

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


def num_samples(duration: float, sr: int) -> int:
    if not duration > 0:
        raise ValueError(f"duration must be > 0 s, got {duration}")
    if int(sr) != sr or sr < 4000:
        raise ValueError(f"sample rate must be an integer >= 4000 Hz, got {sr}")
    return int(round(duration * sr))


def jsonable(obj: object) -> object:
    """numpy scalars/arrays and tuples to plain Python, recursively."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, (np.floating, float)):
        return round(float(obj), 6)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj


def stable_hash(obj: object) -> str:
    return hashlib.sha1(json.dumps(jsonable(obj), sort_keys=True).encode()).hexdigest()[:12]


def normalise(x: np.ndarray, peak: float) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    y = x * (peak / m) if m > 0 else x
    return np.asarray(y, np.float32)


def unit(x: np.ndarray) -> np.ndarray:
    m = float(np.max(np.abs(x))) if x.size else 0.0
    return x / m if m > 0 else x


def times(n: int, sr: int) -> np.ndarray:
    return np.arange(n) / sr


def ramp(n: int) -> np.ndarray:
    """Raised-cosine rise from 0 to 1 over n samples."""
    return 0.5 - 0.5 * np.cos(np.pi * np.arange(n) / max(n, 1))


def fade(x: np.ndarray, n_in: int, n_out: int) -> np.ndarray:
    """Raised-cosine fade-in/out, in place; returns x."""
    n_in, n_out = min(n_in, len(x)), min(n_out, len(x))
    if n_in > 0:
        x[:n_in] *= ramp(n_in)
    if n_out > 0:
        x[len(x) - n_out:] *= ramp(n_out)[::-1]
    return x


def triangular_smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Zero-phase triangular smoothing (two passes of a box of ``width`` samples)."""
    if width <= 1:
        return x
    return uniform_filter1d(uniform_filter1d(x, width, mode="nearest"), width, mode="nearest")


def sos(kind: str, freqs: float | tuple[float, float], sr: int, order: int = 2) -> np.ndarray:
    """Butterworth sections; cut-offs clipped to (20 Hz, 0.45 sr)."""
    nyq_safe = 0.45 * sr
    if kind == "bandpass":
        lo = float(np.clip(freqs[0], 20.0, nyq_safe * 0.8))
        hi = float(np.clip(freqs[1], lo * 1.25, nyq_safe))
        return signal.butter(order, [lo, hi], btype="bandpass", fs=sr, output="sos")
    return signal.butter(order, float(np.clip(freqs, 20.0, nyq_safe)), btype=kind, fs=sr, output="sos")


def noise(rng: np.random.Generator, n: int, sr: int, kind: str | None = None,
           freqs: float | tuple[float, float] | None = None, order: int = 2) -> np.ndarray:
    x = rng.standard_normal(n)
    return signal.sosfilt(sos(kind, freqs, sr, order), x) if kind else x


def midi_hz(pitch: float) -> float:
    return 440.0 * 2.0 ** ((pitch - 69) / 12)


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    if sr_in == sr_out:
        return x
    g = math.gcd(int(sr_in), int(sr_out))
    return signal.resample_poly(x, int(sr_out) // g, int(sr_in) // g)


def fit_length(x: np.ndarray, n: int) -> np.ndarray:
    return x[:n] if len(x) >= n else np.pad(x, (0, n - len(x)))


def activity_envelope(audio: np.ndarray, sr: int, smooth: float = 0.03) -> np.ndarray:
    """Smoothed amplitude envelope in [0, 1]: |audio| low-passed over ~``smooth`` s, divided by its 99th percentile."""
    env = triangular_smooth(np.abs(np.asarray(audio, np.float64)), max(1, int(round(smooth * sr))))
    ref = float(np.percentile(env, 99)) if env.size else 0.0
    if ref <= 1e-9:
        return np.zeros(len(env), np.float32)
    return np.clip(env / ref, 0.0, 1.0).astype(np.float32)


def clip(audio: np.ndarray, sr: int, source_id: str, meta: dict) -> SourceClip:
    audio = np.asarray(audio, np.float32)
    return SourceClip(audio, activity_envelope(audio, sr), source_id, jsonable(meta))


class Track:
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


# ---- effect events ----------------------------------------------------------------------------------------

def num_events(rng: np.random.Generator, duration: float, n_events: int | None) -> int:
    if n_events is not None:
        if n_events < 0:
            raise ValueError(f"n_events must be >= 0, got {n_events}")
        return int(n_events)
    return max(1, int(round(int(rng.integers(3, 9)) * duration / 10.0)))


def event_onsets(rng: np.random.Generator, duration: float, k: int) -> np.ndarray:
    return np.sort(rng.uniform(0.0, max(0.0, duration - 0.3), k))


# ---- audio files and external tools -----------------------------------------------------------------------

def run_tool(cmd: list[str], what: str, timeout: float = 120.0) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise AssetsUnavailable(f"{what}: {cmd[0]} is not installed ({e})") from e
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"{what} failed (exit {proc.returncode}): {' | '.join(err)}")


def read_channels(path: str, start_s: float | None = None, seconds: float | None = None) -> tuple[np.ndarray, int]:
    """([C, n] float64, file rate); an excerpt when ``start_s`` / ``seconds`` are given (seeking, no full decode)."""
    try:
        import soundfile as sf

        with sf.SoundFile(path) as f:
            sr = f.samplerate
            if start_s:
                f.seek(min(int(start_s * sr), max(0, f.frames - 1)))
            x = f.read(int(seconds * sr) if seconds else -1, dtype="float64", always_2d=True)
        return x.T, sr
    except Exception:  # noqa: BLE001 - formats libsndfile cannot read go to PyAV
        pass
    try:
        import av

        with av.open(path) as container:
            stream = container.streams.audio[0]
            sr = stream.rate
            resampler = av.AudioResampler(format="fltp", layout=stream.layout.name, rate=sr)  # planar: [C, n] frames
            frames = [f.to_ndarray() for frame in container.decode(stream) for f in resampler.resample(frame)]
            frames += [f.to_ndarray() for f in resampler.resample(None)]
        x = np.concatenate(frames, axis=1).astype(np.float64)
        a = int((start_s or 0) * sr)
        return x[:, a: a + int(seconds * sr) if seconds else None], sr
    except Exception as e:  # noqa: BLE001
        raise AssetsUnavailable(f"{path}: cannot decode audio ({e})") from e


def read_audio(path: str, sr: int) -> np.ndarray:
    """Decode a file to mono float64 at ``sr`` (:func:`read_channels`, averaged over channels)."""
    x, file_sr = read_channels(path)
    return resample(x.mean(axis=0), int(file_sr), sr)


def trim_silence(x: np.ndarray, sr: int, threshold_db: float = -45.0) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    if peak <= 0:
        return x[:0]
    loud = np.flatnonzero(np.abs(x) > peak * 10 ** (threshold_db / 20))
    return x[max(0, loud[0] - int(0.005 * sr)): loud[-1] + int(0.02 * sr)]
