"""Loudness (ITU-R BS.1770 via pyloudnorm) and dB helpers.

:func:`loudness` is measured level-independently: the signal is brought to a reference level (RMS at
−20 dBFS) before pyloudnorm's K-weighted, gated measurement and the gain is taken off again. BS.1770's
absolute gate (−70 LUFS) then works as "70 LU below the reference": it still drops silence, but it no longer
depends on how loud a stem was mixed, so scaling a stem by g dB changes its measured loudness by exactly
g dB. (With the absolute gate, a quiet stem turned down by 12 dB would lose its quietest blocks to the gate
and measure only −10 dB quieter.) A result below −70 LUFS counts as silence.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pyloudnorm

SILENCE_LUFS = -70.0  # BS.1770's absolute gate: anything quieter counts as silence


@functools.lru_cache(maxsize=8)
def _meter(sample_rate: int) -> pyloudnorm.Meter:
    return pyloudnorm.Meter(sample_rate)


def loudness(audio: np.ndarray, sample_rate: int) -> float:
    """Integrated loudness in LUFS of mono ``[T]`` or multichannel ``[C, T]`` audio; ``-inf`` when silent
    or shorter than one 400 ms gating block."""
    x = np.asarray(audio, dtype=np.float64)
    x = x.T if x.ndim == 2 else x
    if x.shape[0] < int(0.4 * sample_rate) or not np.any(x):
        return -math.inf
    rms = float(np.sqrt(np.mean(x**2)))
    reference = 0.1 / rms  # RMS at -20 dBFS
    with np.errstate(divide="ignore"):
        value = float(_meter(sample_rate).integrated_loudness(x * reference)) - 20.0 * math.log10(reference)
    return value if value > SILENCE_LUFS else -math.inf


def db_to_gain(db: float | np.ndarray) -> float | np.ndarray:
    return 10.0 ** (np.asarray(db) / 20.0) if isinstance(db, np.ndarray) else 10.0 ** (db / 20.0)


def gain_to_db(gain: float) -> float:
    return 20.0 * math.log10(gain) if gain > 0 else -math.inf


def normalize_loudness(audio: np.ndarray, sample_rate: int, target_lufs: float) -> tuple[np.ndarray, float]:
    """``audio`` scaled to ``target_lufs``; returns it and the gain in dB (0 for silence)."""
    current = loudness(audio, sample_rate)
    if not math.isfinite(current):
        return audio, 0.0
    db = target_lufs - current
    return (audio * db_to_gain(db)).astype(np.float32), db
