"""The audio-only baseline separator: the ``demucs`` package's HTDemucs (hybrid time / frequency U-Nets with a
cross-domain transformer), sized to train on a CPU, with three sources (dialogue, music, effects).

``HTDemucsSeparator`` wraps it in the engine's ``ChunkModel`` interface (``[B, 1, T]`` → ``[B, K, T]``, no
picture) and trains it with the L1 waveform loss demucs uses. Any input length works
(``use_train_segment`` off). A user's own HTDemucs checkpoint (the demucs package's ``.th`` format) runs
through :meth:`HTDemucsSeparator.from_demucs_checkpoint` at its own rate and channels (``--model
htdemucs:PATH``); its ``vocals`` are dialogue, an ``sfx`` source effects, and the others music.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from avremix.errors import AvremixError, UsageError

STEMS = ("dialogue", "music", "effects")


@dataclass
class HTDemucsConfig:
    sample_rate: int = 16000
    channels: int = 24  # width of the first layer (demucs' default is 48)
    depth: int = 4
    nfft: int = 4096
    t_layers: int = 2  # cross-domain transformer layers
    segment: float = 4.0  # seconds; only used for the transformer's positional scale


class HTDemucsSeparator(nn.Module):
    name = "htdemucs"
    task = "separate"
    generative = False
    fps = None
    frame_size = (0, 0)
    stems = STEMS

    def __init__(self, config: HTDemucsConfig | None = None, net: nn.Module | None = None):
        super().__init__()
        from demucs.htdemucs import HTDemucs

        self.config = c = config or HTDemucsConfig()
        self.sample_rate = c.sample_rate
        self.net = net if net is not None else HTDemucs(
            sources=list(STEMS), audio_channels=1, samplerate=c.sample_rate, segment=c.segment, channels=c.channels,
            depth=c.depth, nfft=c.nfft, t_layers=c.t_layers, use_train_segment=False)
        self.channels = int(self.net.audio_channels)
        # the net's sources onto dialogue / music / effects: vocals and speech are dialogue, sfx is effects,
        # every other source (drums, bass, guitar, piano, other) is music
        kinds = {"vocals": "dialogue", "speech": "dialogue", "dialogue": "dialogue", "sfx": "effects", "effects": "effects"}
        mapping = torch.zeros(len(STEMS), len(self.net.sources))
        for j, source in enumerate(self.net.sources):
            mapping[STEMS.index(kinds.get(source, "music")), j] = 1.0
        self.register_buffer("mapping", mapping, persistent=False)

    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``audio [B, 1, T]`` → ``[B, K, T]``; the input is normalised as demucs does (mean / std)."""
        x = audio.float()
        if self.channels > 1:
            x = x.expand(-1, self.channels, -1)
        mean, std = x.mean(dim=(1, 2), keepdim=True), x.std(dim=(1, 2), keepdim=True) + 1e-8
        y = self.net((x - mean) / std) * std[:, None] + mean[:, None]  # [B, S, C, T]
        return torch.einsum("ks,bst->bkt", self.mapping.to(y.dtype), y.mean(dim=2))  # [B, K, T]

    @classmethod
    def from_demucs_checkpoint(cls, path: str) -> "HTDemucsSeparator":
        """A user's HTDemucs checkpoint (the demucs package's ``.th``, loaded weights-only) at its own rate
        and channels: mono input is spread over its channels and its output folded back."""
        net = load_htdemucs(path)
        net.use_train_segment = False
        config = HTDemucsConfig(sample_rate=int(net.samplerate), channels=0, depth=0, nfft=0, t_layers=0, segment=float(net.segment))
        return cls(config, net=net)

    def loss(self, audio: torch.Tensor, target: torch.Tensor, visual: torch.Tensor | None = None,
             stems: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, float]]:
        l1 = F.l1_loss(self(audio), target)
        return l1, {"l1": l1.item()}


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
