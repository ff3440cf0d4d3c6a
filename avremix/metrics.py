"""Objective metrics: of a highlighted clip against its target (lower is better, after VisAH) and of a
separated stem against its reference (higher is better).

- ``MAG``: mean squared distance between STFT magnitudes (512-point window, 128 hop) of prediction and
  target: closeness in the time-frequency domain.
- ``ENV``: mean squared distance between their amplitude envelopes (magnitude of the analytic signal,
  Hilbert transform): closeness in the time domain.
- ``W-dis``: Wasserstein-1 distance, in seconds, between the two clips' loudness-over-time curves (RMS in
  20 ms frames) taken as distributions over time: the minimum cost of moving one clip's energy in time
  to match the other's (time alignment of what is highlighted when).

- ``flutter``: gain flutter, in dB: the output/input energy ratio per 20 ms frame, its absolute change
  from one frame to the next, median over the frames where the input is no more than 50 dB below its
  loudest frame (``flutter_p95``: the 95th percentile). A remix that rides the level smoothly sits near
  a film mix's own 0.1-0.6 dB; full-band jumps of several dB are heard as pumping and clicks.

Separation, in dB (higher is better):

- ``SI-SDR``: scale-invariant signal-to-distortion ratio (Le Roux et al., "SDR - half-baked or well
  done?", ICASSP 2019): the reference scaled by the optimal ``α = <ŝ, s> / <s, s>``, then
  ``10 log10(|α s|² / |α s − ŝ|²)``. ``SI-SDRi`` is its improvement over the mixture as the estimate.
- ``SDR``: plain signal-to-distortion ratio ``10 log10(|s|² / |s − ŝ|²)`` (no scaling; the BSS-eval SDR
  without its distortion filter, as the SDX / DnR challenges report it).

Each takes waveforms ``[B, 1, T]`` (or ``[B, T]``) and returns one value per clip ``[B]``.
"""

from __future__ import annotations

import torch


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).float()  # [B, T]


def mag(pred: torch.Tensor, target: torch.Tensor, n_fft: int = 512, hop: int = 128) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=pred.device)
    p = torch.stft(_flat(pred), n_fft, hop, window=window, return_complex=True).abs()
    t = torch.stft(_flat(target), n_fft, hop, window=window, return_complex=True).abs()
    return ((p - t) ** 2).mean(dim=(1, 2))


def envelope(x: torch.Tensor) -> torch.Tensor:
    """|analytic signal| of ``[B, T]`` (FFT Hilbert transform)."""
    n = x.shape[-1]
    spec = torch.fft.fft(x, dim=-1)
    h = torch.zeros(n, device=x.device)
    h[0] = 1
    if n % 2 == 0:
        h[n // 2] = 1
        h[1 : n // 2] = 2
    else:
        h[1 : (n + 1) // 2] = 2
    return torch.fft.ifft(spec * h, dim=-1).abs()


def env(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((envelope(_flat(pred)) - envelope(_flat(target))) ** 2).mean(dim=1)


def wdis(pred: torch.Tensor, target: torch.Tensor, sample_rate: int = 16000, frame: float = 0.02) -> torch.Tensor:
    n = int(sample_rate * frame)

    def distribution(x: torch.Tensor) -> torch.Tensor:
        x = _flat(x)
        frames = x[:, : x.shape[1] // n * n].reshape(x.shape[0], -1, n)
        rms = frames.pow(2).mean(-1).sqrt() + 1e-8  # [B, frames]
        return rms / rms.sum(dim=1, keepdim=True)

    cdf_p, cdf_t = distribution(pred).cumsum(1), distribution(target).cumsum(1)
    return (cdf_p - cdf_t).abs().sum(dim=1) * frame


def si_sdr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    p, t = _flat(pred).double(), _flat(target).double()
    alpha = (p * t).sum(1, keepdim=True) / (t.pow(2).sum(1, keepdim=True) + eps)
    s = alpha * t
    return (10 * torch.log10((s.pow(2).sum(1) + eps) / ((s - p).pow(2).sum(1) + eps))).float()


def sdr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    p, t = _flat(pred).double(), _flat(target).double()
    return (10 * torch.log10((t.pow(2).sum(1) + eps) / ((t - p).pow(2).sum(1) + eps))).float()


def gain_flutter(output: torch.Tensor, input: torch.Tensor, sample_rate: int = 16000, frame: float = 0.02,
                 floor_db: float = 50.0, quantile: float = 0.5) -> torch.Tensor:
    """The ``quantile`` (median by default) of ``|Δ_n 10 log10(E_out[n] / E_in[n])|`` over 20 ms frames
    whose input energy is within ``floor_db`` of the clip's loudest frame; dB, one value per clip."""
    n = int(sample_rate * frame)

    def energy(x: torch.Tensor) -> torch.Tensor:
        x = _flat(x).double()
        return x[:, : x.shape[1] // n * n].reshape(x.shape[0], -1, n).pow(2).mean(-1)  # [B, frames]

    e_out, e_in = energy(output), energy(input)
    ratio = 10 * torch.log10((e_out + 1e-12) / (e_in + 1e-12))  # [B, frames]
    change = torch.diff(ratio, dim=1).abs()  # [B, frames-1]
    loud = e_in > e_in.amax(dim=1, keepdim=True) * 10 ** (-floor_db / 10)
    valid = loud[:, 1:] & loud[:, :-1]
    values = [torch.quantile(c[v], quantile) if v.any() else torch.tensor(0.0, dtype=c.dtype) for c, v in zip(change, valid)]
    return torch.stack(values).float()


METRICS = {"MAG": mag, "ENV": env, "W-dis": wdis}


def score(pred: torch.Tensor, target: torch.Tensor, sample_rate: int = 16000) -> dict[str, torch.Tensor]:
    """All metrics, one value per clip."""
    return {"MAG": mag(pred, target), "ENV": env(pred, target), "W-dis": wdis(pred, target, sample_rate)}
