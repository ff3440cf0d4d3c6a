"""The visual context a highlighter takes, computed from a video the same way in training and inference.

A model's config names its ``visual`` streams:

- ``("frames",)``: the RGB frames themselves; the model's own CNN (``nets.common.FrameEncoder``), trained
  with it, turns them into features. Needs nothing else; the shipped models use it.
- any combination of ``"builtin"`` (32 weights-free features: motion grid, cuts, face and mouth motion,
  colour; :class:`~avremix.features.builtin.BuiltinVisualEncoder`), ``"clip"`` (open_clip image
  embeddings from the user's weights) and ``"captions"`` (open_clip text embeddings of the caption shown
  at each frame, from a JSON or SRT file). Their per-frame vectors are concatenated in that order and the
  model's ``nets.common.FeatureEncoder`` takes them.

:class:`ContextFeatures` computes the feature streams for consecutive blocks of one video's frames
(``start()`` between videos), so a video of any length streams through it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence

import numpy as np
import torch

from avremix.errors import UsageError
from avremix.nets.common import VisualInputConfig

STREAMS = ("frames", "builtin", "clip", "captions")
CLIP_STREAMS = ("clip", "captions")


def check_streams(streams: Sequence[str]) -> tuple[str, ...]:
    """The streams in canonical order; UsageError for unknown names, none, or frames mixed with features."""
    streams = tuple(streams)
    unknown = [s for s in streams if s not in STREAMS]
    if unknown or not streams:
        raise UsageError(f"visual streams must be 'frames' or some of builtin, clip, captions; got {','.join(streams) or 'none'}")
    if "frames" in streams and len(streams) > 1:
        raise UsageError("visual stream 'frames' (the model's own CNN) cannot be combined with feature streams")
    return tuple(s for s in STREAMS if s in streams)


class ContextFeatures:
    """Per-frame features of the streams ``streams`` at ``fps``: ``encode(frames, first)`` → ``[F, dim]``.

    Args:
        streams: feature streams (not "frames"), see the module docstring.
        fps: rate of the frames given to :meth:`encode`.
        clip_model: open_clip model name, or a model-config JSON file (for "clip" / "captions").
        clip_weights: local file of that model's weights.
        device: where the CLIP towers run.
    """

    def __init__(self, streams: Sequence[str], fps: float, clip_model: str = "", clip_weights: str | os.PathLike | None = None,
                 device: str | torch.device = "cpu"):
        self.streams = check_streams(streams)
        if self.streams == ("frames",):
            raise UsageError("ContextFeatures computes feature streams; 'frames' go to the model as they are")
        self.fps = float(fps)
        self.image = self.builtin = self.text = None
        if "builtin" in self.streams:
            from avremix.features.builtin import BuiltinVisualEncoder

            self.builtin = BuiltinVisualEncoder(fps=self.fps)
        if any(s in self.streams for s in CLIP_STREAMS):
            if not clip_weights or not clip_model:
                raise UsageError(f"this model takes {'/'.join(s for s in self.streams if s in CLIP_STREAMS)} features: "
                                 "pass --clip-weights PATH (and --clip-model NAME) of the open_clip model it was trained with")
            from avremix.features.clip import CaptionEncoder, ClipVisualEncoder

            if "clip" in self.streams:
                self.image = ClipVisualEncoder(clip_model, clip_weights, fps=self.fps, device=device)
            if "captions" in self.streams:
                self.text = CaptionEncoder(clip_model, clip_weights, fps=self.fps, device=device)
        self.dims = {"builtin": 32 if self.builtin else 0, "clip": self.image.dim if self.image else 0,
                     "captions": self.text.dim if self.text else 0}
        self.dim = sum(self.dims.values())

    def start(self, captions: str | os.PathLike | None = None) -> None:
        """Begin a new video, with its captions file (JSON or SRT; none: no caption is shown)."""
        for enc in (self.builtin, self.image, self.text):
            if enc is not None:
                enc.reset()
        if self.text is not None and captions is not None:
            self.text.load(captions)

    def encode(self, frames: np.ndarray, first: int) -> np.ndarray:
        """uint8 ``[F, H, W, 3]`` frames ``first, first + 1, ...`` of the video → float32 ``[F, dim]``."""
        parts = []
        if self.builtin is not None:
            parts.append(self.builtin.encode(frames))
        if self.image is not None:
            parts.append(self.image.encode(frames))
        if self.text is not None:
            parts.append(self._captions(first, len(frames)))
        return np.concatenate(parts, axis=1).astype(np.float32, copy=False)  # [F, dim]

    def _captions(self, first: int, n: int) -> np.ndarray:
        from avremix.features.clip import Caption

        t0 = first / self.fps  # shift the captions so that row 0 is frame `first`
        shifted = [Caption(c.start - t0, c.end - t0, c.text, c.line) for c in self.text.captions if c.end > t0]
        return self.text.features(n / self.fps, shifted)[:n]

    def stream(self, frames: Iterable[np.ndarray], block: int = 32) -> Iterator[torch.Tensor]:
        """Per-frame feature vectors ``[dim]`` of a stream of frames ``[H, W, 3]`` (one video, from frame 0)."""
        buf: list[np.ndarray] = []
        first = 0
        for frame in frames:
            buf.append(np.asarray(frame))
            if len(buf) == block:
                yield from torch.from_numpy(self.encode(np.stack(buf), first))
                first, buf = first + len(buf), []
        if buf:
            yield from torch.from_numpy(self.encode(np.stack(buf), first))


def context_for(config: VisualInputConfig, clip_weights: str | os.PathLike | None = None, device: str | torch.device = "cpu") -> ContextFeatures | None:
    """The feature streams a model config takes; None for frames.

    A config without ``visual_in`` yet (a model about to be trained) gets the streams' size; an audio-only
    model's config (no ``visual``) has none.
    """
    if not hasattr(config, "visual"):
        return None
    streams = check_streams(config.visual)
    if streams == ("frames",):
        return None
    context = ContextFeatures(streams, config.fps, config.clip_model, clip_weights, device)
    clip = context.image or context.text
    if clip is not None:
        config.clip_model = clip.clip.name  # a model-config JSON is recorded by its name, not its path
    if not config.visual_in:
        config.visual_in = context.dim
    elif config.visual_in != context.dim:
        raise UsageError(f"the model takes {config.visual_in} feature values a frame, but its streams {','.join(streams)} "
                         f"give {context.dim} with this CLIP model: pass the --clip-model it was trained with")
    return context
