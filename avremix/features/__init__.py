"""Per-frame visual features aligned to audio time.

A :class:`VisualEncoder` turns RGB video frames into one feature vector per frame, at the rate of the
frames it is given (``fps``), so frame ``k`` of the features describes time ``k / fps`` of the soundtrack.

Encoders are *streaming*: ``encode`` may be called repeatedly on consecutive chunks of one video and gives
the same features as one call on the whole video (the encoder keeps whatever it needs from the previous
chunk, e.g. the previous frame). Call ``reset()`` before the next video.

Implementations:

- :class:`avremix.features.builtin.BuiltinVisualEncoder`: weights-free hand-made features (motion grid,
  shot changes, face and mouth motion, colour statistics); always available, runs offline on CPU.
- :class:`avremix.features.clip.ClipVisualEncoder`: open_clip image embeddings from a local weights file
  (needs the optional ``open_clip_torch`` dependency); :class:`avremix.features.clip.CaptionEncoder` gives
  the text-tower embeddings of per-second captions on the same time grid.

Submodules are imported lazily so that ``import avremix.features`` needs neither OpenCV nor open_clip.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

__all__ = ["BuiltinVisualEncoder", "CaptionEncoder", "ClipVisualEncoder", "VisualEncoder", "check_fps", "check_frames"]

if TYPE_CHECKING:  # pragma: no cover
    from avremix.features.builtin import BuiltinVisualEncoder
    from avremix.features.clip import CaptionEncoder, ClipVisualEncoder


@runtime_checkable
class VisualEncoder(Protocol):
    """Per-frame visual features, streaming over consecutive chunks of one video."""

    fps: float  # rate of the features (= rate of the frames it is given)
    dim: int  # feature size

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``[F, H, W, 3]`` RGB frames -> float32 ``[F, dim]`` features (``F`` may be 0)."""
        ...

    def reset(self) -> None:
        """Forget all state carried over from previous chunks (call between videos)."""
        ...


def check_fps(fps: float) -> float:
    """``fps`` as a float; ValueError unless it is a finite number > 0."""
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be > 0, got {fps!r}")
    return float(fps)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """``frames`` as a C-contiguous uint8 ``[F, H, W, 3]`` array; ValueError if it cannot be one."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3] RGB, got shape {frames.shape}")
    if frames.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {frames.dtype}")
    if frames.shape[0] and (frames.shape[1] < 1 or frames.shape[2] < 1):
        raise ValueError(f"frames must be at least 1x1 pixels, got shape {frames.shape}")
    return np.ascontiguousarray(frames)


def __getattr__(name: str):
    if name == "BuiltinVisualEncoder":
        from avremix.features.builtin import BuiltinVisualEncoder

        return BuiltinVisualEncoder
    if name in ("ClipVisualEncoder", "CaptionEncoder"):
        from avremix.features import clip

        return getattr(clip, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
