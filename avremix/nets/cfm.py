"""The flow-matching highlighter (after arXiv 2602.03762): a conditional flow from the poorly mixed input to
its highlighted remix, guided by the picture.

- Representation: compressed complex STFT (``nets.common.Spectral``), frequency bins as channels of a
  1-D sequence over STFT frames (50 a second).
- Source of the flow: ``x0 = C(input) + sigma0 · z`` (``z`` standard normal noise in the spectral
  domain, drawn by the engine once per track), target ``x1 = C(target)``; the straight path between them
  (``avremix.flow``). The flow only has to move the input to its remix, so few steps suffice.
- Conditioning module, run once per chunk *before* the vector field: the input spectrum and the frame
  features (``FrameEncoder``, trained with the model) are projected to a common width, joined along
  channels and mixed by a convolution and a transformer layer over time, so that "which source to bring
  forward" is decided from audio and picture together. The vector field sees this fused condition
  added to its input and FiLM-modulated by the flow time.
- Vector field: dilated residual convolutions (receptive field ~1 s) and transformer layers over time;
  a zero-initialised output layer, so an untrained model returns its input.
- Loss: flow matching plus the rollout loss (integrate K steps inside training, penalise the end).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from avremix.flow import cfm_loss, integrate, rollout_loss, sample_path
from avremix.nets.common import FrameEncoder, ResBlock, Spectral, SpectralConfig, frames_to_steps, sinusoidal


@dataclass
class CFMConfig:
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    hidden: int = 128  # width of the vector field
    blocks: int = 6  # dilated residual blocks
    attn_layers: int = 2  # transformer layers over time
    heads: int = 4
    visual_dim: int = 64  # frame-feature width
    fps: float = 10.0  # frame rate the model takes
    frame_size: tuple[int, int] = (64, 64)  # (W, H) of its frames
    sigma0: float = 0.1  # noise added to the input at t = 0
    steps: int = 2  # default sampling steps (the rollout loss trains the field on its own 2-step Euler path)
    method: str = "euler"  # default ODE method (matches the rollout loss)
    rollout_steps: int = 2  # steps of the rollout loss (0: off)
    rollout_weight: float = 0.5


class CFMHighlighter(nn.Module):
    name = "cfm"
    generative = True

    def __init__(self, config: CFMConfig | None = None):
        super().__init__()
        self.config = c = config or CFMConfig()
        self.spectral = Spectral(c.spectral)
        self.sample_rate, self.fps, self.frame_size = c.spectral.sample_rate, c.fps, tuple(c.frame_size)
        io = 2 * self.spectral.bins
        # conditioning module: audio + picture, fused before the vector field
        self.frames = FrameEncoder(c.visual_dim)
        self.cond_audio = nn.Conv1d(io, c.hidden, 1)
        self.cond_visual = nn.Conv1d(c.visual_dim, c.hidden, 1)
        self.cond_mix = nn.Conv1d(2 * c.hidden, c.hidden, 3, padding=1)
        self.cond_attn = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0, batch_first=True, norm_first=True)
        # vector field
        self.inp = nn.Conv1d(io, c.hidden, 1)
        self.time = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
        self.blocks = nn.ModuleList(ResBlock(c.hidden, 2 ** (i % 4), cond_dim=c.hidden) for i in range(c.blocks))
        self.attn = nn.TransformerEncoder(nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0, batch_first=True, norm_first=True), c.attn_layers, enable_nested_tensor=False)
        self.out = nn.Conv1d(c.hidden, io, 1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    # -- pieces ------------------------------------------------------------------------------------------
    def condition(self, x_in: torch.Tensor, visual: torch.Tensor | None) -> torch.Tensor:
        """Fused audio-visual condition ``[B, H, N]`` from the input spectrum ``[B, 2, F, N]`` and frames."""
        B, _, Fq, N = x_in.shape
        a = self.cond_audio(x_in.reshape(B, 2 * Fq, N))  # [B, H, N]
        if visual is None:
            v = torch.zeros_like(a)
        else:
            v = self.cond_visual(frames_to_steps(self.frames(visual), N))  # [B, H, N]
        h = self.cond_mix(F.gelu(torch.cat([a, v], dim=1)))  # [B, H, N]; no absolute positions: chunks are shift-invariant
        return self.cond_attn(h.transpose(1, 2)).transpose(1, 2)

    def velocity(self, xt: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        """``v(x_t, t | cond)``: ``[B, 2, F, N]``."""
        B, _, Fq, N = xt.shape
        h = self.inp(xt.reshape(B, 2 * Fq, N)) + cond  # [B, H, N]
        temb = self.time(sinusoidal(t * 1000.0, h.shape[1]))  # [B, H]
        for block in self.blocks:
            h = block(h, temb)
        h = self.attn(h.transpose(1, 2)).transpose(1, 2)
        return self.out(h).reshape(B, 2, Fq, N)

    def spectral_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Waveform noise ``[B, 1, T]`` → unit-variance noise in the spectral domain ``[B, 2, F, N]``."""
        spec = self.spectral.stft(noise)
        spec = spec / torch.sqrt(0.5 * (self.spectral.window**2).sum())
        return torch.stack([spec.real, spec.imag], dim=1)

    # -- training ----------------------------------------------------------------------------------------
    def loss(self, audio: torch.Tensor, target: torch.Tensor, visual: torch.Tensor | None) -> tuple[torch.Tensor, dict[str, float]]:
        c = self.config
        x_in, x1 = self.spectral.encode(audio), self.spectral.encode(target)
        x0 = x_in + c.sigma0 * torch.randn_like(x_in)
        cond = self.condition(x_in, visual)
        s = sample_path(x0, x1)
        fm = cfm_loss(self.velocity(s.xt, s.t, cond), s)
        total, parts = fm, {"fm": fm.item()}
        if c.rollout_steps:
            ro = rollout_loss(lambda x, t: self.velocity(x, t, cond), x0, x1, c.rollout_steps)
            total = total + c.rollout_weight * ro
            parts["rollout"] = ro.item()
        return total, parts

    # -- inference (the engine's ChunkModel interface) ------------------------------------------------------
    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                steps: int | None = None, method: str | None = None) -> torch.Tensor:
        """Highlight ``audio [B, 1, T]`` given frames ``[B, F, H, W, 3]``; ``noise [B, 1, T]`` seeds the flow."""
        c = self.config
        x_in = self.spectral.encode(audio)
        z = self.spectral_noise(noise) if noise is not None else torch.randn_like(x_in)
        cond = self.condition(x_in, visual)
        x1 = integrate(lambda x, t: self.velocity(x, t, cond), x_in + c.sigma0 * z, steps or c.steps, method or c.method)
        return self.spectral.decode(x1, audio.shape[-1])
