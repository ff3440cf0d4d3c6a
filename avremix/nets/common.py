"""Building blocks shared by the highlighting networks: the spectral representation, the frame encoder,
time embeddings and residual blocks.

Representation: 16 kHz mono audio, STFT with a 640-sample Hann window and a 320-sample hop (50 frames a
second, so 5 STFT frames per video frame at 10 fps), 321 bins. The complex spectrum is *compressed*,
``|X|^0.3 · e^{i·angle(X)}``, and its real and imaginary parts are stacked as channels. Compression
lifts quiet components (a suppressed dialogue at −12 dB) into a range a network sees, keeps the phase
so the inverse is exact, and makes gains act multiplicatively (a gain g becomes g^0.3), which suits a
task that is mostly rebalancing levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class SpectralConfig:
    sample_rate: int = 16000
    n_fft: int = 640
    hop: int = 320
    power: float = 0.3  # magnitude compression exponent
    scale: float = 1.0  # multiplies the compressed spectrum (keeps values ~unit variance)


class Spectral(nn.Module):
    """Waveform ``[B, 1, T]`` ⇄ compressed complex spectrum ``[B, 2, F, N]``."""

    def __init__(self, config: SpectralConfig):
        super().__init__()
        self.config = config
        self.register_buffer("window", torch.hann_window(config.n_fft), persistent=False)

    @property
    def bins(self) -> int:
        return self.config.n_fft // 2 + 1

    def stft(self, audio: torch.Tensor) -> torch.Tensor:
        """``[B, 1, T]`` → complex ``[B, F, N]`` with ``N = T // hop + 1``."""
        c = self.config
        return torch.stft(audio[:, 0].float(), c.n_fft, c.hop, window=self.window, center=True, return_complex=True)

    def istft(self, spec: torch.Tensor, length: int) -> torch.Tensor:
        c = self.config
        return torch.istft(spec, c.n_fft, c.hop, window=self.window, center=True, length=length)[:, None]  # [B, 1, T]

    def encode(self, audio: torch.Tensor) -> torch.Tensor:
        """Compressed spectrum ``[B, 2, F, N]``."""
        spec = self.stft(audio)
        mag = spec.abs().clamp_min(1e-8)
        comp = spec * (mag ** (self.config.power - 1)) * self.config.scale
        return torch.stack([comp.real, comp.imag], dim=1)

    def decode(self, x: torch.Tensor, length: int) -> torch.Tensor:
        """Inverse of :meth:`encode`: ``[B, 2, F, N]`` → ``[B, 1, length]``."""
        comp = torch.complex(x[:, 0].float(), x[:, 1].float()) / self.config.scale
        mag = comp.abs().clamp_min(1e-8)
        spec = comp * (mag ** (1.0 / self.config.power - 1))
        return self.istft(spec, length)


@dataclass
class VisualInputConfig:
    """What a highlighter sees of the picture (shared by every network's config; read by
    ``features.context.context_for`` and by the facade that samples frames)."""

    visual_dim: int = 64  # width of the per-frame features inside the model
    fps: float = 10.0  # frame rate the model takes
    frame_size: tuple[int, int] = (64, 64)  # (W, H) of its frames
    visual: tuple[str, ...] = ("frames",)  # "frames" (its own CNN) or feature streams: builtin, clip, captions
    visual_in: int = 0  # feature size of those streams (set by training)
    clip_model: str = ""  # open_clip model of the clip / captions streams


class FrameEncoder(nn.Module):
    """A small CNN trained with the highlighter: uint8 frames ``[B, F, H, W, 3]`` → features ``[B, F, dim]``.

    Four strided convolutions (64x64 → 4x4), global average pooling, then a temporal convolution over
    neighbouring frames, so motion (mouth opening, a flash) is visible to it, not only appearance.
    """

    def __init__(self, dim: int = 64, width: int = 8):
        super().__init__()
        layers, c_in = [], 3
        for c_out in (width, 2 * width, 4 * width, 4 * width):
            layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.GroupNorm(4, c_out), nn.GELU()]
            c_in = c_out
        self.cnn = nn.Sequential(*layers)
        self.temporal = nn.Conv1d(2 * c_in, dim, 3, padding=1)  # appearance and frame difference
        self.register_buffer("mean", torch.tensor([0.45, 0.45, 0.45]).view(1, 3, 1, 1), persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        B, Fn = frames.shape[:2]
        x = frames.reshape(B * Fn, *frames.shape[2:]).permute(0, 3, 1, 2).float() / 255.0 - self.mean  # [B*F, 3, H, W]
        x = self.cnn(x).mean(dim=(2, 3)).reshape(B, Fn, -1)  # [B, F, C]
        diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)  # [B, F, C]
        h = torch.cat([x, diff], dim=2).transpose(1, 2)  # [B, 2C, F]
        return F.gelu(self.temporal(h)).transpose(1, 2)  # [B, F, dim]


class FeatureEncoder(nn.Module):
    """Precomputed per-frame features ``[B, F, D]`` (builtin / CLIP / caption streams) → ``[B, F, dim]``:
    a normalised projection, then the same temporal convolution over values and differences as
    :class:`FrameEncoder`."""

    def __init__(self, in_dim: int, dim: int = 64):
        super().__init__()
        self.proj = nn.Sequential(nn.LayerNorm(in_dim), nn.Linear(in_dim, dim), nn.GELU())
        self.temporal = nn.Conv1d(2 * dim, dim, 3, padding=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = self.proj(features.float())  # [B, F, dim]
        diff = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)  # [B, F, dim]
        h = torch.cat([x, diff], dim=2).transpose(1, 2)  # [B, 2*dim, F]
        return F.gelu(self.temporal(h)).transpose(1, 2)  # [B, F, dim]


def visual_encoder(visual: tuple[str, ...], visual_in: int, dim: int) -> nn.Module:
    """The model's own frame CNN for ``("frames",)``, else a :class:`FeatureEncoder` of ``visual_in`` features."""
    if tuple(visual) == ("frames",):
        return FrameEncoder(dim)
    if visual_in < 1:
        raise ValueError(f"visual streams {','.join(visual)} need visual_in (their feature size), got {visual_in}")
    return FeatureEncoder(visual_in, dim)


def sinusoidal(x: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of positions or times ``x [...]`` → ``[..., dim]``."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half)
    args = x.float()[..., None] * freqs
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class ChannelNorm(nn.LayerNorm):
    """LayerNorm over channels at each time step of ``[B, C, N]``: no statistic spans time, so a chunk
    is normalised the same whether it is processed alone or inside a longer clip."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class ResBlock(nn.Module):
    """Dilated residual 1-D convolution block with FiLM conditioning: ``h + conv(norm(h) * (1 + s) + b)``."""

    def __init__(self, dim: int, dilation: int, cond_dim: int | None = None):
        super().__init__()
        self.norm = ChannelNorm(dim)
        self.conv1 = nn.Conv1d(dim, dim, 3, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(dim, dim, 1)
        self.film = nn.Linear(cond_dim, 2 * dim) if cond_dim else None

    def forward(self, h: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm(h)  # [B, C, N]
        if self.film is not None and cond is not None:
            scale, shift = self.film(cond).chunk(2, dim=-1)  # [B, C] each
            x = x * (1 + scale[..., None]) + shift[..., None]
        return h + self.conv2(F.gelu(self.conv1(F.gelu(x))))


def mask_refiner(stems: int, width: int, layers: int) -> nn.Sequential:
    """2-D convolutions over (frequency, time) that refine per-bin source-mask logits from the input's
    level and a coarse guess: ``[B, 1 + K, F, N]`` → ``[B, K, F, N]``; dilations (2, 1), (4, 2), (8, 1), ..."""
    dilations = [(2 ** (1 + i % 3), 1 + i % 2) for i in range(layers)]  # (frequency, time)
    return nn.Sequential(
        nn.Conv2d(1 + stems, width, 3, padding=1), nn.GELU(),
        *(m for d in dilations for m in (nn.Conv2d(width, width, 3, padding=d, dilation=d), nn.GELU())),
        nn.Conv2d(width, stems, 3, padding=1))


def ratio_mask_loss(spectral: "Spectral", masks: torch.Tensor, stems: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
    """Squared error of soft masks ``[B, K, F, N]`` to the stems' ratio masks ``|S_k| / Σ_j |S_j|``
    (``stems [B, K, T]``), weighted by the input's compressed magnitude (bins nobody hears do not count)."""
    B, K, T = stems.shape
    mag = spectral.stft(stems.reshape(B * K, 1, T)).abs().reshape(B, K, *masks.shape[2:])  # [B, K, F, N]
    ideal = mag / mag.sum(dim=1, keepdim=True).clamp_min(1e-8)
    weight = x_in.float().pow(2).sum(dim=1).sqrt()[:, None]  # [B, 1, F, N]
    return ((masks - ideal) ** 2 * weight).sum() / (weight.sum() * K).clamp_min(1e-8)


def spectral_distance(x: torch.Tensor, x1: torch.Tensor, power: float, mag_weight: float,
                      flutter_weight: float = 0.0) -> torch.Tensor:
    """Squared error of compressed spectra ``[B, 2, F, N]``, plus ``mag_weight`` × that of their *linear*
    magnitudes ``|x|^(1/power)``: the compressed domain weights quiet bins as much as loud ones, while a
    listener (and the MAG / SDR metrics) notice a loud source at the wrong level first.

    ``flutter_weight`` adds the temporal regularity term: the mean absolute difference between the
    frame-to-frame changes of the two clips' log energies, ``|Δ_n ln E_x[n] − Δ_n ln E_x1[n]|`` (``E`` the
    full-band energy of STFT frame ``n``, floored 40 dB under the clip's mean). An output/input gain that
    jumps from one 20 ms frame to the next where the target's does not (gain flutter: pumping, clicks)
    costs; following the target's own changes costs nothing (the input's energy cancels out of the
    difference of the two gains' changes)."""
    def linear(z: torch.Tensor) -> torch.Tensor:
        return (z.float().pow(2).sum(dim=1) + 1e-12).pow(0.5 / power)  # [B, F, N]

    d = torch.mean((x - x1) ** 2)
    if mag_weight:
        d = d + mag_weight * torch.mean((linear(x) - linear(x1)) ** 2)
    if flutter_weight:
        def log_energy(z: torch.Tensor) -> torch.Tensor:
            e = linear(z).pow(2).sum(dim=1)  # [B, N]
            return torch.log(e + 1e-4 * e.mean(dim=1, keepdim=True) + 1e-12)

        change = torch.diff(log_energy(x), dim=1) - torch.diff(log_energy(x1), dim=1)  # [B, N-1]
        d = d + flutter_weight * change.abs().mean()
    return d


def sdr_loss(estimate: torch.Tensor, reference: torch.Tensor, mixture: torch.Tensor, max_sdr: float = 30.0,
             floor: float = 1e-4) -> torch.Tensor:
    """Negative thresholded SDR in dB (Wisdom et al., "Unsupervised sound separation using mixture invariant
    training", NeurIPS 2020), averaged over ``[N, T]`` waveforms::

        L = 10 log10( (|s - ŝ|² + τ |s|² + ε |x|²) / (|s|² + ε |x|²) ),   τ = 10^(-max_sdr / 10)

    ``τ`` stops well-separated items from dominating (no gain past ``max_sdr``); ``ε |x|²`` (``x`` the
    item's mixture ``[N, T]``) keeps a silent reference defined, where the loss then asks for silence. It is
    the metric the separators are judged by (SDR), made a loss: loud sources count as they do there."""
    ref, est, mix = reference.float(), estimate.float(), mixture.float()
    energy, floor_energy = ref.pow(2).sum(-1), floor * mix.pow(2).sum(-1)  # [N]
    error = (ref - est).pow(2).sum(-1) + 10 ** (-max_sdr / 10) * energy + floor_energy + 1e-10
    return (10 * torch.log10(error / (energy + floor_energy + 1e-10))).mean()


def frames_to_steps(features: torch.Tensor, n_steps: int, batch: int | None = None) -> torch.Tensor:
    """Per-frame features ``[B', F, D]`` repeated onto ``n_steps`` STFT frames → ``[batch, D, n_steps]``.

    ``batch`` (default ``B'``) a multiple of ``B'``: each picture serves ``batch / B'`` consecutive audio
    items, the channels of one chunk, so the frame encoder runs once per chunk, not once per channel."""
    x = F.interpolate(features.transpose(1, 2), size=n_steps, mode="nearest")  # [B', D, n_steps]
    return shared_to(x, batch)


def shared_to(x: torch.Tensor, batch: int | None) -> torch.Tensor:
    """``x [B', ...]`` repeated item by item to ``[batch, ...]`` (``batch`` a multiple of ``B'``)."""
    if batch is None or batch == x.shape[0]:
        return x
    if batch % x.shape[0]:
        raise ValueError(f"{x.shape[0]} pictures cannot be shared by {batch} audio items")
    return x.repeat_interleave(batch // x.shape[0], dim=0)


def multi_resolution_stft_loss(pred: torch.Tensor, target: torch.Tensor, windows: tuple[int, ...] = (2048, 1024, 512)) -> torch.Tensor:
    """L1 distance of STFT magnitudes at several resolutions (VisAH's training loss); ``[B, 1, T]`` each."""
    loss = pred.new_zeros(())
    for n in windows:
        window = torch.hann_window(n, device=pred.device)
        p = torch.stft(pred[:, 0].float(), n, n // 4, window=window, return_complex=True).abs()
        t = torch.stft(target[:, 0].float(), n, n // 4, window=window, return_complex=True).abs()
        loss = loss + F.l1_loss(p, t) + F.l1_loss(torch.log1p(p), torch.log1p(t))
    return loss / len(windows)
