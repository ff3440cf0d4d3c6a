"""The on-screen separator, in the spirit of AlignSep: what the picture shows making sound (``on``) and the
rest (``off``), a conditional flow from the mixture guided by time-aligned visual features.

- Representation and flow: those of the dialogue / music / effects separator (``nets.cass``), with two
  stems. The flow of each stem starts at its masked mixture (two soft masks that sum to one) and moves
  along the gain-parameterised velocity; loss: flow matching + rollout + the start's distance + the
  masks' fit to the ratio masks.
- The query, ``query="aligned"`` (AlignSep): per-frame features of the picture (a frame CNN trained with
  the model, or built-in feature streams) are repeated onto the STFT frames and **concatenated in time**
  with the mixture's spectrum, frame by frame, before the convolutions and the self-attention over time
  (no cross-attention: frame ``n`` of the picture sits next to frame ``n`` of the audio).
- Classifier-free guidance: in training, with probability ``null_prob`` an item's features are replaced
  by a learned null embedding (the same for every frame). Sampling combines the two conditions, for the
  mask logits ``l`` (the flow's start) and the velocity alike::

      l = l(∅) + s · (l(e) − l(∅)),     v = v(x, t, ∅) + s · (v(x, t, e) − v(x, t, ∅))

  with ``s = guidance`` (1: no guidance; chosen on validation and stored in ``model.json``).
- Baselines built from the same module: ``query="pooled"`` averages the picture's features over the chunk
  into one vector (semantics without timing, as CLIPSep's or OmniSep's image query), and
  ``query="none"`` never sees the picture (the null embedding always: an audio-only model of the same
  size, which takes no video).
- ``forward`` returns ``[B, 2, T]`` (on, off); the engine makes them sum to the mixture exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from avremix.flow import integrate
from avremix.nets.cass import CASSConfig, CASSSeparator
from avremix.nets.common import frames_to_steps

QUERIES = ("aligned", "pooled", "none")


@dataclass
class OnScreenConfig(CASSConfig):
    hidden: int = 64
    blocks: int = 3
    cond_blocks: int = 3
    start_weight: float = 1.0
    sdr_weight: float = 0.05
    query: str = "aligned"  # aligned (per-frame, concatenated in time) | pooled (one vector per chunk) | none (audio only)
    null_prob: float = 0.15  # probability of the null visual embedding for an item in training
    guidance: float = 1.0  # classifier-free guidance scale at sampling

    def __post_init__(self) -> None:
        if self.query not in QUERIES:
            raise ValueError(f"query must be one of {', '.join(QUERIES)}, got {self.query!r}")


class OnScreenSeparator(CASSSeparator):
    name = "onscreen"
    stems = ("on", "off")
    data = "hardpairs"
    picture_optional = False  # the picture says which sound to extract (its own null embedding is for guidance)

    @staticmethod
    def streams(config: OnScreenConfig) -> tuple[str, ...]:
        return () if config.query == "none" else ("query",)

    def __init__(self, config: OnScreenConfig | None = None):
        super().__init__(config or OnScreenConfig())
        self.null = nn.Parameter(torch.zeros(self.config.visual_dim))  # the null visual embedding
        if self.config.query == "none":
            self.fps = None  # the engine decodes no picture for it

    def visual_features(self, visual: torch.Tensor | None, n_steps: int, batch: int) -> torch.Tensor:
        """The query on the STFT frames, ``[B, D, N]``, from frames ``[B', F, H, W, 3]`` (or feature
        streams ``[B', F, Din]``); the null embedding without a picture, for the audio-only model, and in
        training for a random ``null_prob`` of the items."""
        null = self.null.float()[None, :, None].expand(batch, -1, n_steps)  # [B, D, N]
        if visual is None or self.config.query == "none":
            return null
        e = self.query(visual).float()  # [B', F, D]
        if self.config.query == "pooled":
            e = e.mean(dim=1, keepdim=True)  # [B', 1, D]: what is on screen, not when
        if self.training and self.config.null_prob:
            keep = torch.rand(e.shape[0], 1, 1, device=e.device) >= self.config.null_prob  # [B', 1, 1]
            e = torch.where(keep, e, self.null.float()[None, None])
        return frames_to_steps(e, n_steps, batch)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None,
                steps: int | None = None, guidance: float | None = None) -> torch.Tensor:
        """Separate ``audio [B, 1, T]`` into ``[B, 2, T]`` (on screen, off screen)."""
        B, _, T = audio.shape
        c = self.config
        s = c.guidance if guidance is None else guidance
        x_in = self.spectral.encode(audio)
        N = x_in.shape[-1]
        h, logits = self.fuse(x_in, self.visual_features(visual, N, B))
        field = lambda z, t: self.velocity(z, t, h)  # noqa: E731
        if s != 1.0 and visual is not None and c.query != "none":
            h0, logits0 = self.fuse(x_in, self.visual_features(None, N, B))
            logits = logits0 + s * (logits - logits0)

            def field(z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
                v0 = self.velocity(z, t, h0)
                return v0 + s * (self.velocity(z, t, h) - v0)

        x = self.start(x_in, torch.softmax(logits, dim=1))
        n = c.steps if steps is None else steps
        if n:
            x = integrate(field, x, n, "euler")
        return self.spectral.decode(x, T).reshape(B, len(self.stems), T)
