"""``avremix evaluate``: a highlighter on a Muddy Mix split, next to the input (and with the video shuffled);
a separator on an AV-CASS split, next to the mixture and ideal ratio masks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from avremix.engine import Engine, EngineConfig
from avremix.features.context import context_for
from avremix.metrics import sdr, si_sdr
from avremix.train import SeparationSet, TrainingSet, validate


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


def evaluate_separation(model: torch.nn.Module, data: str | Path, split: str = "test", device: str | torch.device = "cpu",
                        shuffle_video: bool = True, on_clip: Callable[[int, int], None] | None = None) -> dict:
    """SDR, SI-SDR and SI-SDRi per stem of a separator on whole clips of an AV-CASS split, run the way
    ``avremix separate`` runs it (the engine: chunks, mixture consistency), next to references: the
    mixture itself as every stem's estimate, ideal ratio masks (the ceiling of a magnitude mask), and,
    for a model that takes the picture, the model with every clip given another clip's frames."""
    ds = SeparationSet(data, split, None, False, 0)
    config = EngineConfig(device=str(device))
    takes_video = bool(getattr(model, "fps", None))
    rows: dict[str, dict[str, list[float]]] = {}
    n = len(ds)
    for i in range(n):
        item = ds[i]
        mixture, stems, frames = item["input"].numpy(), item["target"], item["frames"].numpy()  # [1, T], [K, T]
        estimates = {"mixture": torch.from_numpy(mixture).expand_as(stems), "ideal ratio masks": ideal_ratio_masks(stems)}
        engine = Engine(model, ds.base.rows[i]["sample_rate"], config)
        estimates["model"] = torch.from_numpy(engine.process(mixture, list(frames) if takes_video else None)[:, 0])
        if takes_video and shuffle_video and n > 1:
            other = ds[(i + 1) % n]["frames"].numpy()
            estimates["model, video shuffled"] = torch.from_numpy(engine.process(mixture, list(other))[:, 0])
        baseline = [float(si_sdr(torch.from_numpy(mixture), stems[k:k + 1])) for k in range(len(model.stems))]
        for row, est in estimates.items():
            for k, name in enumerate(model.stems):
                ref = stems[k:k + 1]
                value = float(si_sdr(est[k:k + 1], ref))
                rows.setdefault(row, {}).setdefault(f"SDR_{name}", []).append(float(sdr(est[k:k + 1], ref)))
                rows[row].setdefault(f"SI-SDR_{name}", []).append(value)
                rows[row].setdefault(f"SI-SDRi_{name}", []).append(value - baseline[k])
        if on_clip:
            on_clip(i + 1, n)
    summary = {row: {k: float(np.mean(v)) for k, v in metrics.items()} for row, metrics in rows.items()}
    for metrics in summary.values():
        metrics["SI-SDRi_mean"] = float(np.mean([metrics[f"SI-SDRi_{s}"] for s in model.stems]))
    return {"split": split, "examples": n, "stems": list(model.stems), "rows": summary}


def ideal_ratio_masks(stems: torch.Tensor, n_fft: int = 640, hop: int = 320) -> torch.Tensor:
    """The stems a magnitude-ratio mask ``|S_k| / Σ_j |S_j|`` on the mixture's STFT recovers: ``[K, T]``."""
    window = torch.hann_window(n_fft)
    spec = torch.stft(stems.float(), n_fft, hop, window=window, return_complex=True)  # [K, F, N]
    mix = spec.sum(0, keepdim=True)
    masks = spec.abs() / spec.abs().sum(0, keepdim=True).clamp_min(1e-8)
    return torch.istft(masks * mix, n_fft, hop, window=window, length=stems.shape[-1])
