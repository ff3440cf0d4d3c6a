"""Training of the highlighters and separators (``avremix train``): one loop for every model, readable top to
bottom.

Data of a separator (``--model cass|htdemucs``): an AV-CASS mixture dataset (``build-dataset avdnr``).
Every crop is remixed from its stems with fresh gains (±3 dB per stem, ±6 dB overall), so the model
never hears the same mixture twice; its frames are the face and scene streams ``[F, 2, H, W, 3]``
(stereo datasets are folded to mono). Validation: SI-SDR of each stem, of the model and of the mixture.
The on-screen separator (``--model onscreen``) trains on hard pairs (``build-dataset hardpairs``,
:class:`OnScreenSet`): a fresh on/off ratio and level for every crop, optionally another pair's target as
the off-screen sound, the picture of its own target.

Data of a highlighter: a Muddy Mix dataset (``build-dataset muddy``). With ``augment`` on, every training crop gets fresh
Muddy Mix gains drawn from its stems (``modes``: discrete, continuous or time-varying, as the builder
does) and a random overall level (±``level_db``, 6 dB by default, on input and target alike), so the model
never sees the same input twice and does not learn one loudness (``level_db=0`` keeps the data's own
level: the model then also learns the targets' loudness, as a film mix is delivered at one). With
probability ``silence`` a crop also gets a stretch of digital silence (0.25 to 1.5 s, at its start, its
end or inside, with 10 ms fades) in input, target and stems alike: films have silent gaps, fades and hard starts, and the audio next to them must be remixed
as usual, not as if the whole scene had gone quiet.

Loop: AdamW with linear warm-up; gradient clipping; bf16 autocast on CUDA; an EMA of the weights (the
EMA is what gets exported and validated); every ``checkpoint_every`` steps the full training state
(``RUN/train_state.pt``: tensors and numbers only, loaded weights-only) and the exported model
(``RUN/model/``); validation metrics (MAG / ENV / W-dis, ``avremix.metrics``) of the EMA model and of the
input on the validation split every ``val_every`` steps; one CSV row per log step in ``RUN/log.csv``.
Under ``torchrun`` (``WORLD_SIZE`` > 1) it runs data-parallel (DDP; gloo on CPU, NCCL on CUDA): each rank
reads its share of the data, gradients are averaged, rank 0 writes.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from avremix import checkpoint
from avremix.data.datasets import AVDnRDataset, HardPairsDataset, MuddyDataset
from avremix.data.muddy import MODES, adjust
from avremix.data.store import seed_of
from avremix.engine import resolve_device
from avremix.errors import UsageError
from avremix.features.context import ContextFeatures, context_for
from avremix.metrics import score, si_sdr


@dataclass
class TrainConfig:
    model: str = "cfm"  # highlighters: cfm | visah; separators: cass | htdemucs; on-screen separator: onscreen
    steps: int = 3000  # optimiser steps
    batch_size: int = 8  # per rank
    crop: float = 4.0  # seconds per training example
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup: int = 100  # steps of linear learning-rate warm-up
    schedule: str = "constant"  # learning rate after warm-up: constant, or cosine (decays to lr_min at the last step)
    lr_min: float = 0.0
    grad_clip: float = 1.0
    ema: float = 0.999  # decay of the weight average
    augment: bool = True  # fresh Muddy Mix gains and level for every crop
    modes: tuple[str, ...] = MODES  # Muddy Mix modes the augmentation draws from
    silence: float = 0.0  # probability of a stretch of silence in an augmented crop
    level_db: float = 6.0  # highlighters: ± dB of an augmented crop's random overall level (0: the data's own level)
    colour: float = 0.0  # highlighters: probability that each stem of a crop is re-equalised (random low and high shelves, `stem_colour`) before the Muddy Mix, target included
    colour_db: float = 9.0  # highlighters: ± dB of those shelves
    picture_augment: float = 0.0  # highlighters taking frames and the on-screen separator: probability that a crop's picture is restyled (colour, crop, blur, noise; `picture_restyle`)
    dynamic_mix: float = 0.0  # separators: probability that a crop's music and effects (with its scene frames) come from other clips; on-screen: that its off-screen sound is another clip's target
    wrong_picture: float = 0.0  # separators: probability that a crop's face and scene frames come from another clip (targets unchanged)
    checkpoint_every: int = 500
    val_every: int = 500
    val_examples: int = 32  # validation crops (same every time)
    log_every: int = 25
    workers: int = 0  # DataLoader worker processes
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on CUDA
    init: str = ""  # start from these weights (a model name or folder of the same type): fine-tuning
    teacher: str = ""  # a model name or folder of the same task: train to its outputs instead of the targets (distillation of a faster student)
    init_skip: str = ""  # layers (comma-separated name prefixes, e.g. mask_refine) not taken from init: a student whose refinement is resized keeps the rest
    new_lr: float = 0.0  # with init: peak learning rate of the layers init does not hold (a new stream starts at zero and must grow); 0: lr
    freeze_init: bool = False  # with init and new_lr: only the layers init does not hold train; init's stay as loaded (a new stream learns to steer a model without refitting it to the training data)
    train_layers: str = ""  # with freeze_init: layers init holds (comma-separated name prefixes, e.g. masks,mask_refine) that still train, at lr


# -- configuration ------------------------------------------------------------------------------------------
def parse_value(text: str, kind):
    origin = typing.get_origin(kind)
    if kind is bool:
        if text.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(text)
        return text.lower() in ("true", "1", "yes")
    if origin is tuple:
        if typing.get_args(kind)[:1] == (str,):
            return tuple(v.strip() for v in text.split(","))
        return tuple(int(v) if v.strip().lstrip("-").isdigit() else float(v) for v in text.split(","))
    return kind(text)


def apply_overrides(train: TrainConfig, model_config, sets: list[str]) -> None:
    """``key=value`` for the training config, ``model.key=value`` (``model.spectral.key``) for the model's."""
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set expects key=value, got {item!r}")
        key, text = item.split("=", 1)
        target, path = (model_config, key.split(".")[1:]) if key.startswith("model.") else (train, key.split("."))
        for part in path[:-1]:
            target = getattr(target, part, None)
            if not dataclasses.is_dataclass(target):
                raise UsageError(f"--set {key}: unknown setting")
        hints = typing.get_type_hints(type(target))
        name = path[-1]
        if name not in hints or name not in {f.name for f in dataclasses.fields(target)}:
            valid = ", ".join(f.name for f in dataclasses.fields(target))
            raise UsageError(f"--set {key}: unknown setting; valid here: {valid}")
        try:
            setattr(target, name, parse_value(text, hints[name]))
        except ValueError:
            raise UsageError(f"--set {key}={text}: not a valid {hints[name]}") from None


def model_config_for(name: str):
    """The default config of model ``name``."""
    if name not in checkpoint.MODELS:
        raise UsageError(f"--model must be one of {', '.join(checkpoint.MODELS)}, got {name!r}")
    return checkpoint.MODELS[name][1]()


# -- data ------------------------------------------------------------------------------------------------------
class _Crops(Dataset):
    """Crops of a manifest dataset (``self.base``), re-drawn every epoch.

    With a ``context`` (models whose visual input is feature streams), :meth:`_visual` gives the crop's
    features ``[F, D]`` instead of its pixels: computed once per clip over all its frames (and its
    ``captions`` file when the manifest names one), then kept."""

    base: Dataset
    context: ContextFeatures | None = None
    features: dict

    def _open(self, base, **probabilities: float) -> None:
        """Read ``base`` (clear errors for an empty split) and check the ``--set`` probabilities given."""
        if not base.rows:
            raise UsageError(f"has no {base.split} examples", base.root)
        for name, p in probabilities.items():
            if not 0.0 <= p <= 1.0:
                raise UsageError(f"--set {name}= is a probability between 0 and 1, got {p}")
        self.base = base

    def _visual(self, index: int, item: dict[str, torch.Tensor]) -> torch.Tensor:
        if self.context is None:
            return item["frames"]
        row = self.base.rows[index]
        if row["id"] not in self.features:
            frames = np.load(self.base.root / row["frames"]["frames"], mmap_mode="r")
            captions = row.get("captions")
            self.context.start(self.base.root / captions if captions else None)
            self.features[row["id"]] = self.context.encode(np.ascontiguousarray(frames), 0)  # [all frames, D]
        feats = self.features[row["id"]]
        f0, n = int(item["frame_start"]), item["frames"].shape[0]
        return torch.from_numpy(feats[np.clip(np.arange(f0, f0 + n), 0, len(feats) - 1)])  # [F, D]

    def __len__(self) -> int:
        return len(self.base)

    def set_epoch(self, epoch: int) -> None:
        self.base.set_epoch(epoch)
        self.calls = epoch * 1_000_003


class TrainingSet(_Crops):
    """Muddy crops; with ``augment``, a new Muddy Mix of the crop's stems every time it is read. With a
    ``context``, ``frames`` holds the crop's features (:meth:`_Crops._visual`)."""

    def __init__(self, root: str | Path, split: str, crop: float | None, augment: bool, seed: int, context: ContextFeatures | None = None,
                 modes: tuple[str, ...] = MODES, silence: float = 0.0, level_db: float = 6.0, picture_augment: float = 0.0,
                 colour: float = 0.0, colour_db: float = 9.0):
        self.base = MuddyDataset(root, split, crop=crop, seed=seed)
        if not self.base.rows:
            raise UsageError(f"has no {split} examples", root)
        if not modes or any(m not in MODES for m in modes):
            raise UsageError(f"--set modes= takes one or more of {', '.join(MODES)}, got {','.join(modes)}")
        if not 0.0 <= silence <= 1.0:
            raise UsageError(f"--set silence= is a probability between 0 and 1, got {silence}")
        self.augment, self.seed, self.calls = augment, seed, 0
        if not 0.0 <= level_db <= 40.0:
            raise UsageError(f"--set level_db= is a range in dB between 0 and 40, got {level_db}")
        if not 0.0 <= picture_augment <= 1.0:
            raise UsageError(f"--set picture_augment= is a probability between 0 and 1, got {picture_augment}")
        if picture_augment and context is not None:
            raise UsageError("--set picture_augment= restyles frames; this model takes feature streams (computed once per clip), so it has no frames to restyle")
        if not 0.0 <= colour <= 1.0:
            raise UsageError(f"--set colour= is a probability between 0 and 1, got {colour}")
        if not 0.0 <= colour_db <= 24.0:
            raise UsageError(f"--set colour_db= is a range in dB between 0 and 24, got {colour_db}")
        self.modes, self.silence, self.level_db, self.picture_augment = tuple(modes), float(silence), float(level_db), float(picture_augment)
        self.colour, self.colour_db = float(colour), float(colour_db)
        self.context, self.features = context, {}

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.base[index]
        visual = self._visual(index, item)
        if not self.augment:
            return {"input": item["input"], "target": item["target"], "frames": visual, "stems": item["input_stems"]}
        self.calls += 1
        rng = np.random.default_rng(seed_of(self.seed, index, self.calls, os.getpid()))
        stems, target = item["stems"].numpy(), item["target"][0].numpy()
        sr = self.base.rows[index]["sample_rate"]
        if self.colour:
            stems, target = stem_colour(stems, target, sr, rng, self.colour, self.colour_db)
        if all(np.abs(s).max() < 1e-6 for s in stems):
            mixed, mixed_stems = target, stems
        else:
            peak = self.base.rows[index].get("params", {}).get("peak_normalize", True)  # the build's recipe (≤ 0.4: peak)
            adjusted = adjust(stems, target, sr, str(rng.choice(self.modes)), rng, peak)
            mixed, mixed_stems = adjusted["input"], adjusted["input_stems"]
        level = np.full(target.shape[-1], 10 ** (rng.uniform(-self.level_db, self.level_db) / 20), dtype=np.float32)  # [T]
        if rng.random() < self.silence:
            level *= silent_stretch(target.shape[-1], sr, rng)
        if self.picture_augment and rng.random() < self.picture_augment:
            visual = torch.from_numpy(picture_restyle(visual.numpy(), rng))
        return {"input": torch.from_numpy(mixed[None] * level).float(), "target": torch.from_numpy(target[None] * level).float(),
                "frames": visual, "stems": torch.from_numpy(mixed_stems * level).float()}


class SeparationSet(_Crops):
    """AV-CASS crops for separators: ``input`` mixture ``[1, T]``, ``target`` stems ``[K, T]``, ``frames``
    face and scene ``[F, 2, H, W, 3]``; with ``augment``, the stems are remixed with fresh gains.

    ``dynamic_mix`` (dynamic mixing, as in Wavesplit and Sepformer's recipes): the probability that a crop
    keeps only its dialogue and face stream and takes its music from one other clip of the split and its
    effects, with the scene stream that shows them, from another. The pictures stay caused by the sounds
    they go with (the face by the dialogue, the scene by the effects), and a split of N clips yields
    about N³ mixtures instead of N.

    ``wrong_picture``: the probability that a crop's face and scene streams are both those of another clip
    while its stems stay its own. A separator trained only on matching pictures trusts them blindly and
    falls below the mixture when the picture does not show its sounds (another clip's frames, or real
    footage unlike the rendered training pictures); with wrong pictures in training it learns to check the
    picture against the sound and fall back on the audio."""

    def __init__(self, root: str | Path, split: str, crop: float | None, augment: bool, seed: int, dynamic_mix: float = 0.0,
                 wrong_picture: float = 0.0):
        self._open(AVDnRDataset(root, split, crop=crop, seed=seed), dynamic_mix=dynamic_mix, wrong_picture=wrong_picture)
        self.augment, self.seed, self.calls = augment, seed, 0
        self.dynamic_mix, self.wrong_picture = float(dynamic_mix), float(wrong_picture)

    def _stems(self, item: dict[str, torch.Tensor]) -> torch.Tensor:
        stems = item["stems"]
        return stems.mean(dim=1) if stems.dim() == 3 else stems  # stereo dataset: [K, C, T] -> mono [K, T]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.base[index]
        stems, face, scene = self._stems(item), item["face"], item["scene"]
        if self.augment:
            self.calls += 1
            rng = np.random.default_rng(seed_of(self.seed, index, self.calls, os.getpid()))
            if rng.random() < self.dynamic_mix:
                music, effects = (self.base[int(j)] for j in rng.integers(len(self.base), size=2))
                stems = torch.stack([stems[0], self._stems(music)[1], self._stems(effects)[2]])  # [K, T]
                scene = effects["scene"]
            if rng.random() < self.wrong_picture:
                other = self.base[int(rng.integers(len(self.base)))]
                face, scene = other["face"], other["scene"]
            gains = 10 ** (rng.uniform(-3, 3, size=(stems.shape[0], 1)) / 20) * 10 ** (rng.uniform(-6, 6) / 20)
            stems = stems * torch.from_numpy(gains).float()
        frames = torch.stack([face, scene], dim=1)  # [F, 2, H, W, 3]
        return {"input": stems.sum(0, keepdim=True), "target": stems, "frames": frames, "stems": stems}


class OnScreenSet(_Crops):
    """Hard-pairs crops for the on-screen separator: ``input`` mixture ``[1, T]``, ``target`` (on screen,
    off screen) ``[2, T]``, ``frames`` the target's picture ``[F, H, W, 3]``; with ``augment``, a fresh
    target-to-interferer ratio (±5 dB) and overall level (±6 dB) for every crop.

    ``dynamic_mix``: the probability that the off-screen sound is another clip's on-screen target, of the
    same category when the split has one (speech against speech...): a hard pair with new timing, while
    the picture stays the one this clip's target caused. ``picture_augment``: the probability that the
    crop's picture is restyled (:func:`picture_restyle`). With a ``context``, ``frames`` holds the crop's
    feature streams (:meth:`_Crops._visual`)."""

    def __init__(self, root: str | Path, split: str, crop: float | None, augment: bool, seed: int, dynamic_mix: float = 0.0,
                 picture_augment: float = 0.0, context: ContextFeatures | None = None):
        self._open(HardPairsDataset(root, split, crop=crop, seed=seed), dynamic_mix=dynamic_mix, picture_augment=picture_augment)
        if picture_augment and context is not None:
            raise UsageError("--set picture_augment= restyles frames; this model takes feature streams (computed once per clip), so it has no frames to restyle")
        self.context, self.features = context, {}
        self.augment, self.seed, self.calls = augment, seed, 0
        self.dynamic_mix, self.picture_augment = float(dynamic_mix), float(picture_augment)
        category = [r.get("params", {}).get("target_category", "effects") for r in self.base.rows]
        self.by_category = {c: [i for i, k in enumerate(category) if k == c] for c in set(category)}
        self.category = category

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = self.base[index]
        on, off, frames = item["target"][0], item["interferer"][0], self._visual(index, item)
        if self.augment:
            self.calls += 1
            rng = np.random.default_rng(seed_of(self.seed, index, self.calls, os.getpid()))
            if rng.random() < self.dynamic_mix:
                pool = [j for j in self.by_category[self.category[index]] if j != index] or [j for j in range(len(self.base)) if j != index]
                if pool:
                    off = self.base[int(rng.choice(pool))]["target"][0]
            ratio = on.pow(2).mean().clamp_min(1e-10) / off.pow(2).mean().clamp_min(1e-10)
            off = off * float(ratio.sqrt()) * 10 ** (-rng.uniform(-5, 5) / 20)  # fresh on/off ratio
            level = 10 ** (rng.uniform(-6, 6) / 20)
            on, off = on * level, off * level
            if self.picture_augment and rng.random() < self.picture_augment:
                frames = torch.from_numpy(picture_restyle(frames.numpy(), rng))
        stems = torch.stack([on, off])  # [2, T]
        peak = float(stems.sum(0).abs().max())
        if peak > 0.99:
            stems = stems * (0.99 / peak)
        return {"input": stems.sum(0, keepdim=True), "target": stems, "frames": frames, "stems": stems}


def picture_restyle(frames: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """uint8 frames ``[F, H, W, 3]`` restyled as one shot, the same for every frame so that motion and
    timing stay what they were: a random crop of 60-100 % of the area resized back, a mirror, a colour
    transform (channel mix, gain, offset, gamma; sometimes grey), a blur and sensor noise. A frame CNN
    trained on rendered pictures then cannot key on the renderer's colours and edges, only on what moves
    when."""
    import cv2

    f, h, w, _ = frames.shape
    scale = np.sqrt(rng.uniform(0.6, 1.0))
    ch, cw = max(8, int(h * scale)), max(8, int(w * scale * rng.uniform(0.85, 1.15)))
    ch, cw = min(ch, h), min(cw, w)
    y0, x0 = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
    flip = rng.random() < 0.5
    mix = np.eye(3) * rng.uniform(0.6, 1.2, 3) + rng.uniform(-0.25, 0.25, (3, 3)) * (1 - np.eye(3))  # [3, 3]
    if rng.random() < 0.2:
        mix = np.full((3, 3), 1 / 3)  # grey
    gain, offset, gamma = rng.uniform(0.5, 1.4), rng.uniform(-40, 40, 3), rng.uniform(0.6, 1.6)
    sigma, noise = rng.choice([0.0, rng.uniform(0.4, 1.5)]), rng.uniform(0, 12)
    out = np.empty_like(frames)
    for i in range(f):
        x = cv2.resize(frames[i, y0:y0 + ch, x0:x0 + cw], (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        if flip:
            x = x[:, ::-1]
        x = (x @ mix.T.astype(np.float32)) * gain + offset.astype(np.float32)  # [H, W, 3]
        x = 255.0 * np.clip(x / 255.0, 0, 1) ** gamma
        if sigma:
            x = cv2.GaussianBlur(x, (0, 0), sigma)
        x += rng.normal(0, noise, x.shape).astype(np.float32)
        out[i] = np.clip(x, 0, 255).astype(np.uint8)
    return out


def stem_colour(stems: np.ndarray, target: np.ndarray, sample_rate: int, rng: np.random.Generator,
                p: float, db: float) -> tuple[np.ndarray, np.ndarray]:
    """Re-equalise each stem ``[K, T]`` with probability ``p``: a low shelf (corner 80-400 Hz) and a high
    shelf (corner 2-6 kHz) of ±``db`` each, then rebuild the target as the coloured stems plus whatever of
    it the stems did not hold. A model then cannot take the stem with the most bass (the loudest on a
    linear spectrogram) for the one to hold back: which stem leads has to come from the mix's balance and
    the picture, not from one package's spectrum. (Tried on ``highlight-cfm`` in avremix 0.11: it did not
    help on the real test split; its card has the numbers.)"""
    from scipy.signal import sosfilt

    from avremix.data.sources.room import biquad

    out = stems.astype(np.float64, copy=True)
    for k in range(len(stems)):
        if rng.random() >= p or not np.any(stems[k]):
            continue
        sos = np.stack([biquad(kind, float(np.exp(rng.uniform(np.log(lo), np.log(hi)))), sample_rate, float(rng.uniform(-db, db)))
                        for kind, lo, hi in (("lowshelf", 80.0, 400.0), ("highshelf", 2000.0, min(6000.0, 0.4 * sample_rate)))])  # [2, 6]
        out[k] = sosfilt(sos, out[k])
    rest = target.astype(np.float64) - stems.astype(np.float64).sum(0)  # [T]
    return out.astype(np.float32), (out.sum(0) + rest).astype(np.float32)


def silent_stretch(length: int, sample_rate: int, rng: np.random.Generator, fade: float = 0.01) -> np.ndarray:
    """A gain curve ``[T]`` of ones with 0.25 to 1.5 s of silence at the start, the end or inside,
    faded out and in over ``fade`` seconds."""
    n = min(length, int(rng.uniform(0.25, 1.5) * sample_rate))
    start = int(rng.choice([0, length - n, int(rng.integers(0, max(1, length - n)))]))
    curve = np.ones(length, dtype=np.float32)
    curve[start : start + n] = 0.0
    f = max(1, int(fade * sample_rate))
    ramp = np.linspace(1.0, 0.0, f + 2, dtype=np.float32)[1:-1]  # [f], falling
    a, b = max(0, start - f), min(length, start + n + f)
    curve[a:start] = ramp[f - (start - a) :]  # fade out into it
    curve[start + n : b] = ramp[::-1][: b - start - n]  # fade in after it
    return curve


# -- loop ------------------------------------------------------------------------------------------------------
class EMA:
    """Exponential moving average of the weights, with warm-up: the decay at update ``n`` is
    ``min(decay, (1 + n) / (10 + n))``, so a short run's average is not dominated by the initial weights."""

    def __init__(self, model: torch.nn.Module, decay: float):
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone().float() for k, v in model.state_dict().items()}

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        self.updates += 1
        decay = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            if v.is_floating_point():
                self.shadow[k].mul_(decay).add_(v.float(), alpha=1 - decay)
            else:
                self.shadow[k].copy_(v)


def _distributed() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    return (dist.get_rank(), world) if world > 1 else (0, 1)


def is_separator(model) -> bool:
    return getattr(model, "task", "highlight") == "separate"


@torch.no_grad()
def validate(model: torch.nn.Module, batches: list[dict], device: torch.device, shuffle_video: bool = False, seed: int = 0) -> dict[str, float]:
    """Mean metrics of the model's output and of the input against the target over fixed batches:
    MAG / ENV / W-dis for a highlighter; SI-SDR per stem (the mixture as the input's estimate of every
    stem) and the mean SI-SDRi for a separator."""
    model.eval()
    sums: dict[str, list[float]] = {}
    g = torch.Generator().manual_seed(seed)
    for batch in batches:
        audio, target, frames = batch["input"].to(device), batch["target"], batch["frames"].to(device)
        if shuffle_video:
            frames = frames.roll(1, dims=0)  # every clip gets another clip's picture
        kwargs = {"noise": torch.randn(audio.shape, generator=g).to(device)} if model.generative else {}
        out = model(audio, frames, **kwargs).float().cpu()
        if is_separator(model):
            mixture = batch["input"].expand_as(target)
            for k, name in enumerate(model.stems):
                for who, pred in (("model", out[:, k]), ("input", mixture[:, k])):
                    sums.setdefault(f"{who}_SI-SDR_{name}", []).extend(si_sdr(pred, target[:, k]).tolist())
            continue
        for who, pred in (("model", out), ("input", batch["input"])):
            for k, v in score(pred, target).items():
                sums.setdefault(f"{who}_{k}", []).extend(v.tolist())
    means = {k: float(np.mean(v)) for k, v in sums.items()}
    if is_separator(model):
        means["model_SI-SDRi"] = float(np.mean([means[f"model_SI-SDR_{n}"] - means[f"input_SI-SDR_{n}"] for n in model.stems]))
    return means


def train(data: str | Path, out: str | Path, config: TrainConfig, model_config=None,
          resume: bool = False, on_log: Callable[[dict], None] | None = None,
          clip_weights: str | Path | None = None) -> tuple[dict, torch.nn.Module]:
    """Train ``config.model`` (built from ``model_config``, default: its defaults) on the Muddy dataset
    ``data`` into the run folder ``out``; returns the last log row and the trained (non-EMA) model.
    ``clip_weights``: the open_clip weights file of a model whose visual streams include clip/captions."""
    if config.schedule not in ("constant", "cosine"):
        raise UsageError(f"--set schedule={config.schedule}: use constant or cosine")
    rank, world = _distributed()
    torch.manual_seed(config.seed)
    device = resolve_device(config.device) if world == 1 or not torch.cuda.is_available() else torch.device("cuda", rank % torch.cuda.device_count())
    out = Path(out)
    model_config = model_config or model_config_for(config.model)
    context = context_for(model_config, clip_weights)
    model = checkpoint.MODELS[config.model][0](model_config).to(device)
    skip = tuple(p for p in config.init_skip.split(",") if p)
    if config.init and not resume:
        _initialise(model, config.init, skip)
    ema = EMA(model, config.ema)
    opt = torch.optim.AdamW(param_groups(model, config, skip), lr=config.lr, weight_decay=config.weight_decay)
    step = 0
    state_path = out / "train_state.pt"
    if resume:
        if not state_path.exists():
            raise UsageError("--resume: no train_state.pt in the run folder", out)
        state = torch.load(state_path, map_location="cpu", weights_only=True)
        model.load_state_dict(state["model"])
        ema.shadow = {k: v.to(device) for k, v in state["ema"].items()}
        opt.load_state_dict(state["optimizer"])
        step = int(state["step"])
        ema.updates = step
    elif state_path.exists():
        raise UsageError("already holds a training run; pass --resume to continue it or choose another folder", out)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    notes = {"steps": 0, "train": dataclasses.asdict(config)}
    if getattr(model, "task", None) != "separate" and rank == 0:  # what `highlight --loudness auto` brings its output to
        from avremix.data.datasets import target_loudness

        notes["target_lufs"] = round(target_loudness(data), 2)

    train_set = training_set(model, data, "train", config, config.augment, config.seed + rank, context)
    sampler = DistributedSampler(train_set, world, rank, shuffle=True, seed=config.seed) if world > 1 else None
    loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=sampler is None, sampler=sampler,
                        num_workers=config.workers, drop_last=len(train_set) >= config.batch_size * world,
                        generator=torch.Generator().manual_seed(config.seed))
    val_batches = _validation_batches(model, data, config, context) if rank == 0 else []
    objective = _Objective(model)
    teacher = checkpoint.load(config.teacher, device).eval() if config.teacher else None
    if teacher is not None:  # it only runs forward: as fast as inference runs it (bf16 where native, channels-last)
        from avremix.engine import autocast_dtype

        sees = [",".join(getattr(m.config, "visual", ())) or "no picture" for m in (teacher, model)]
        if getattr(teacher, "task", None) != getattr(model, "task", None) or sees[0] != sees[1]:
            raise UsageError(f"teacher={config.teacher}: a teacher must do this model's task and see the picture the same way "
                             f"(it is a {teacher.name} model taking {sees[0]}; this is a {model.name} model taking {sees[1]})")

        teacher.to(memory_format=torch.channels_last)
        teacher_dtype = autocast_dtype(device, "auto")
    net = torch.nn.parallel.DistributedDataParallel(objective) if world > 1 else objective
    autocast = dict(device_type=device.type, dtype=torch.bfloat16, enabled=config.amp and device.type == "cuda")
    log_file = out / "log.csv"
    writer = handle = None
    if rank == 0:
        new = not log_file.exists() or not resume
        handle = open(log_file, "w" if new else "a", newline="")
        writer = csv.DictWriter(handle, LOG_FIELDS, restval="", extrasaction="ignore")
        if new:
            writer.writeheader()
    epoch, t0, last = step // max(1, len(loader)), time.perf_counter(), {}
    while step < config.steps:
        if sampler is not None:
            sampler.set_epoch(epoch)
        train_set.set_epoch(epoch)
        for batch in loader:
            if step >= config.steps:
                break
            model.train()
            lr = learning_rate(config, step)
            for group in opt.param_groups:
                group["lr"] = lr * group.get("lr_scale", 1.0)
            target = batch["target"].to(device)
            if teacher is not None:  # distillation: the teacher's output on the same crop is the target
                with torch.no_grad(), torch.autocast(device.type, dtype=teacher_dtype, enabled=teacher_dtype is not None):
                    target = teacher(batch["input"].to(device), visual=batch["frames"].to(device)).float()
            with torch.autocast(**autocast):
                loss, parts = net(batch["input"].to(device), target, batch["frames"].to(device), batch["stems"].to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip).item()
            opt.step()
            ema.update(model)
            step += 1
            last = {"step": step, "loss": round(loss.item(), 5), **{k: round(v, 5) for k, v in parts.items()},
                    "grad_norm": round(grad, 3), "lr": lr, "seconds": round(time.perf_counter() - t0, 1)}
            if rank == 0 and (step % config.log_every == 0 or step == config.steps):
                _log(writer, handle, last)
                if on_log:
                    on_log(last)
            if rank == 0 and (step % config.val_every == 0 or step == config.steps):
                metrics = _validate_ema(model, ema, val_batches, device)
                last = {**last, **{f"val_{k}": round(v, 6) for k, v in metrics.items()}}
                _log(writer, handle, last)
                if on_log:
                    on_log(last)
            if rank == 0 and (step % config.checkpoint_every == 0 or step == config.steps):
                _save(out, model, ema, opt, step, config, notes)
        epoch += 1
    if writer is not None:
        handle.close()
    if world > 1:
        dist.barrier()
    return last, model


def _skipped(name: str, skip: tuple[str, ...]) -> bool:
    """Whether ``init_skip``'s name prefixes cover the tensor ``name``."""
    return any(name == p or name.startswith(p + ".") for p in skip)


def _initialise(model: torch.nn.Module, name_or_path: str, skip: tuple[str, ...] = ()) -> None:
    """Copy the weights of a saved model into ``model``. Every tensor of the saved model must fit one of
    ``model`` exactly (same type and sizes); layers that ``model`` adds (say ``model.cond_blocks=4`` on a
    model saved with none) keep their initialisation, which for such blocks is the identity. Layers named
    by ``skip`` (name prefixes) are not taken: a model whose mask refinement is resized (a faster
    student) starts from everything else, its new refinement at the identity."""
    source = checkpoint.load(name_or_path)
    own = model.state_dict()
    theirs = {k: v for k, v in source.state_dict().items() if not _skipped(k, skip) and k not in source.not_loaded}
    if source.name != model.name or not set(theirs) <= set(own) or any(own[k].shape != theirs[k].shape for k in theirs):
        raise UsageError(f"init={name_or_path}: its weights do not fit this {model.name} model (different type or sizes); "
                         "train with the same model settings as it was built with")
    added = sorted({k.split(".")[0] for k in set(own) - set(theirs)})
    if added:
        print(f"init={name_or_path}: new layers keep their initialisation: {', '.join(added)}", file=sys.stderr)
    model.load_state_dict(theirs, strict=False)


def param_groups(model: torch.nn.Module, config: TrainConfig, skip: tuple[str, ...] = ()) -> list[dict]:
    """The optimiser's parameter groups, each with an ``lr_scale`` on the schedule's rate. With ``init`` and
    ``new_lr``, the layers the init checkpoint does not hold (or that ``init_skip`` names) learn at ``new_lr``:
    zero-initialised, at a fine-tune's small rate they would barely move in a few hundred steps. With
    ``freeze_init`` the layers init holds stop training (``requires_grad`` off) and only the new group is returned,
    with the layers ``train_layers`` names (fine-tuned at ``lr``: a model's source masks refitted, its vector
    field kept)."""
    train_layers = tuple(p for p in config.train_layers.split(",") if p)
    if config.freeze_init and not (config.init and (config.new_lr or train_layers)):
        raise UsageError("freeze_init=true needs init= (the weights to keep) and new_lr= (the rate of the layers it lacks) "
                         "or train_layers= (the layers of init that still train)")
    if train_layers and not config.freeze_init:
        raise UsageError("train_layers= names the layers that still train under freeze_init=true; add freeze_init=true (and init=)")
    names = [k for k, _ in model.named_parameters()]
    unknown = [p for p in train_layers if not any(_skipped(k, (p,)) for k in names)]
    if unknown:
        layers = sorted({k.split(".")[0] for k in names})
        raise UsageError(f"train_layers: this {model.name} model has no layer {', '.join(unknown)} (its layers: {', '.join(layers)})")
    if not (config.init and (config.new_lr or train_layers)):
        return [{"params": list(model.parameters()), "lr_scale": 1.0}]
    source = checkpoint.load(config.init)
    held = {k for k in source.state_dict() if not _skipped(k, skip) and k not in source.not_loaded}
    new = [p for k, p in model.named_parameters() if k not in held]
    old = [p for k, p in model.named_parameters() if k in held]
    if not new and not train_layers:
        raise UsageError(f"new_lr={config.new_lr}: init={config.init} holds every layer of this model; nothing is new")
    new_scale = (config.new_lr or config.lr) / config.lr
    if config.freeze_init:
        tuned = [p for k, p in model.named_parameters() if k in held and _skipped(k, train_layers)]
        for k, p in model.named_parameters():
            if k in held and not _skipped(k, train_layers):
                p.requires_grad_(False)
        return [g for g in ({"params": new, "lr_scale": new_scale}, {"params": tuned, "lr_scale": 1.0}) if g["params"]]
    return [{"params": old, "lr_scale": 1.0}, {"params": new, "lr_scale": new_scale}]


def learning_rate(config: TrainConfig, step: int) -> float:
    """Linear warm-up, then constant or cosine decay from ``lr`` to ``lr_min`` at ``steps``."""
    lr = config.lr
    if config.schedule == "cosine":
        progress = min(1.0, step / max(1, config.steps))
        lr = config.lr_min + (config.lr - config.lr_min) * 0.5 * (1 + math.cos(math.pi * progress))
    return lr * min(1.0, (step + 1) / max(1, config.warmup))


class _Objective(torch.nn.Module):
    """The model's training loss as a forward pass, so DDP's gradient averaging sees it."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model

    def forward(self, audio: torch.Tensor, target: torch.Tensor, frames: torch.Tensor, stems: torch.Tensor):
        return self.model.loss(audio, target, frames, stems)


def training_set(model, data, split: str, config: TrainConfig, augment: bool, seed: int, context: ContextFeatures | None = None) -> Dataset:
    """The model's kind of data: hard pairs for the on-screen separator, AV-CASS crops for the other
    separators, Muddy Mix crops for a highlighter."""
    if getattr(model, "data", None) == "hardpairs":
        return OnScreenSet(data, split, config.crop, augment, seed, config.dynamic_mix, config.picture_augment, context)
    if is_separator(model):
        return SeparationSet(data, split, config.crop, augment, seed, config.dynamic_mix, config.wrong_picture)
    return TrainingSet(data, split, config.crop, augment, seed, context, config.modes, config.silence, config.level_db, config.picture_augment,
                       config.colour, config.colour_db)


def _validation_batches(model, data, config: TrainConfig, context: ContextFeatures | None) -> list[dict]:
    for split in ("val", "test"):
        try:
            val = training_set(model, data, split, config, False, config.seed + 12345, context)
            break
        except UsageError:
            val = None
    if val is None:
        return []
    items = [val[i % len(val)] for i in range(min(config.val_examples, len(val) * 4))]
    keys = ("input", "target", "frames")
    return [{k: torch.stack([it[k] for it in items[i : i + config.batch_size]]) for k in keys} for i in range(0, len(items), config.batch_size)]


def _validate_ema(model, ema: EMA, batches, device) -> dict[str, float]:
    if not batches:
        return {}
    backup = {k: v.detach().clone() for k, v in model.state_dict().items()}
    model.load_state_dict({k: v.to(backup[k].dtype) for k, v in ema.shadow.items()})
    try:
        return validate(model, batches, device)
    finally:
        model.load_state_dict(backup)


LOG_FIELDS = ["step", "loss", "fm", "rollout", "start", "stems", "mrstft", "l1", "grad_norm", "lr", "seconds"] + [
    f"val_{who}_{m}" for who in ("model", "input") for m in ("MAG", "ENV", "W-dis")] + ["val_model_SI-SDRi"] + [
    f"val_{who}_SI-SDR_{stem}" for who in ("model", "input") for stem in ("dialogue", "music", "effects", "on", "off")] + [
    "probe"]  # new columns go last: a resumed run appends to the header it began with


def _log(writer, handle, row: dict) -> None:
    writer.writerow(row)
    handle.flush()


def _save(out: Path, model, ema: EMA, opt, step: int, config: TrainConfig, notes: dict) -> None:
    state = {"model": model.state_dict(), "ema": ema.shadow, "optimizer": opt.state_dict(), "step": step}
    tmp = out / ".train_state.pt.tmp"
    torch.save(state, tmp)
    os.replace(tmp, out / "train_state.pt")
    checkpoint.save(model, out / "model", state=ema.shadow, notes={**notes, "steps": step})
