"""Make close-miked studio recordings sound like they were recorded in a room for a film.

- :func:`shoebox_rir`: a room impulse response from our own image-source model of a rectangular room
  (Allen & Berkley 1979): every image source up to ``max_order`` reflections, delayed by its distance
  over the speed of sound, attenuated by 1/distance and by the wall reflection coefficient per bounce,
  with the coefficient set from the wanted RT60 by Sabine's formula (α = 0.161·V / (S·RT60),
  β = √(1 − α)). After the early part (``t_mix``, 50 ms) the reflections are too dense to list, so the
  tail is exponentially decaying noise with the same RT60 (Schroeder's statistical model), levelled to
  the early part's energy at ``t_mix``; its high band decays 1.6x faster (air and wall absorption).
- :func:`random_room`: a room and a source-microphone distance for a speaker or an event.
- :func:`mic_colour`: a random microphone / channel colouring (high-pass, low shelf, presence peak or
  dip, soft top-end roll-off), as RBJ biquads.
- :func:`rt60_of`: RT60 measured from an impulse response by Schroeder backward integration
  (T20 extrapolated), used by the tests to check the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import signal

SPEED_OF_SOUND = 343.0


@dataclass(frozen=True)
class Room:
    size: tuple[float, float, float]  # metres (x, y, z)
    rt60: float  # seconds
    source: tuple[float, float, float]
    mic: tuple[float, float, float]

    @property
    def distance(self) -> float:
        return float(np.linalg.norm(np.subtract(self.source, self.mic)))

    def params(self) -> dict:
        return {"size": [round(v, 2) for v in self.size], "rt60": round(self.rt60, 3), "distance": round(self.distance, 2)}


def random_room(rng: np.random.Generator, distance: tuple[float, float] = (0.5, 3.0),
                rt60: tuple[float, float] = (0.2, 0.8)) -> Room:
    """A room 3-12 m wide, 2.4-4 m high, with the source ``distance`` metres from the microphone."""
    size = (rng.uniform(3, 12), rng.uniform(3, 10), rng.uniform(2.4, 4.0))
    mic = tuple(rng.uniform(0.25, 0.75) * s for s in size[:2]) + (rng.uniform(1.0, 1.8),)
    d = min(rng.uniform(*distance), 0.45 * min(size[:2]))
    for _ in range(100):  # a direction that keeps the source inside the room
        theta = rng.uniform(0, 2 * math.pi)
        src = (mic[0] + d * math.cos(theta), mic[1] + d * math.sin(theta), rng.uniform(1.2, 1.8))
        if all(0.2 < c < s - 0.2 for c, s in zip(src, size)):
            break
    else:
        src = (size[0] / 2, size[1] / 2, 1.5)
    return Room(size, float(rng.uniform(*rt60)), src, mic)


def shoebox_rir(room: Room, sr: int, rng: np.random.Generator, max_order: int = 6, t_mix: float = 0.05) -> np.ndarray:
    """[n] float32 impulse response, direct path at its propagation delay with amplitude 1/distance."""
    lx, ly, lz = room.size
    volume, surface = lx * ly * lz, 2 * (lx * ly + lx * lz + ly * lz)
    alpha = min(0.161 * volume / (surface * room.rt60), 0.99)
    beta = math.sqrt(1 - alpha)
    n = int(sr * room.rt60 * 1.2) + int(sr * t_mix) + 1
    h = np.zeros(n)
    orders = np.arange(-max_order, max_order + 1)
    # image source coordinates per axis: for index k and mirror bit p, x = 2kL + (1-2p) s; reflections |2k - p| ... (Allen & Berkley)
    axes = []
    for s, m, L in zip(room.source, room.mic, room.size):
        pos, refl = [], []
        for k in orders:
            for p in (0, 1):
                pos.append(2 * k * L + (1 - 2 * p) * s - m)
                refl.append(abs(2 * k - p) if p else abs(2 * k))
        axes.append((np.array(pos), np.array(refl)))
    (px, rx), (py, ry), (pz, rz) = axes
    dist = np.sqrt(px[:, None, None] ** 2 + py[None, :, None] ** 2 + pz[None, None, :] ** 2)  # [X, Y, Z]
    bounces = rx[:, None, None] + ry[None, :, None] + rz[None, None, :]
    keep = bounces <= max_order
    dist, bounces = dist[keep], bounces[keep]
    delay = np.round(dist / SPEED_OF_SOUND * sr).astype(int)
    early = delay < int(t_mix * sr) + int(room.distance / SPEED_OF_SOUND * sr)
    np.add.at(h, delay[early & (delay < n)], (beta ** bounces[early & (delay < n)]) / np.maximum(dist[early & (delay < n)], 0.1))
    # statistical tail: noise decaying by 60 dB over rt60, levelled to the early energy density around t_mix
    start = int(room.distance / SPEED_OF_SOUND * sr) + int(t_mix * sr)
    t = np.arange(n - start) / sr
    lo_b, hi_b = signal.butter(2, 2000, fs=sr, output="sos"), signal.butter(2, 2000, "high", fs=sr, output="sos")
    noise = rng.standard_normal(n - start)
    decay = 6.908 / room.rt60  # ln(1000): amplitude falls 60 dB over rt60
    tail = signal.sosfilt(lo_b, noise) * np.exp(-decay * t) + signal.sosfilt(hi_b, noise) * np.exp(-1.6 * decay * t)
    window = h[max(0, start - int(0.02 * sr)):start]
    early_rms = math.sqrt(float(np.mean(window ** 2))) if window.size and np.any(window) else beta ** 2 / max(room.distance, 0.1) * 0.1
    tail_rms = math.sqrt(float(np.mean(tail[: int(0.02 * sr)] ** 2))) + 1e-12
    h[start:] += tail * (early_rms / tail_rms)
    return h.astype(np.float32)


def apply_rir(x: np.ndarray, rir: np.ndarray, wet: float = 1.0) -> np.ndarray:
    """``x`` through the room, same length, scaled so the direct path has unit gain (``wet`` < 1 mixes in
    the dry signal's share of that, for close miking)."""
    peak_idx = int(np.argmax(np.abs(rir)))
    h = rir[peak_idx:] / (abs(float(rir[peak_idx])) + 1e-12)
    y = signal.oaconvolve(x, h)[: len(x)]
    return (wet * y + (1 - wet) * x).astype(np.float32)


def biquad(kind: str, f0: float, sr: int, gain_db: float = 0.0, q: float = 0.707) -> np.ndarray:
    """RBJ audio-EQ-cookbook biquad as one second-order section."""
    a = 10 ** (gain_db / 40)
    w0 = 2 * math.pi * f0 / sr
    alpha = math.sin(w0) / (2 * q)
    cw = math.cos(w0)
    if kind == "peak":
        b, den = [1 + alpha * a, -2 * cw, 1 - alpha * a], [1 + alpha / a, -2 * cw, 1 - alpha / a]
    elif kind in ("lowshelf", "highshelf"):
        sign = 1.0 if kind == "lowshelf" else -1.0  # the high shelf is the low one with cos's sign flipped
        s, c = 2 * math.sqrt(a) * alpha, sign * cw
        b = [a * ((a + 1) - (a - 1) * c + s), sign * 2 * a * ((a - 1) - (a + 1) * c), a * ((a + 1) - (a - 1) * c - s)]
        den = [(a + 1) + (a - 1) * c + s, -sign * 2 * ((a - 1) + (a + 1) * c), (a + 1) + (a - 1) * c - s]
    else:
        raise ValueError(kind)
    return np.array(b + den) / den[0]


def mic_colour(rng: np.random.Generator, x: np.ndarray, sr: int) -> tuple[np.ndarray, dict]:
    """A random microphone and channel colouring; returns the signal and its parameters."""
    p = {"highpass": float(rng.uniform(50, 160)), "shelf_db": float(rng.uniform(-3, 3)),
         "presence_hz": float(rng.uniform(1800, min(5000, 0.4 * sr))), "presence_db": float(rng.uniform(-4, 5)),
         "lowpass": float(rng.uniform(0.33, 0.48) * sr)}
    sos = np.vstack([
        signal.butter(2, p["highpass"], "high", fs=sr, output="sos"),
        biquad("lowshelf", 200, sr, p["shelf_db"])[None],
        biquad("peak", p["presence_hz"], sr, p["presence_db"], q=1.0)[None],
        signal.butter(2, p["lowpass"], fs=sr, output="sos"),
    ])
    return signal.sosfilt(sos, x).astype(np.float32), {k: round(v, 1) for k, v in p.items()}


def rt60_of(rir: np.ndarray, sr: int) -> float:
    """RT60 by Schroeder backward integration: the −5 to −25 dB decay (T20) extrapolated to 60 dB."""
    energy = np.cumsum(rir[::-1].astype(np.float64) ** 2)[::-1]
    edc = 10 * np.log10(energy / energy[0] + 1e-300)
    i5, i25 = int(np.argmax(edc <= -5)), int(np.argmax(edc <= -25))
    t = np.arange(i5, i25) / sr
    slope = np.polyfit(t, edc[i5:i25], 1)[0]
    return float(-60 / slope)
