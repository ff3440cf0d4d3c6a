"""The file path every command shares: inputs → probe → decode in blocks → engine → writers → atomic rename,
and batches of files in which one bad file never stops the others.

``highlight`` (one remixed copy of each input) and ``separate`` (stems of each input) differ only in what
they write; everything before the writer, and the batch loop around it, is here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avremix.engine import ChunkModel, Engine, EngineConfig
from avremix.errors import AvremixError, MediaError, UsageError
from avremix.features.context import ContextFeatures
from avremix.media import AudioDecoder, FrameSampler, probe
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, MediaInfo

#: Called with (seconds done, seconds in total or None).
Progress = Callable[[float, float | None], None]


@dataclass
class FileResult:
    """What one processed file came to (``--json`` prints these)."""

    input: str
    output: str | None
    ok: bool = True
    error: str | None = None
    duration: float | None = None  # seconds of audio processed
    seconds: float | None = None  # wall-clock time
    realtime: float | None = None  # × real time
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    streams: list[str] = field(default_factory=list)  # "index:type:codec" of the output
    outputs: dict[str, str] = field(default_factory=dict)  # separate: stem -> file

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Source:
    """An opened input: its probe, its audio decoder and the media time its audio starts at."""

    path: str | os.PathLike
    info: MediaInfo
    decoder: AudioDecoder
    started: float = field(default_factory=time.perf_counter)

    @property
    def offset(self) -> float:
        """Seconds by which the decoded audio starts after the container's first timestamp (keeps sync)."""
        return max(0.0, self.decoder.start - self.info.start_time)

    def timing(self, samples: int) -> dict:
        elapsed = time.perf_counter() - self.started
        duration = samples / self.decoder.sample_rate
        return {"duration": round(duration, 3), "seconds": round(elapsed, 3),
                "realtime": round(duration / elapsed, 1) if elapsed > 0 else None,
                "sample_rate": self.decoder.sample_rate, "channels": self.decoder.channels}


def open_source(path: str | os.PathLike, audio_stream: int | None = None) -> Source:
    """Probe ``path`` and open its audio stream (``MediaError`` when it cannot be read)."""
    started = time.perf_counter()
    info = probe(path)
    return Source(path, info, AudioDecoder(path, audio_stream=audio_stream, info=info), started)


def processed(source: Source, model: ChunkModel | None, config: EngineConfig | None = None, strength: float = 1.0,
              on_progress: Progress | None = None, context: ContextFeatures | None = None,
              captions: str | os.PathLike | None = None) -> Iterator[np.ndarray]:
    """The source's audio through ``model`` in chunks: blocks ``[C, n]`` (a separator's ``[K, C, n]``);
    without a model (or at strength 0), the decoded audio itself."""
    decoder = source.decoder
    total = decoder.expected_duration
    report = (lambda s: on_progress(min(s, total) if total else s, total)) if on_progress else None
    if model is None or strength == 0:
        return _counting(decoder, decoder.sample_rate, report) if report is not None else iter(decoder)
    engine = Engine(model, decoder.sample_rate, config, strength=strength)
    visual = visual_context(model, source.path, source.info, decoder.start, context, captions)
    return engine.stream(decoder, visual, on_progress=report)


def run_many(inputs: Iterable[str | os.PathLike], output: str | os.PathLike, run_one: Callable[[Path, Path], FileResult],
             name: Callable[[Path, Path], Path] = lambda path, out_dir: out_dir / path.name,
             on_file: Callable[[int, int, str], None] | None = None) -> list[FileResult]:
    """``run_one(input, output path)`` for every file of ``inputs`` (folders expanded) into the folder
    ``output``; a file that fails has ``ok=False`` and its error, and the others go on."""
    files = expand_inputs(inputs)
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError("several inputs need -o to be a folder", out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, path in enumerate(files):
        if on_file is not None:
            on_file(i, len(files), str(path))
        try:
            results.append(run_one(path, name(path, out_dir)))
        except AvremixError as e:
            results.append(FileResult(input=str(path), output=None, ok=False, error=str(e)))
    return results


def expand_inputs(inputs: Iterable[str | os.PathLike]) -> list[Path]:
    """Files as given, folders replaced by the media files they hold (sorted, not recursive)."""
    files: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in AUDIO_EXTENSIONS | VIDEO_EXTENSIONS)
        else:
            files.append(p)
    return files


def visual_context(model: ChunkModel, path, info, start: float, context: ContextFeatures | None = None,
                   captions: str | os.PathLike | None = None) -> Iterator | None:
    """Frames (or feature streams) at the model's fps from ``start``; None for an audio-only model."""
    fps = getattr(model, "fps", None)
    if not fps:
        return None
    if not info.has_video:
        raise MediaError("has no video stream; this model needs the picture", path)
    size = getattr(model, "frame_size", (224, 224))
    frames = iter(FrameSampler(path, fps=fps, size=size, start=start, info=info))
    if context is None:
        return frames
    if context.text is not None and captions is None:
        captions = next((p for p in (Path(path).with_suffix(".srt"), Path(path).with_suffix(".json")) if p.is_file()), None)
    context.start(captions)
    return context.stream(frames)


def _counting(blocks: Iterable[np.ndarray], sample_rate: int, report: Callable[[float], None]) -> Iterator[np.ndarray]:
    done = 0
    for block in blocks:
        done += block.shape[-1]
        report(done / sample_rate)
        yield block
