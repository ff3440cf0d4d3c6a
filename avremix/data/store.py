"""Dataset storage shared by every builder: layout, manifest, splits by source, resumable parallel builds.

Layout of a dataset folder::

    DIR/
      manifest.jsonl     one JSON row per finished example (id, kind, split, sample_rate, fps, files, params)
      summary.json       what the last build did: counts per split, skipped/failed items and why, timing
      items/<id>/        the example's files: *.wav (float32 PCM, seekable: a loader reads a random crop
                         without decoding the file), *.npy frames (uint8 [F, H, W, 3], memory-mapped by the
                         loader), video.mp4 (the clip as a user would see it), meta.json

An item is built into ``items/.tmp-<id>`` and renamed when complete, then its row is appended to the
manifest, so an interrupted build leaves no half-written example and re-running it skips what is done.
One build item may produce several examples (a movie cut into windows); every example's row names the
item it came from.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import shutil
import time
import traceback
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from avremix.errors import AvremixError

MANIFEST = "manifest.jsonl"
SUMMARY = "summary.json"
SPLITS = ("train", "val", "test")


def split_of(source_id: str, ratios: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> str:
    """Deterministic split of a source (speaker, music piece, effect file, movie) from its id alone, so
    the same material never lands in two splits whichever example uses it."""
    h = int.from_bytes(hashlib.sha1(source_id.encode()).digest()[:8], "big") / 2**64
    if h < ratios[0]:
        return "train"
    return "val" if h < ratios[0] + ratios[1] else "test"


def seed_of(*parts: object) -> int:
    """A 64-bit seed from any printable parts (item ids, user seeds), stable across runs and machines."""
    return int.from_bytes(hashlib.sha1("/".join(map(str, parts)).encode()).digest()[:8], "big")


def write_wav(path: str | os.PathLike, audio: np.ndarray, sample_rate: int) -> None:
    """Float32 WAV; ``audio`` is ``[T]`` or ``[C, T]``."""
    data = np.asarray(audio, dtype=np.float32)
    sf.write(os.fspath(path), data.T if data.ndim == 2 else data, sample_rate, subtype="FLOAT")


def read_wav(path: str | os.PathLike, start: int = 0, frames: int = -1) -> np.ndarray:
    """``[C, n]`` float32 from sample ``start`` (seeks; reads only what is asked)."""
    data, _ = sf.read(os.fspath(path), start=start, frames=frames, dtype="float32", always_2d=True)
    return np.ascontiguousarray(data.T)


@dataclass
class BuildSummary:
    """What a build did; written to ``summary.json``."""

    kind: str
    built: int = 0  # items built in this run
    skipped: int = 0  # items already done by an earlier run
    examples: int = 0  # manifest rows in total
    per_split: dict[str, int] = field(default_factory=dict)
    failed: list[dict] = field(default_factory=list)  # {"item", "source", "error"}
    dropped: list[dict] = field(default_factory=list)  # {"item", "reason"} (e.g. silent windows)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


# A build function: (item spec, temporary item folder) -> (manifest rows, dropped notes).
# It runs in a worker process, so it must be a module-level function and the spec JSON-like.
BuildFn = Callable[[dict, Path], tuple[list[dict], list[dict]]]


class Store:
    """A dataset folder: reads the manifest, builds missing items, appends rows."""

    def __init__(self, root: str | os.PathLike, kind: str):
        self.root = Path(root)
        self.kind = kind
        self.items = self.root / "items"

    def rows(self) -> list[dict]:
        path = self.root / MANIFEST
        if not path.exists():
            return []
        with open(path) as f:
            return [json.loads(line) for line in f if line.strip()]

    def done_items(self) -> set[str]:
        return {row["item"] for row in self.rows()}

    def prepare(self) -> None:
        """Create the folder; refuse to mix kinds; clear temporary folders left by an interrupted run."""
        self.root.mkdir(parents=True, exist_ok=True)
        kinds = {row["kind"] for row in self.rows()}
        if kinds and kinds != {self.kind}:
            raise AvremixError(f"holds a {'/'.join(sorted(kinds))} dataset; build {self.kind} into another folder", self.root)
        self.items.mkdir(exist_ok=True)
        for tmp in self.items.glob(".tmp-*"):
            shutil.rmtree(tmp, ignore_errors=True)

    def build(
        self,
        specs: list[dict],
        fn: BuildFn,
        jobs: int = 1,
        on_item: Callable[[int, int], None] | None = None,
        failed: list[dict] | None = None,
    ) -> BuildSummary:
        """Build every spec (``{"item": id, "source": ..., ...}``) not built yet, ``jobs`` at a time.
        ``failed`` lists sources that failed before the build (downloads) for the summary."""
        t0 = time.perf_counter()
        self.prepare()
        done = self.done_items()
        todo = [s for s in specs if s["item"] not in done]
        summary = BuildSummary(kind=self.kind, skipped=len(specs) - len(todo), failed=list(failed or []))
        finished = 0
        if on_item is not None:
            on_item(0, len(todo))
        for spec, result in _run_all(todo, fn, self.items, jobs):
            finished += 1
            if isinstance(result, str):
                summary.failed.append({"item": spec["item"], "source": spec.get("source"), "error": result})
            else:
                rows, dropped = result
                self._commit(spec["item"], rows)
                summary.built += 1
                summary.dropped += dropped
            if on_item is not None:
                on_item(finished, len(todo))
        rows = self.rows()
        summary.examples = len(rows)
        summary.per_split = {s: sum(r["split"] == s for r in rows) for s in SPLITS}
        summary.seconds = round(time.perf_counter() - t0, 2)
        (self.root / SUMMARY).write_text(json.dumps(summary.to_dict(), indent=2) + "\n")
        return summary

    def _commit(self, item: str, rows: list[dict]) -> None:
        tmp, final = self.items / f".tmp-{item}", self.items / item
        if final.exists():
            shutil.rmtree(final)
        if tmp.exists():
            os.replace(tmp, final)
        with open(self.root / MANIFEST, "a") as f:
            for row in rows:
                f.write(json.dumps({"kind": self.kind, "item": item, **row}) + "\n")


def _build_one(fn: BuildFn, spec: dict, items: Path) -> tuple[list[dict], list[dict]] | str:
    """Run one item in a worker; failures come back as a one-line message, never an exception."""
    tmp = items / f".tmp-{spec['item']}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        return fn(spec, tmp)
    except AvremixError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        return str(e)
    except Exception as e:  # a builder bug must not stop the other items; the summary keeps the cause
        shutil.rmtree(tmp, ignore_errors=True)
        where = traceback.extract_tb(e.__traceback__)[-1]
        return f"{type(e).__name__}: {e} ({Path(where.filename).name}:{where.lineno})"


def _worker_init() -> None:
    try:
        import torch

        torch.set_num_threads(1)  # parallelism comes from the worker processes
    except ImportError:  # pragma: no cover
        pass


def _run_all(specs: list[dict], fn: BuildFn, items: Path, jobs: int) -> Iterable[tuple[dict, object]]:
    if jobs <= 1 or len(specs) <= 1:
        for spec in specs:
            yield spec, _build_one(fn, spec, items)
        return
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx, initializer=_worker_init) as pool:
        pending = {}
        queue = iter(specs)
        for spec in queue:  # keep at most 2 items per worker in flight: bounded memory
            pending[pool.submit(_build_one, fn, spec, items)] = spec
            if len(pending) >= 2 * jobs:
                break
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                spec = pending.pop(fut)
                yield spec, fut.result()
                nxt = next(queue, None)
                if nxt is not None:
                    pending[pool.submit(_build_one, fn, nxt, items)] = nxt
