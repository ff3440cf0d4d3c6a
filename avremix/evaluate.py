"""``avremix evaluate``: a highlighter on a Muddy Mix split, next to the input (and with the video shuffled)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from avremix.features.context import context_for
from avremix.train import TrainingSet, validate


def evaluate(model: torch.nn.Module, data: str | Path, split: str = "test", batch_size: int = 4, crop: float | None = None,
             shuffle_video: bool = False, seed: int = 0, device: str | torch.device = "cpu",
             on_batch: Callable[[int, int], None] | None = None, clip_weights: str | Path | None = None) -> dict:
    """Mean MAG / ENV / W-dis of the model's output and of the input against the target.

    ``shuffle_video`` gives every clip another clip's frames (a model that uses the picture gets worse).
    ``clip_weights``: the open_clip weights of a model that takes clip/captions features.
    """
    ds = TrainingSet(data, split, crop, False, seed, context_for(model.config, clip_weights))
    model = model.to(device).eval()
    results: dict[str, list[float]] = {}
    n_batches = (len(ds) + batch_size - 1) // batch_size
    for b in range(n_batches):
        items = [ds[i] for i in range(b * batch_size, min(len(ds), (b + 1) * batch_size))]
        batch = {k: torch.stack([it[k] for it in items]) for k in ("input", "target", "frames")}
        metrics = validate(model, [batch], torch.device(device), shuffle_video=shuffle_video, seed=seed + b)
        for k, v in metrics.items():
            results.setdefault(k, []).append((v, len(items)))
        if on_batch:
            on_batch(b + 1, n_batches)
    summary = {k: sum(v * n for v, n in vals) / sum(n for _, n in vals) for k, vals in results.items()}
    summary["examples"] = len(ds)
    summary["split"] = split
    summary["shuffle_video"] = shuffle_video
    return summary
