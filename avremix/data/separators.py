"""Separators that split a soundtrack window into dialogue and music for the Muddy Mix recipe.

Effects are never asked of a separator: the builder folds everything that is not dialogue or music into
effects (``effects = mix - dialogue - music``), so the three stems always sum to the original.

- ``separate-cass``, ``separate-htdemucs`` or a model folder written by ``avremix train``: a separator of
  this project, run through the engine as ``avremix separate`` runs it (the window's picture goes to a
  model that takes one). Its dialogue and music are used; its effects are the remainder anyway.
- ``htdemucs:PATH`` (or a ``.th`` file): an HTDemucs checkpoint in the demucs package's format, loaded
  weights-only (only demucs' model classes may be unpickled). Its ``vocals`` are dialogue and its other
  stems (drums, bass, other, guitar, piano) are music. HTDemucs is a music separator; on film soundtracks
  effects end up partly in its music stems.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from avremix.errors import UsageError
from avremix.nets.htdemucs import load_htdemucs


class Separator(Protocol):
    sample_rate: int
    channels: int
    name: str

    def __call__(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        """``audio [C, T]`` at ``sample_rate`` → ``{"dialogue": [C, T], "music": [C, T]}``."""
        ...


class HTDemucsSeparator:
    """An HTDemucs checkpoint (demucs package format) as a dialogue/music separator."""

    def __init__(self, path: str | os.PathLike, device: str = "cpu"):
        self.model = load_htdemucs(path).to(device).eval()
        self.device = device
        self.sample_rate = int(self.model.samplerate)
        self.channels = int(self.model.audio_channels)
        self.name = f"htdemucs:{Path(path).name}"
        sources = list(self.model.sources)
        if "vocals" not in sources:
            raise UsageError(f"HTDemucs checkpoint has sources {sources}; it needs a 'vocals' source for dialogue", path)
        self.vocals = sources.index("vocals")

    @torch.inference_mode()
    def __call__(self, audio: np.ndarray) -> dict[str, np.ndarray]:
        from demucs.apply import apply_model

        x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32))  # [C, T]
        if x.shape[0] != self.channels:  # mono → duplicate; more channels → downmix
            x = x.mean(0, keepdim=True).expand(self.channels, -1)
        ref = x.mean(0)
        mean, std = ref.mean(), ref.std() + 1e-8  # demucs normalises its input the same way
        out = apply_model(self.model, ((x - mean) / std)[None], split=True, overlap=0.25, device=self.device, progress=False)
        out = (out[0] * std + mean).numpy()  # [S, C, T]
        dialogue = out[self.vocals]
        music = out.sum(0) - dialogue
        return {"dialogue": dialogue, "music": music}


class ModelSeparator:
    """A separator avremix ships or trained (``checkpoint.load``), through the shared engine."""

    def __init__(self, spec: str, device: str = "cpu"):
        from avremix import checkpoint

        self.model = checkpoint.load(spec, device)
        if getattr(self.model, "task", None) != "separate" or not {"dialogue", "music"} <= set(getattr(self.model, "stems", ())):
            raise UsageError(f"{spec} is not a dialogue/music/effects separator (it is a {self.model.name} model)")
        self.device = device
        self.sample_rate = int(self.model.sample_rate)
        self.channels = 1  # every channel is separated on its own
        self.fps = getattr(self.model, "fps", None)
        self.frame_size = tuple(getattr(self.model, "frame_size", (64, 64)))
        self.name = spec

    def __call__(self, audio: np.ndarray, frames: np.ndarray | None = None, fps: float | None = None) -> dict[str, np.ndarray]:
        """``audio [C, T]``; ``frames [F, H, W, 3]`` uint8 at ``fps`` (the picture of the same window; None
        for audio alone: the model's null picture, or black frames for a model that needs a picture)."""
        from avremix.engine import Engine, EngineConfig

        engine = Engine(self.model, self.sample_rate, EngineConfig(device=self.device, segment=10.0, context=1.0))
        visual = None
        if self.fps and (frames is not None or not getattr(self.model, "picture_optional", False)):
            visual = conform_frames(frames, fps or self.fps, self.fps, self.frame_size, audio.shape[-1] / self.sample_rate)
        out = engine.process(np.ascontiguousarray(audio, dtype=np.float32), visual)  # [K, C, T]
        stems = list(self.model.stems)
        return {"dialogue": out[stems.index("dialogue")], "music": out[stems.index("music")]}


def conform_frames(frames: np.ndarray | None, fps_in: float, fps_out: float, size: tuple[int, int], seconds: float) -> np.ndarray:
    """Frames ``[F, H, W, 3]`` at ``fps_in`` → ``seconds`` worth at ``fps_out`` and ``size`` (W, H): nearest
    frame in time, resized with OpenCV where the size differs; black without a picture."""
    n = max(1, int(np.ceil(seconds * fps_out)))
    if frames is None or len(frames) == 0:
        return np.zeros((n, size[1], size[0], 3), np.uint8)
    idx = np.clip(np.round(np.arange(n) * fps_in / fps_out).astype(int), 0, len(frames) - 1)
    picked = np.asarray(frames)[idx]
    if picked.shape[1:3] != (size[1], size[0]):
        import cv2

        picked = np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in picked])
    return picked


def separator_path(spec: str) -> Path | None:
    """The checkpoint a separator spec names (None for one of this project's models, checked by loading its
    sidecar); a clear error for a spec or file that cannot work (checked once, before a build starts,
    rather than for every file)."""
    if spec.startswith("htdemucs:"):
        path = Path(spec.split(":", 1)[1])
    elif spec.endswith(".th"):
        path = Path(spec)
    else:
        from avremix import checkpoint

        folder = checkpoint.resolve(spec)  # a clear error listing the shipped models otherwise
        task = _sidecar_task(folder)
        if task != "separate":
            raise UsageError(f"is a {task or 'unknown'} model, not a separator; use separate-cass, separate-htdemucs or htdemucs:PATH", folder)
        return None
    if not path.is_file():
        raise UsageError("separator checkpoint not found", path)
    return path


def _sidecar_task(folder: Path) -> str | None:
    import json

    from avremix.checkpoint import MODELS

    name = json.loads((folder / "model.json").read_text()).get("model")
    entry = MODELS.get(name)
    return getattr(entry[0], "task", "highlight") if entry is not None else None


def load_separator(spec: str, device: str = "cpu") -> Separator:
    """``htdemucs:PATH`` or a ``.th`` path → :class:`HTDemucsSeparator`; this project's separators (a name
    or folder) → :class:`ModelSeparator`."""
    path = separator_path(spec)
    return HTDemucsSeparator(path, device) if path is not None else ModelSeparator(spec, device)
