"""The flow-matching highlighter (after arXiv 2602.03762): a conditional flow from the poorly mixed input to
its highlighted remix, guided by the picture.

- Representation: compressed complex STFT (``nets.common.Spectral``), frequency bins as channels of a
  1-D sequence over STFT frames (50 a second).
- Source of the flow in training: ``x0 = C(input) + sigma0 · z`` (``z`` standard normal noise in the
  spectral domain), target ``x1 = C(target)``; the straight path between them (``avremix.flow``). The
  flow only has to move the input to its remix, so few steps suffice.
  Sampling (and the rollout loss, which trains the sampler's own path) starts from
  ``C(input) + noise · sigma0 · z``: ``noise = 0`` (the default) starts from the input itself, a
  deterministic remix (on the synth test split it scores MAG 7 % lower than starting from a noise
  sample); ``noise > 0`` draws one remix per seed (the engine draws ``z`` once per track).
- Conditioning module, run once per chunk *before* the vector field: the input spectrum and the frame
  features (``FrameEncoder``, trained with the model) are projected to a common width, joined along
  channels and mixed by a convolution and a transformer layer over time, so that "which source to bring
  forward" is decided from audio and picture together. The vector field sees this fused condition
  added to its input and FiLM-modulated by the flow time. Without a picture (an audio file) a learned
  *null picture* stands in for the frame features; ``picture_drop`` trains it on that share of items,
  and only a model so trained runs on audio alone (``picture_optional``).
- Vector field: dilated residual convolutions (receptive field ~1 s) and transformer layers over time,
  then two zero-initialised heads (an untrained model returns its input):

      v(x_t, t) = (G - 1) / (1 - t + t·G) · x_t + r,        G = exp(g),  g, r = heads(h)

  ``G`` is a real gain per time-frequency bin and ``r`` a complex residual. Remixing is mostly moving
  sources up or down: when the target is a per-bin gain of the source, ``x1 = G·x0``, the straight path
  is ``x_t = (1 - t + t·G)·x0`` and its velocity ``(G - 1)·x0`` is exactly the first term, the same
  ``G`` at every ``t``, so a network only has to say *how much* each bin moves, as a mask network
  (Open-Unmix) does; ``r`` carries what a gain cannot (phase where sources overlap). ``velocity =
  "direct"`` drops the gain head (``v = r``).
- Source-aware gain (``stems = K > 0``): remixing moves *sources*, so ``G`` has a second factor built
  from K soft source masks ``m_k`` (a coarse guess per frame from the fused condition, refined per bin
  by 2-D convolutions over the input's level; a softmax over sources) and one gain per source and frame
  ``g_k`` (from the vector field's state and each source's share of the input's energy, per frame and
  over the chunk)::

      log G = free per-bin term + power · log Σ_k m_k · e^{g_k}

  When the training data knows the input's stems (Muddy Mix does), the masks are also fitted to the
  stems' ratio masks (``stem_weight``); at inference nothing but the mix and the picture is needed.
- Stem tags (``tags = True``): how sure YAMNet, a fixed AudioSet tagger, is that dialogue, music and
  effects sound in the input (``tagging.stem_tags``, 3 values per frame). They join the audio stream of the
  condition and add a bias per source and frame to the masks' logits, both through zero-initialised
  layers (so a checkpoint without tags starts from where it was). Why: a model trained on a few music
  packages took held-out ambient music for effects; YAMNet, trained on AudioSet, hears it as music.
- Probe fallback (``probe = True``): a linear probe of YAMNet's 1024-d embeddings (layer-normalised) guesses
  each source's share of the input's energy per frame, ``p_k``; it is fitted to the input stems' shares
  (``probe_weight``, a cross-entropy of its own, detached from the rest of the model). It only re-divides
  the joint share of ``probe_sources`` (music and effects): the sources outside keep the masks' share,
  ``a_k = s_k``, and inside ``a_k = (Σ_S s_j) · p_k / Σ_S p_j`` (``s_k`` the masks' share of frame ``n``).
  The masks trust their own spectra until the chunk's shares ``s`` and ``a`` disagree more than they do on
  held-out validation packages (total variation ``d`` above ``probe_gate[0]``); beyond that the masks are
  moved toward ``a``, fully from ``probe_gate[1]`` on::

      m_k ← softmax_k(log m_k + log t_k − log s_k),   log t_k = log s_k + γ · (log a_k − log s_k),
      γ = clamp((d − lo) / (hi − lo), 0, 1)

  (the step is repeated a few times, proportional fitting, since renormalising each bin moves the shares:
  with ``γ = 1`` each frame's shares become ``a``, and bin by bin the masks keep their shape). Why: masks
  trained on a few packages are right on them and sometimes wholly wrong on music of another style
  (held-out ambient pieces taken for effects, 80 % of the energy in the wrong source); a probe of a tagger
  trained on AudioSet is less precise but does not fail that way. On validation the masks' dialogue share
  is three times as accurate as the probe's (mean error 0.03 against 0.10) and their music and effects
  shares 1.5 times (0.08 against 0.11), and a dialogue share is what a highlighter raises most, so the
  probe never moves it. Where the two agree, nothing changes.
- Loss: flow matching plus the rollout loss (integrate K steps inside training, penalise the end). The
  rollout's distance adds, with ``mag_weight``, the squared error of the end point's *linear* magnitudes
  ``|x|^(1/power)``: the compressed domain weights quiet bins as much as loud ones, while what a listener
  (and the MAG/ENV metrics) notice first is a loud source at the wrong level. With ``flutter_weight``
  it also penalises frame-to-frame jumps of the output's level that the target does not make (gain
  flutter, heard as pumping; ``nets.common.spectral_distance``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from avremix.flow import cfm_loss, integrate, rollout_loss, sample_path
from avremix.nets.common import (
    ResBlock,
    Spectral,
    SpectralConfig,
    VisualInputConfig,
    frames_to_steps,
    mask_refiner,
    ratio_mask_loss,
    sinusoidal,
    spectral_distance,
    visual_encoder,
)
from avremix.tagging import STEMS, embedding_dim, yamnet_at


@dataclass
class CFMConfig(VisualInputConfig):
    spectral: SpectralConfig = field(default_factory=SpectralConfig)
    hidden: int = 128  # width of the vector field
    blocks: int = 6  # dilated residual blocks
    attn_layers: int = 2  # transformer layers over time
    heads: int = 4
    sigma0: float = 0.1  # noise added to the input at t = 0 (flow-matching path samples)
    noise: float = 0.0  # starting noise of sampling and of the rollout loss, as a fraction of sigma0 (0: the input itself)
    steps: int = 2  # default sampling steps (the rollout loss trains the field on its own 2-step Euler path)
    method: str = "euler"  # default ODE method (matches the rollout loss)
    rollout_steps: int = 2  # steps of the rollout loss (0: off)
    rollout_weight: float = 0.5
    velocity: str = "gain"  # "gain": per-bin gain term + residual (see the module docstring); "direct": residual only
    max_log_gain: float = 3.0  # |log G| bound of the gain head
    mag_weight: float = 0.1  # weight of the linear-magnitude error in the rollout distance
    flutter_weight: float = 0.0  # weight of the gain-flutter term of the rollout distance (temporal regularity)
    stems: int = 3  # sources of the source-aware gain (0: off)
    stem_weight: float = 1.0  # weight of the masks' fit to the input stems' ratio masks (when stems are given)
    mask_channels: int = 12  # width of the masks' 2-D refinement
    mask_layers: int = 1  # dilated 2-D layers of the refinement (frequency dilation 2, 4, 8, 2, ...; time 1, 2, ...)
    tags: bool = False  # YAMNet's stem tags of the input (``tagging.stem_tags``) as a third condition stream
    probe: bool = False  # the probe fallback: a linear probe of YAMNet's embeddings for the sources' shares (module docstring)
    probe_weight: float = 1.0  # weight of the probe's fit to the input stems' energy shares per frame (when stems are given)
    probe_gate: tuple[float, float] = (0.45, 0.65)  # masks/probe disagreement (TV of a chunk's shares) where the probe starts to move the masks, and where fully; set it above the largest on validation (the card of highlight-cfm)
    probe_sources: tuple[int, ...] = (1, 2)  # the sources whose joint share the probe re-divides (music, effects); the others keep the masks'
    picture_drop: float = 0.0  # training: share of items that see the learned null picture instead of their own; > 0 makes the model run on audio files too


class Condition(NamedTuple):
    h: torch.Tensor  # fused audio-visual condition [B, H, N]
    masks: torch.Tensor | None  # soft source masks [B, K, F, N] (None without the source-aware gain)
    shares: torch.Tensor | None  # log share of the input's energy per source: per frame and chunk mean [B, 2K, N]


class CFMHighlighter(nn.Module):
    name = "cfm"
    generative = True
    shared_visual = True  # takes one picture per chunk for all its channels (engine)
    added_weights = ("null_picture",)  # zero at first; a checkpoint saved before it existed loads without it
    FALLBACK_ITERATIONS = 4  # of the probe fallback's proportional fitting (frame shares within ~1e-3 of their aim)

    def __init__(self, config: CFMConfig | None = None):
        super().__init__()
        self.config = c = config or CFMConfig()
        self.spectral = Spectral(c.spectral)
        self.sample_rate, self.fps, self.frame_size = c.spectral.sample_rate, c.fps, tuple(c.frame_size)
        io = 2 * self.spectral.bins
        # conditioning module: audio + picture, fused before the vector field
        self.frames = visual_encoder(c.visual, c.visual_in, c.visual_dim)
        self.cond_audio = nn.Conv1d(io, c.hidden, 1)
        self.cond_visual = nn.Conv1d(c.visual_dim, c.hidden, 1)
        # the frame features of "no picture" (audio files): learned where picture_drop > 0, as the separator's
        self.null_picture = nn.Parameter(torch.zeros(c.visual_dim))
        self.cond_mix = nn.Conv1d(2 * c.hidden, c.hidden, 3, padding=1)
        self.cond_attn = nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0, batch_first=True, norm_first=True)
        self.cond_tags = nn.Conv1d(len(STEMS), c.hidden, 1) if c.tags else None
        # vector field
        self.inp = nn.Conv1d(io, c.hidden, 1)
        self.time = nn.Sequential(nn.Linear(c.hidden, c.hidden), nn.GELU(), nn.Linear(c.hidden, c.hidden))
        self.blocks = nn.ModuleList(ResBlock(c.hidden, 2 ** (i % 4), cond_dim=c.hidden) for i in range(c.blocks))
        self.attn = nn.TransformerEncoder(nn.TransformerEncoderLayer(c.hidden, c.heads, 2 * c.hidden, dropout=0.0, batch_first=True, norm_first=True), c.attn_layers, enable_nested_tensor=False)
        self.out = nn.Conv1d(c.hidden, io, 1)  # residual r
        self.gain = nn.Conv1d(c.hidden, self.spectral.bins, 1) if c.velocity == "gain" else None  # log G
        if c.velocity not in ("gain", "direct"):
            raise ValueError(f"velocity must be gain or direct, got {c.velocity!r}")
        K, bins = c.stems, self.spectral.bins
        if K and self.gain is None:
            raise ValueError("the source-aware gain (stems > 0) needs velocity='gain'")
        # source masks: a coarse guess per frame from the condition, refined per bin by 2-D convolutions
        # over (frequency, time) of the input's level and that guess
        self.masks = nn.Conv1d(c.hidden, K * bins, 1) if K else None
        self.mask_refine = mask_refiner(K, c.mask_channels, c.mask_layers) if K else None
        self.mask_tags = nn.Conv1d(len(STEMS), K, 1) if K and c.tags else None  # bias per source and frame
        if c.probe and not K:
            raise ValueError("the probe fallback (probe=True) corrects the source masks; it needs stems > 0")
        if c.probe and not 0 <= c.probe_gate[0] < c.probe_gate[1] <= 1:
            raise ValueError(f"probe_gate must be two disagreements 0 <= lo < hi <= 1, got {c.probe_gate}")
        if c.probe and (len(set(c.probe_sources)) < 2 or not all(0 <= k < K for k in c.probe_sources)):
            raise ValueError(f"probe_sources must name two or more of the {K} sources (0 to {K - 1}), got {c.probe_sources}")
        self.probe = nn.Sequential(nn.LayerNorm(embedding_dim(), elementwise_affine=False), nn.Linear(embedding_dim(), K)) if c.probe else None
        # log gain per source and frame, from the vector field's state and each source's share of the energy
        self.stem_gain = nn.Sequential(nn.Conv1d(c.hidden + 2 * K, c.hidden, 1), nn.GELU(), nn.Conv1d(c.hidden, K, 1)) if K else None
        for layer in (self.out, self.gain, self.stem_gain[-1] if K else None, self.mask_refine[-1] if K else None,
                      self.cond_tags, self.mask_tags):
            if layer is not None:
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)

    @property
    def picture_optional(self) -> bool:
        """Whether it runs on audio alone (an audio file): only once its null picture was trained
        (``picture_drop > 0``); a model that saw a picture on every item is refused one without."""
        return self.config.picture_drop > 0

    # -- pieces ------------------------------------------------------------------------------------------
    def yamnet(self, audio: torch.Tensor, n_frames: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        """YAMNet (run once) on ``audio [B, 1, T]`` at the STFT frames: its stem tags ``[B, 3, N]`` (with ``tags``)
        and its embeddings ``[B, D, N]`` (with ``probe``); None for what this model does not use."""
        c = self.config
        if not (c.tags or c.probe):
            return None, None
        times = np.arange(n_frames) * c.spectral.hop / c.spectral.sample_rate  # STFT frame centres (center=True)
        with torch.autocast(audio.device.type, enabled=False):  # YAMNet's front end runs in fp32 whatever the engine's precision
            pairs = [yamnet_at(a[0].detach().float().cpu().numpy(), c.spectral.sample_rate, times) for a in audio]
        tags, emb = (torch.from_numpy(np.stack([p[i] for p in pairs])).to(audio.device) for i in (0, 1))
        return (tags if c.tags else None), (emb if c.probe else None)

    def stem_tags(self, audio: torch.Tensor, n_frames: int) -> torch.Tensor | None:
        """YAMNet's stem tags of ``audio [B, 1, T]`` at the STFT frames: ``[B, 3, N]`` (None without ``tags``)."""
        return self.yamnet(audio, n_frames)[0] if self.config.tags else None

    def probe_shares(self, embeddings: torch.Tensor) -> torch.Tensor:
        """The probe's log share of each source per frame, ``[B, D, N]`` → ``[B, K, N]``."""
        return torch.log_softmax(self.probe(embeddings.float().transpose(1, 2)), dim=-1).transpose(1, 2)

    def disagreement(self, masks: torch.Tensor, power: torch.Tensor, embeddings: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """How far the probe would move the masks ``[B, K, F, N]`` (``power [B, 1, F, N]``: the input's linear
        power): the total variation ``d [B]`` between the chunk's shares by the masks and their aim, the
        masks' shares ``s`` and the aim ``a`` per frame (``[B, K, 1, N]``; module docstring)."""
        p = self.probe_shares(embeddings).detach().exp()[:, :, None]  # [B, K, 1, N]: the probe learns from its own loss only
        frame = power.sum(dim=2, keepdim=True)  # [B, 1, 1, N]
        share = (masks * power).sum(dim=2, keepdim=True) / frame.clamp_min(1e-12)  # masks' share per frame [B, K, 1, N]
        moved = torch.zeros(masks.shape[1], dtype=torch.bool, device=masks.device)
        moved[list(self.config.probe_sources)] = True
        moved = moved[None, :, None, None]  # [1, K, 1, 1]
        pool = (share * moved).sum(dim=1, keepdim=True)  # the masks' share of the re-divided sources [B, 1, 1, N]
        aim = torch.where(moved, pool * p / (p * moved).sum(dim=1, keepdim=True).clamp_min(1e-8), share)  # [B, K, 1, N]
        w = frame / frame.sum(dim=-1, keepdim=True).clamp_min(1e-12)  # each frame's part of the chunk's energy
        d = ((share - aim) * w).sum(dim=-1).abs().sum(dim=1).reshape(-1) / 2  # TV of the chunk's shares [B]
        return d, share, aim

    def fallback(self, masks: torch.Tensor, power: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
        """The masks ``[B, K, F, N]`` moved toward the probe's aim by the gate of their disagreement (module
        docstring); ``power [B, 1, F, N]`` is the input's linear power."""
        lo, hi = self.config.probe_gate
        d, share, aim = self.disagreement(masks, power, embeddings)
        gate = ((d - lo) / (hi - lo)).clamp(0, 1).reshape(-1, 1, 1, 1)  # [B, 1, 1, 1]
        if not bool((gate > 0).any()):
            return masks  # masks and probe agree (as on every validation clip): nothing to move
        log_share = torch.log(share.clamp_min(1e-8))
        target = log_share + gate * (torch.log(aim.clamp_min(1e-8)) - log_share)  # log shares to reach
        frame = power.sum(dim=2, keepdim=True)  # [B, 1, 1, N]
        logits = torch.log(masks.clamp_min(1e-8))
        for _ in range(self.FALLBACK_ITERATIONS):  # iterative proportional fitting: rescale per source, renormalise per bin
            share = (torch.softmax(logits, dim=1) * power).sum(dim=2, keepdim=True) / frame.clamp_min(1e-12)
            logits = logits + target - torch.log(share.clamp_min(1e-8))
        return torch.where(gate > 0, torch.softmax(logits, dim=1), masks)

    def gate_disagreement(self, audio: torch.Tensor, visual: torch.Tensor | None) -> torch.Tensor:
        """The probe fallback's disagreement ``d`` on each clip of ``audio [B, 1, T]`` (frames ``visual``), taken
        before any correction: the number ``probe_gate`` is set against (above its largest on validation)."""
        x_in = self.spectral.encode(audio)
        tags, embeddings = self.yamnet(audio, x_in.shape[-1])
        cond = self.condition(x_in, visual, tags, embeddings, fallback=False)
        power = x_in.float().pow(2).sum(dim=1).sqrt()[:, None].pow(2.0 / self.config.spectral.power)  # [B, 1, F, N]
        return self.disagreement(cond.masks, power, embeddings)[0]

    def probe_loss(self, embeddings: torch.Tensor, stems: torch.Tensor) -> torch.Tensor:
        """Cross-entropy of the probe's shares to the stems' (``[B, K, T]``) energy shares per STFT frame, each frame
        weighted by its part of the mix's energy (silence does not count)."""
        B, K, T = stems.shape
        energy = self.spectral.stft(stems.reshape(B * K, 1, T)).abs().pow(2).sum(dim=-2).reshape(B, K, -1)  # [B, K, N]
        total = energy.sum(dim=1, keepdim=True)  # [B, 1, N]
        target = energy / total.clamp_min(1e-12)
        w = total / total.sum(dim=-1, keepdim=True).clamp_min(1e-12)
        return -(target * self.probe_shares(embeddings) * w).sum() / B

    def condition(self, x_in: torch.Tensor, visual: torch.Tensor | None, tags: torch.Tensor | None = None,
                  embeddings: torch.Tensor | None = None, fallback: bool = True, drop: torch.Tensor | None = None) -> Condition:
        """Fused audio-visual condition ``[B, H, N]`` from the input spectrum ``[B, 2, F, N]``, frames (None: the
        null picture) and, with ``tags``, the input's stem tags ``[B, 3, N]`` (with ``probe``, YAMNet's
        ``embeddings [B, D, N]``; ``fallback=False`` gives the masks as they are, before the probe moves them);
        ``drop [B]`` (bool) gives those items the null picture."""
        B, _, Fq, N = x_in.shape
        a = self.cond_audio(x_in.reshape(B, 2 * Fq, N))  # [B, H, N]
        if self.cond_tags is not None:
            if tags is None:
                raise ValueError("this model conditions on stem tags (tags=True): pass stem_tags(audio, N)")
            a = a + self.cond_tags(tags.to(a.dtype))
        null = self.null_picture[None, :, None]  # [1, D, 1]
        if visual is None:
            f = null.expand(B, -1, N)
        else:
            f = frames_to_steps(self.frames(visual), N, B)  # [B, D, N]
            if drop is not None:
                f = torch.where(drop[:, None, None], null.to(f.dtype), f)
        v = self.cond_visual(f)  # [B, H, N]
        h = self.cond_mix(F.gelu(torch.cat([a, v], dim=1)))  # [B, H, N]; no absolute positions: chunks are shift-invariant
        h = self.cond_attn(h.transpose(1, 2)).transpose(1, 2)
        if self.masks is None:
            return Condition(h, None, None)
        level = x_in.float().pow(2).sum(dim=1).sqrt()[:, None]  # compressed magnitude [B, 1, F, N]
        logits = self.masks(h).reshape(B, -1, Fq, N).float()  # [B, K, F, N]
        if self.mask_tags is not None:
            logits = logits + self.mask_tags(tags.float())[:, :, None]  # [B, K, 1, N]: the same bias on every bin
        logits = logits + self.mask_refine(torch.cat([level, logits], dim=1))
        masks = torch.softmax(logits, dim=1)
        power = level.pow(2.0 / self.config.spectral.power)  # linear power [B, 1, F, N]
        if self.probe is not None and fallback:
            if embeddings is None:
                raise ValueError("this model has the probe fallback (probe=True): pass YAMNet's embeddings (model.yamnet(audio, N))")
            masks = self.fallback(masks, power, embeddings)
        share = torch.log((masks * power).sum(dim=2) + 1e-8) - torch.log(power.sum(dim=2) + 1e-8)  # [B, K, N]
        shares = torch.cat([share, share.mean(dim=2, keepdim=True).expand_as(share)], dim=1)  # [B, 2K, N]
        return Condition(h, masks, shares)

    def velocity(self, xt: torch.Tensor, t: torch.Tensor, cond: Condition) -> torch.Tensor:
        """``v(x_t, t | cond)``: ``[B, 2, F, N]``."""
        B, _, Fq, N = xt.shape
        h = self.inp(xt.reshape(B, 2 * Fq, N)) + cond.h  # [B, H, N]
        temb = self.time(sinusoidal(t * 1000.0, h.shape[1]))  # [B, H]
        for block in self.blocks:
            h = block(h, temb)
        h = self.attn(h.transpose(1, 2)).transpose(1, 2)
        v = self.out(h).reshape(B, 2, Fq, N)  # residual r
        if self.gain is not None:
            bound = self.config.max_log_gain
            log_gain = bound * torch.tanh(self.gain(h).float() / bound)  # free per-bin term [B, F, N]
            if cond.masks is not None:
                g = self.stem_gain(torch.cat([h, cond.shares.to(h.dtype)], dim=1)).float()  # [B, K, N]
                g = bound * torch.tanh(g / bound)[:, :, None]  # [B, K, 1, N]
                mixed = torch.logsumexp(torch.log(cond.masks.clamp_min(1e-8)) + g, dim=1)  # log Σ m_k e^{g_k}: [B, F, N]
                log_gain = log_gain + self.config.spectral.power * mixed
            gain = torch.exp(log_gain)[:, None]  # G: [B, 1, F, N]
            tt = t.float().reshape(B, 1, 1, 1)
            v = v + (gain - 1) / (1 - tt + tt * gain) * xt
        return v

    def spectral_noise(self, noise: torch.Tensor) -> torch.Tensor:
        """Waveform noise ``[B, 1, T]`` → unit-variance noise in the spectral domain ``[B, 2, F, N]``."""
        spec = self.spectral.stft(noise)
        spec = spec / torch.sqrt(0.5 * (self.spectral.window**2).sum())
        return torch.stack([spec.real, spec.imag], dim=1)

    # -- training ----------------------------------------------------------------------------------------
    def loss(self, audio: torch.Tensor, target: torch.Tensor, visual: torch.Tensor | None,
             stems: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        """Flow matching + rollout (+ the masks' fit when the input's ``stems [B, K, T]`` are known)."""
        c = self.config
        x_in, x1 = self.spectral.encode(audio), self.spectral.encode(target)
        x0 = x_in + c.sigma0 * torch.randn_like(x_in)
        tags, embeddings = self.yamnet(audio, x_in.shape[-1])
        drop = torch.rand(x_in.shape[0], device=x_in.device) < c.picture_drop if c.picture_drop else None
        cond = self.condition(x_in, visual, tags, embeddings, drop=drop)
        s = sample_path(x0, x1)
        fm = cfm_loss(self.velocity(s.xt, s.t, cond), s)
        total, parts = fm, {"fm": fm.item()}
        if c.rollout_steps:  # from where sampling starts
            start = x_in + c.noise * c.sigma0 * torch.randn_like(x_in) if c.noise else x_in
            ro = rollout_loss(lambda x, t: self.velocity(x, t, cond), start, x1, c.rollout_steps, distance=self.distance)
            total = total + c.rollout_weight * ro
            parts["rollout"] = ro.item()
        if cond.masks is not None and stems is not None and c.stem_weight:
            sep = self.mask_loss(cond.masks, stems, x_in)
            total = total + c.stem_weight * sep
            parts["stems"] = sep.item()
        if self.probe is not None and stems is not None and c.probe_weight:
            fit = self.probe_loss(embeddings, stems)
            total = total + c.probe_weight * fit
            parts["probe"] = fit.item()
        return total, parts

    def mask_loss(self, masks: torch.Tensor, stems: torch.Tensor, x_in: torch.Tensor) -> torch.Tensor:
        """The masks' fit to the stems' ratio masks (``nets.common.ratio_mask_loss``)."""
        return ratio_mask_loss(self.spectral, masks, stems, x_in)

    def distance(self, x: torch.Tensor, x1: torch.Tensor) -> torch.Tensor:
        """Rollout distance (``nets.common.spectral_distance``)."""
        c = self.config
        return spectral_distance(x, x1, c.spectral.power, c.mag_weight, c.flutter_weight)

    # -- inference (the engine's ChunkModel interface) ------------------------------------------------------
    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                steps: int | None = None, method: str | None = None) -> torch.Tensor:
        """Highlight ``audio [B, 1, T]`` given frames ``[B, F, H, W, 3]``; ``noise [B, 1, T]`` seeds the flow."""
        c = self.config
        x_in = self.spectral.encode(audio)
        x0 = x_in
        if c.noise:  # a sample of the source distribution around the input
            z = self.spectral_noise(noise) if noise is not None else torch.randn_like(x_in)
            x0 = x_in + c.noise * c.sigma0 * z
        cond = self.condition(x_in, visual, *self.yamnet(audio, x_in.shape[-1]))
        x1 = integrate(lambda x, t: self.velocity(x, t, cond), x0, steps or c.steps, method or c.method)
        return self.spectral.decode(x1, audio.shape[-1])
