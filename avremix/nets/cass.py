"""The flow-matching dialogue / music / effects separator, in the spirit of AV-CASS: a conditional flow from
the mixture to each stem, guided by a face stream and a scene stream.

- Representation: the highlighter's compressed complex STFT (``nets.common.Spectral``).
- Conditioning, run once per chunk before the vector field: the mixture's spectrum, a *face* stream and
  a *scene* stream (two ``FrameEncoder`` s trained with the model; a video with one picture feeds the same
  frames to both) are projected, joined, and mixed over time into ``h``. From ``h`` and the mixture's
  level come K soft source masks ``m_k`` (softmax over sources: they sum to one), as in the highlighter.
- Flow, one per stem with shared weights (a learned stem embedding tells them apart): it starts at the
  masked mixture ``x0_k = C(m_k · X) = m_k^p · C(X)`` (``p`` the compression) and ends at the stem
  ``x1_k = C(S_k)``. The vector field (dilated residual convolutions + a transformer layer over time,
  FiLM-modulated by t) outputs a per-bin gain and a complex residual::

      v_k(x_t, t) = (G_k - 1) / (1 - t + t·G_k) · x_t + r_k

  the exact velocity of the straight path when the stem is a gain of its start, as in the highlighter.
- Loss: flow matching on that path + the rollout loss (integrate ``rollout_steps`` Euler steps from
  ``x0`` inside training, penalise the end's error in the compressed domain, with ``mag_weight`` in
  linear magnitude, and with ``sdr_weight`` as the negative SDR of the decoded waveforms) + the masks'
  fit to the stems' ratio masks + (``start_weight``) the same distance for the start itself, so that the
  masked mixture is a good separation on its own. Sampling: ``steps`` Euler steps (2).
- Audio first: without a picture (an audio file, ``--no-video``) the picture streams are replaced by a
  learned *null picture*; ``picture_drop`` trains it, giving that share of training items the null picture,
  so one model serves files with and without a picture (the AlignSep recipe of a null visual embedding).
- ``priors``: streams of pretrained models that learned from real recordings, computed from the mixture
  inside the model: ``rnnoise`` (``avremix.priors.speech_prior``: RNNoise's gain per bin and its speech
  probability) joins the condition and biases the masks through zero-initialised layers, so a checkpoint
  without it starts unchanged.
- ``forward`` returns ``[B, K, T]`` stems; the engine then makes them sum to the mixture exactly
  (mixture consistency) and keeps the band above 8 kHz (see ``avremix.engine``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from avremix.flow import cfm_loss, integrate, rollout_loss, sample_path
from avremix.errors import UsageError
from avremix.nets.common import (
    ResBlock,
    Spectral,
    SpectralConfig,
    VisualInputConfig,
    frames_to_steps,
    mask_refiner,
    ratio_mask_loss,
    sdr_loss,
    sinusoidal,
    spectral_distance,
    visual_encoder,
)

STEMS = ("dialogue", "music", "effects")
PRIORS = ("rnnoise",)


@dataclass
class CASSConfig(VisualInputConfig):
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    hidden: int = 96  # width of the vector field
    blocks: int = 4  # dilated residual blocks
    heads: int = 4
    steps: int = 2  # Euler steps of sampling
    rollout_steps: int = 2  # steps of the rollout loss (0: off)
    rollout_weight: float = 1.0
    flow_weight: float = 1.0  # weight of the flow-matching loss (0 with steps=0 and rollout_steps=0: a masking model, no vector field trained)
    mag_weight: float = 0.1  # weight of the linear-magnitude error in the rollout distance
    mask_weight: float = 1.0  # weight of the masks' fit to the ratio masks
    start_weight: float = 0.0  # weight of the rollout distance of the flow's start (the masked mixture) to the stems
    sdr_weight: float = 0.0  # weight of the negative SDR (dB, waveforms) in that distance
    mask_channels: int = 16  # width of the masks' 2-D refinement
    mask_layers: int = 2
    cond_blocks: int = 0  # dilated residual blocks in the conditioning path, before its attention (they start as identities)
    max_log_gain: float = 3.0
    picture_drop: float = 0.0  # training: probability that an item sees the null picture instead of its own (audio-first)
    priors: tuple[str, ...] = ()  # conditioning streams of pretrained models: "rnnoise"


class CASSSeparator(nn.Module):
    name = "cass"
    task = "separate"
    generative = False
    shared_visual = True  # takes one picture per chunk for all its channels (engine)
    picture_optional = True  # runs without a picture (its null picture): audio files, --no-video
    added_weights = ("null_picture",)  # zero at first; a checkpoint saved before it existed loads without it (its null picture is then zeros)
    stems = STEMS
    data = "avdnr"  # the dataset kind it trains on (`avremix train`)

    @staticmethod
    def streams(config: CASSConfig) -> tuple[str, ...]:
        """Its picture streams, each a frame encoder of that name (a video with one picture feeds them all)."""
        return ("face", "scene")

    def __init__(self, config: CASSConfig | None = None):
        super().__init__()
        self.config = c = config or CASSConfig()
        self.spectral = Spectral(c.spectral)
        self.sample_rate, self.fps, self.frame_size = c.spectral.sample_rate, c.fps, tuple(c.frame_size)
        K, bins = len(self.stems), self.spectral.bins
        io = 2 * bins
        # conditioning: mixture + the picture streams (face, scene)
        names = self.streams(c)
        for name in names:
            setattr(self, name, visual_encoder(c.visual, c.visual_in, c.visual_dim))
        self.cond_audio = nn.Conv1d(io, c.hidden, 1)
        self.cond_visual = nn.Conv1d(max(1, len(names)) * c.visual_dim, c.hidden, 1)
        if self.picture_optional:  # the picture streams' features without a picture
            self.null_picture = nn.Parameter(torch.zeros(len(names) * c.visual_dim))
        unknown = sorted(set(c.priors) - set(PRIORS))
        if unknown:
            raise UsageError(f"model.priors: unknown {', '.join(unknown)} (known: {', '.join(PRIORS)})")
        if c.priors:  # RNNoise's gain map and speech probability: [B, 2, F, N]
            self.cond_prior = nn.Conv1d(2 * bins, c.hidden, 1)
            self.prior_mask = nn.Conv2d(2, K, 3, padding=1)
        self.cond_mix = nn.Conv1d(2 * c.hidden, c.hidden, 3, padding=1)
        self.cond_blocks = nn.ModuleList(ResBlock(c.hidden, 2 ** (i % 4)) for i in range(c.cond_blocks))
        self.cond_attn = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0, batch_first=True, norm_first=True)
        self.masks = nn.Conv1d(c.hidden, K * bins, 1)
        self.mask_refine = mask_refiner(K, c.mask_channels, c.mask_layers)
        # vector field, shared by the stems
        self.stem_embedding = nn.Parameter(torch.zeros(K, c.hidden))
        self.inp = nn.Conv1d(io, c.hidden, 1)
        self.time = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
        self.blocks = nn.ModuleList(ResBlock(c.hidden, 2 ** (i % 4), cond_dim=c.hidden) for i in range(c.blocks))
        self.attn = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0, batch_first=True, norm_first=True)
        self.out = nn.Conv1d(c.hidden, io, 1)  # residual r
        self.gain = nn.Conv1d(c.hidden, bins, 1)  # log G
        priors = (self.cond_prior, self.prior_mask) if c.priors else ()
        for layer in (self.out, self.gain, self.mask_refine[-1], *(b.conv2 for b in self.cond_blocks), *priors):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    # -- pieces ------------------------------------------------------------------------------------------
    def visual_features(self, visual: torch.Tensor | None, n_steps: int, batch: int) -> torch.Tensor:
        """Face and scene features on the STFT frames, ``[B, 2D, N]``, from frames ``[B', F, 2, H, W, 3]``
        (face, scene) or ``[B', F, H, W, 3]`` (one picture for both); the null picture without one."""
        if visual is None:
            return self.null_picture[None, :, None].expand(batch, -1, n_steps)
        face, scene = (visual[:, :, 0], visual[:, :, 1]) if visual.dim() == 6 else (visual, visual)
        return torch.cat([frames_to_steps(self.face(face), n_steps, batch), frames_to_steps(self.scene(scene), n_steps, batch)], dim=1)

    def prior(self, audio: torch.Tensor) -> torch.Tensor | None:
        """The ``priors`` streams of the mixture ``audio [B, 1, T]``: ``[B, 2, F, N]`` (None without priors)."""
        if not self.config.priors:
            return None
        from avremix.priors import speech_prior

        s = self.config.spectral
        return speech_prior(audio[:, 0], s.n_fft, s.hop, s.sample_rate).to(audio.device)

    def condition(self, x_in: torch.Tensor, visual: torch.Tensor | None, prior: torch.Tensor | None = None,
                  drop: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Fused condition ``[B, H, N]`` and source masks ``[B, K, F, N]`` (they sum to one) from the
        mixture ``[B, 2, F, N]``, the picture (:meth:`visual_features`) and the priors ``[B, 2, F, N]``;
        ``drop [B]`` (bool) gives those items the null picture."""
        B, N = x_in.shape[0], x_in.shape[-1]
        v = self.visual_features(visual, N, B)
        if drop is not None and visual is not None:
            v = torch.where(drop[:, None, None], self.null_picture[None, :, None].to(v.dtype), v)
        h, logits = self.fuse(x_in, v, prior)
        return h, torch.softmax(logits, dim=1)

    def fuse(self, x_in: torch.Tensor, v: torch.Tensor, prior: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Condition ``[B, H, N]`` and mask logits ``[B, K, F, N]`` from the mixture, visual features
        ``v [B, V, N]`` and the priors ``[B, 2, F, N]`` (with ``config.priors``)."""
        B, _, Fq, N = x_in.shape
        a = self.cond_audio(x_in.reshape(B, 2 * Fq, N))  # [B, H, N]
        h = self.cond_mix(F.gelu(torch.cat([a, self.cond_visual(v.to(a.dtype))], dim=1)))  # [B, H, N]
        if self.config.priors:
            h = h + self.cond_prior(prior.reshape(B, 2 * Fq, N).to(h.dtype))
        for block in self.cond_blocks:
            h = block(h)
        h = self.cond_attn(h.transpose(1, 2)).transpose(1, 2)
        level = x_in.float().pow(2).sum(dim=1).sqrt()[:, None]  # compressed magnitude [B, 1, F, N]
        logits = self.masks(h).reshape(B, -1, Fq, N).float()  # [B, K, F, N]
        if self.config.priors:
            logits = logits + self.prior_mask(prior.float())
        return h, logits + self.mask_refine(torch.cat([level, logits], dim=1))

    def start(self, x_in: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
        """Masked mixture per stem, compressed: ``[B*K, 2, F, N]``."""
        B, _, Fq, N = x_in.shape
        m = masks.clamp_min(1e-6).pow(self.config.spectral.power)  # C(m·X) = m^p · C(X)
        return (m[:, :, None] * x_in[:, None]).reshape(B * masks.shape[1], 2, Fq, N)

    def velocity(self, xt: torch.Tensor, t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """``v(x_t, t | h)`` for ``xt [B*K, 2, F, N]`` (stems of one item next to each other)."""
        BK, _, Fq, N = xt.shape
        K = len(self.stems)
        cond = h.repeat_interleave(K, dim=0) + self.stem_embedding.repeat(BK // K, 1)[:, :, None]  # [B*K, H, N]
        z = self.inp(xt.reshape(BK, 2 * Fq, N)) + cond
        temb = self.time(sinusoidal(t * 1000.0, z.shape[1]))  # [B*K, H]
        for block in self.blocks:
            z = block(z, temb)
        z = self.attn(z.transpose(1, 2)).transpose(1, 2)
        r = self.out(z).reshape(BK, 2, Fq, N)
        bound = self.config.max_log_gain
        gain = torch.exp(bound * torch.tanh(self.gain(z).float() / bound))[:, None]  # G: [B*K, 1, F, N]
        tt = t.float().reshape(BK, 1, 1, 1)
        return r + (gain - 1) / (1 - tt + tt * gain) * xt

    # -- training ----------------------------------------------------------------------------------------
    def loss(self, audio: torch.Tensor, target: torch.Tensor, visual: torch.Tensor | None,
             stems: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """``audio [B, 1, T]`` mixture, ``target [B, K, T]`` stems."""
        c = self.config
        B, K, T = target.shape
        x_in = self.spectral.encode(audio)
        x1 = self.spectral.encode(target.reshape(B * K, 1, T))  # [B*K, 2, F, N]
        drop = torch.rand(B, device=audio.device) < c.picture_drop if c.picture_drop else None
        h, masks = self.condition(x_in, visual, self.prior(audio), drop)
        x0 = self.start(x_in, masks)

        def distance(x: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
            d = self.distance(x, x1)
            if c.sdr_weight:
                mixture = audio.expand(B, K, T).reshape(B * K, T)
                d = d + c.sdr_weight * sdr_loss(self.spectral.decode(x, T).reshape(B * K, T), target.reshape(B * K, T), mixture)
            return d

        total, parts = x_in.new_zeros((), dtype=torch.float32), {}
        if c.flow_weight:
            s = sample_path(x0.detach(), x1)  # one t per stem item
            fm = cfm_loss(self.velocity(s.xt, s.t, h), s)
            total, parts["fm"] = total + c.flow_weight * fm, fm.item()
        if c.rollout_steps:
            ro = rollout_loss(lambda x, tt: self.velocity(x, tt, h), x0, x1, c.rollout_steps, distance=distance)
            total = total + c.rollout_weight * ro
            parts["rollout"] = ro.item()
        if c.start_weight:
            start = distance(x0, x1)
            total = total + c.start_weight * start
            parts["start"] = start.item()
        if c.mask_weight:
            fit = ratio_mask_loss(self.spectral, masks, target, x_in)
            total = total + c.mask_weight * fit
            parts["stems"] = fit.item()
        return total, parts

    def distance(self, x: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Rollout distance (``nets.common.spectral_distance``)."""
        return spectral_distance(x, x1, self.config.spectral.power, self.config.mag_weight)

    # -- inference (the engine's ChunkModel interface) ------------------------------------------------------
    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                steps: int | None = None) -> torch.Tensor:
        """Separate ``audio [B, 1, T]`` into ``[B, K, T]`` (dialogue, music, effects)."""
        B, _, T = audio.shape
        x_in = self.spectral.encode(audio)
        h, masks = self.condition(x_in, visual, self.prior(audio))
        x = self.start(x_in, masks)
        n = self.config.steps if steps is None else steps
        if n:
            x = integrate(lambda z, t: self.velocity(z, t, h), x, n, "euler")
        return self.spectral.decode(x, T).reshape(B, len(self.stems), T)
