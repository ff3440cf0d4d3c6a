"""Training readers: one ``torch.utils.data.Dataset`` per dataset kind, random crops without decoding files.

Every example yields a dict of tensors: audio ``[C, T]`` float32 for each input and target file, and
frames ``[F, H, W, 3]`` uint8 for each frame stream, cropped to the same span of time, and ``frame_start``
(the crop's first frame). Crops start on a
frame boundary (so frame ``f`` covers samples ``f * sr / fps ...``); WAV files are read by seeking and the
frame arrays are memory-mapped, so a crop costs only what it returns.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from avremix.data.store import MANIFEST, read_wav, seed_of
from avremix.errors import UsageError


class ManifestDataset(Dataset):
    """Examples of one split of a dataset folder.

    Args:
        root: the dataset folder (holding ``manifest.jsonl``).
        split: "train", "val" or "test".
        crop: seconds per example; None returns whole examples.
        seed: crops are drawn from (seed, epoch, index); call :meth:`set_epoch` to move on.
    """

    kind: str = ""
    audio_keys: tuple[str, ...] = ()  # manifest "files" entries returned as audio
    frame_keys: tuple[str, ...] = ("frames",)  # manifest "frames" entries returned as frames

    def __init__(self, root: str | Path, split: str = "train", crop: float | None = None, seed: int = 0):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.exists():
            raise UsageError("holds no dataset (manifest.jsonl is missing)", self.root)
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
        kinds = {r["kind"] for r in rows}
        if self.kind and kinds and kinds != {self.kind}:
            raise UsageError(f"holds a {'/'.join(sorted(kinds))} dataset, not {self.kind}", self.root)
        self.rows = [r for r in rows if r["split"] == split]
        self.split, self.crop, self.seed, self.epoch = split, crop, seed, 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        row = self.rows[index]
        sr, fps = row["sample_rate"], row["fps"]
        total_frames = math.floor(row["duration"] * fps)
        if self.crop is None:
            f0, n_frames = 0, total_frames
        else:
            n_frames = max(1, round(self.crop * fps))
            rng = np.random.default_rng(seed_of(self.seed, self.epoch, row["id"]))
            f0 = int(rng.integers(0, max(1, total_frames - n_frames + 1)))
        start, length = round(f0 * sr / fps), round(n_frames * sr / fps)
        item: dict[str, torch.Tensor] = {"frame_start": torch.tensor(f0)}
        for key in self.audio_keys:
            audio = read_wav(self.root / row["files"][key], start, length)
            if audio.shape[1] < length:  # the last frame may reach past the audio's end
                audio = np.pad(audio, ((0, 0), (0, length - audio.shape[1])))
            item[key] = torch.from_numpy(audio)
        for key in self.frame_keys:
            frames = np.load(self.root / row["frames"][key], mmap_mode="r")
            idx = np.clip(np.arange(f0, f0 + n_frames), 0, len(frames) - 1)
            item[key] = torch.from_numpy(np.ascontiguousarray(frames[idx]))
        return item


class SynthDataset(ManifestDataset):
    """Synth corpus: ``mix`` (flat) → ``target`` (director's mix); ``stems``/``target_stems`` ``[3, T]``."""

    kind = "synth"
    audio_keys = ("mix", "target", "stems", "target_stems")


class MuddyDataset(ManifestDataset):
    """Muddy Mix: ``input`` (poorly mixed) → ``target``; ``stems``/``input_stems`` ``[3, T]``."""

    kind = "muddy"
    audio_keys = ("input", "target", "stems", "input_stems")


class AVDnRDataset(ManifestDataset):
    """AV-CASS mixtures: ``mix`` ``[C, T]`` → ``stems`` (dialogue, music, effects) with face and scene frames;
    ``stems`` is ``[3, T]`` for mono mixtures and ``[3, C, T]`` for stereo ones."""

    kind = "avdnr"
    audio_keys = ("mix", "stems")
    frame_keys = ("face", "scene")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        channels = self.rows[index].get("channels", 1)
        if channels > 1:
            item["stems"] = item["stems"].reshape(3, channels, -1)  # [3 * C, T] stem-major -> [3, C, T]
        return item


class HardPairsDataset(ManifestDataset):
    """AlignSep pairs: ``mix`` → ``target`` (on screen), ``interferer`` (off screen)."""

    kind = "hardpairs"
    audio_keys = ("mix", "target", "interferer")


DATASETS = {cls.kind: cls for cls in (SynthDataset, MuddyDataset, AVDnRDataset, HardPairsDataset)}


def open_dataset(root: str | Path, split: str = "train", crop: float | None = None, seed: int = 0) -> ManifestDataset:
    """The reader for whatever kind ``root`` holds."""
    path = Path(root) / MANIFEST
    if not path.exists():
        raise UsageError("holds no dataset (manifest.jsonl is missing)", root)
    with open(path) as f:
        first = next((json.loads(line) for line in f if line.strip()), None)
    if first is None:
        raise UsageError("dataset manifest is empty", root)
    return DATASETS[first["kind"]](root, split, crop, seed)


def target_loudness(data: str | Path, split: str = "train", limit: int = 200) -> float:
    """Median integrated loudness (LUFS) of the targets of a Muddy Mix split (at most ``limit`` clips, evenly
    spread): the level the loudness-normalised reference is brought to."""
    from avremix.data.loudness import loudness

    rows = MuddyDataset(data, split).rows or MuddyDataset(data, "test").rows
    picked = rows[:: max(1, len(rows) // limit)][:limit]
    values = [loudness(read_wav(Path(data) / r["files"]["target"])[0], r["sample_rate"]) for r in picked]
    values = [v for v in values if np.isfinite(v)]
    return float(np.median(values)) if values else -24.0
