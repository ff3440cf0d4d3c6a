"""Separators that split a soundtrack window into dialogue and music for the Muddy Mix recipe.

Effects are never asked of a separator: the builder folds everything that is not dialogue or music into
effects (``effects = mix - dialogue - music``), so the three stems always sum to the original.

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

from avremix.errors import AvremixError, UsageError


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


def load_htdemucs(path: str | os.PathLike) -> torch.nn.Module:
    """Load an HTDemucs checkpoint ({"klass", "args", "kwargs", "state"}) weights-only."""
    from demucs.hdemucs import HDemucs
    from demucs.htdemucs import HTDemucs
    from demucs.states import set_state

    path = Path(path)
    if not path.is_file():
        raise UsageError("separator checkpoint not found", path)
    try:
        with torch.serialization.safe_globals([HTDemucs, HDemucs]):
            package = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle.UnpicklingError lists the global it refused
        raise AvremixError(f"cannot load as an HTDemucs checkpoint (weights-only): {str(e).splitlines()[0]}", path) from None
    if not isinstance(package, dict) or "klass" not in package or "state" not in package:
        raise AvremixError("is not a demucs checkpoint (expected a dict with 'klass' and 'state')", path)
    klass = package["klass"]
    if klass not in (HTDemucs, HDemucs):
        raise AvremixError(f"holds a {getattr(klass, '__name__', klass)} model; an HTDemucs/HDemucs checkpoint is expected", path)
    model = klass(*package.get("args", ()), **package.get("kwargs", {}))
    set_state(model, package["state"])
    return model


def separator_path(spec: str) -> Path:
    """The checkpoint a separator spec names; a clear error for a spec or file that cannot work (checked
    once, before a build starts, rather than for every file)."""
    if spec.startswith("htdemucs:"):
        path = Path(spec.split(":", 1)[1])
    elif spec.endswith(".th"):
        path = Path(spec)
    elif Path(spec).is_dir() and (Path(spec) / "model.json").exists():
        raise UsageError("avremix separator checkpoints arrive with the AV-CASS issue; use htdemucs:PATH for now", spec)
    else:
        raise UsageError(f"unknown separator {spec!r}; use htdemucs:PATH (an HTDemucs .th checkpoint)")
    if not path.is_file():
        raise UsageError("separator checkpoint not found", path)
    return path


def load_separator(spec: str, device: str = "cpu") -> Separator:
    """``htdemucs:PATH`` or a ``.th`` path → :class:`HTDemucsSeparator`."""
    return HTDemucsSeparator(separator_path(spec), device)
