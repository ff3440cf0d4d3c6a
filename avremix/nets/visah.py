"""VisAH (CVPR 2025) baseline: a discriminative highlighter, scaled to this project's 16 kHz representation.

- Dual audio encoder: a spectrogram branch (STFT magnitude, frequency bins as channels, residual
  convolutions) and a waveform branch (a strided convolution to the same 50 frames a second, then
  residual convolutions); their embeddings are added, and one more layer halves the time axis (latent).
- Context: per-frame features (``FrameEncoder``) with sinusoidal positions through a transformer encoder.
- Latent highlighting module: transformer decoder layers whose self-attention runs over the audio latent
  and whose cross-attention reads the visual context; its output enters the latent through a
  zero-initialised 1x1 convolution (so training starts from the identity).
- Decoders: the latent is upsampled back; a magnitude-mask head (ratio mask in [0, 2]) applied to the
  input's magnitude with the input's phase, plus a waveform head (transposed convolution); the two
  waveforms are summed.
- Loss: multi-resolution STFT (windows 2048 / 1024 / 512).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from avremix.nets.common import (
    ResBlock,
    Spectral,
    SpectralConfig,
    VisualInputConfig,
    multi_resolution_stft_loss,
    shared_to,
    sinusoidal,
    visual_encoder,
)


@dataclass
class VisAHConfig(VisualInputConfig):
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    hidden: int = 128
    enc_blocks: int = 3  # residual blocks per encoder branch and in the mask decoder
    latent_layers: int = 2  # transformer decoder layers of the highlighting module
    context_layers: int = 2  # transformer encoder layers over the frames
    heads: int = 4


class VisAH(nn.Module):
    name = "visah"
    generative = False
    shared_visual = True  # takes one picture per chunk for all its channels (engine)

    def __init__(self, config: VisAHConfig | None = None):
        super().__init__()
        self.config = c = config or VisAHConfig()
        self.spectral = Spectral(c.spectral)
        self.sample_rate, self.fps, self.frame_size = c.spectral.sample_rate, c.fps, tuple(c.frame_size)
        Fq, H, hop = self.spectral.bins, c.hidden, c.spectral.hop
        self.spec_in = nn.Conv1d(Fq, H, 3, padding=1)
        self.spec_enc = nn.ModuleList(ResBlock(H, 2**i) for i in range(c.enc_blocks))
        self.wave_in = nn.Conv1d(1, H, 2 * hop, stride=hop, padding=hop)
        self.wave_enc = nn.ModuleList(ResBlock(H, 2**i) for i in range(c.enc_blocks))
        self.down = nn.Conv1d(H, H, 4, stride=2, padding=1)
        self.frames = visual_encoder(c.visual, c.visual_in, c.visual_dim)
        self.ctx_in = nn.Linear(c.visual_dim, H)
        layer = dict(d_model=H, nhead=c.heads, dim_feedforward=2 * H, dropout=0.0, batch_first=True, norm_first=True)
        self.context = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer), c.context_layers, enable_nested_tensor=False)
        self.highlight = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer), c.latent_layers)
        self.zero = nn.Conv1d(H, H, 1)
        nn.init.zeros_(self.zero.weight)
        nn.init.zeros_(self.zero.bias)
        self.up = nn.ConvTranspose1d(H, H, 4, stride=2, padding=1)
        self.mask_dec = nn.ModuleList(ResBlock(H, 2**i) for i in range(c.enc_blocks))
        self.mask_out = nn.Conv1d(H, Fq, 1)
        nn.init.zeros_(self.mask_out.weight)
        nn.init.constant_(self.mask_out.bias, 0.0)  # 2 * sigmoid(0) = 1: the identity mask
        self.wave_out = nn.ConvTranspose1d(H, 1, 2 * hop, stride=hop, padding=hop)
        nn.init.zeros_(self.wave_out.weight)
        nn.init.zeros_(self.wave_out.bias)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``audio [B, 1, T]``, frames ``[B, F, H, W, 3]`` → highlighted audio ``[B, 1, T]``."""
        T = audio.shape[-1]
        spec = self.spectral.stft(audio)  # [B, Fq, N] complex
        N = spec.shape[-1]
        h_spec = self.spec_in(torch.log1p(spec.abs()))  # [B, H, N]
        for block in self.spec_enc:
            h_spec = block(h_spec)
        h_wave = self.wave_in(audio)[..., :N]  # [B, H, N]
        for block in self.wave_enc:
            h_wave = block(h_wave)
        latent = self.down(h_spec + h_wave)  # [B, H, N/2]
        seq = latent.transpose(1, 2)  # [B, L, H]
        seq = seq + sinusoidal(torch.arange(seq.shape[1], device=seq.device), seq.shape[2])[None]
        if visual is not None:
            ctx = shared_to(self.ctx_in(self.frames(visual)), audio.shape[0])  # [B, F, H]
            ctx = self.context(ctx + sinusoidal(torch.arange(ctx.shape[1], device=ctx.device), ctx.shape[2])[None])
        else:
            ctx = torch.zeros_like(seq[:, :1])
        refined = self.highlight(seq, ctx).transpose(1, 2)  # [B, H, L]
        latent = latent + self.zero(refined)
        h = self.up(latent)[..., :N]  # [B, H, N]
        if h.shape[-1] < N:
            h = nn.functional.pad(h, (0, N - h.shape[-1]))
        m = h
        for block in self.mask_dec:
            m = block(m)
        mask = 2.0 * torch.sigmoid(self.mask_out(m))  # [B, Fq, N]
        from_mask = self.spectral.istft(spec * mask, T)
        from_wave = self.wave_out(h)[..., :T]
        return from_mask + from_wave

    def loss(self, audio: torch.Tensor, target: torch.Tensor, visual: torch.Tensor | None,
             stems: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        loss = multi_resolution_stft_loss(self(audio, visual), target)
        return loss, {"mrstft": loss.item()}
