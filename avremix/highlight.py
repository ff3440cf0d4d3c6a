"""Library facade of ``avremix highlight``: one file (or many) in, a remixed copy out.

    decode audio (blocks) ──► engine (model, strength blend) ──► encoder ──► remux with the input's
    other streams ──► atomic rename

With ``strength == 0`` no model is run: the decoded audio goes straight to the encoder, so the output's
audio equals the input's within the output codec's precision (bit-exact for lossless codecs).
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
from avremix.media import (
    AudioDecoder,
    FrameSampler,
    MediaWriter,
    check_output_path,
    probe,
)
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

#: Called with (seconds done, seconds in total or None).
Progress = Callable[[float, float | None], None]


@dataclass
class HighlightResult:
    """What one highlighted file came to (``--json`` prints these)."""

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

    def to_dict(self) -> dict:
        return asdict(self)


def highlight_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    model: ChunkModel | None = None,
    strength: float = 1.0,
    audio_stream: int | None = None,
    config: EngineConfig | None = None,
    overwrite: bool = False,
    on_progress: Progress | None = None,
    context: ContextFeatures | None = None,
    captions: str | os.PathLike | None = None,
) -> HighlightResult:
    """Highlight one file. Raises :class:`AvremixError` on bad input; the output then does not exist.

    ``context`` computes the feature streams of a model that takes features instead of frames
    (``features.context.context_for``); ``captions`` is the file its captions stream reads (default: a
    ``.srt`` or ``.json`` beside the input with the same name, else no captions).
    """
    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--strength must be between 0 and 1, got {strength}")
    if strength > 0 and model is None:
        raise UsageError("--strength > 0 needs a highlight model; none is loaded")
    t0 = time.perf_counter()
    info = probe(input_path)
    check_output_path(input_path, output_path, overwrite)
    if Path(output_path).suffix.lower() in VIDEO_EXTENSIONS and not info.has_video and Path(input_path).suffix.lower() in AUDIO_EXTENSIONS:
        raise UsageError(f"{input_path} has no video; write an audio file (.wav .flac .mp3 .m4a) instead", output_path)
    decoder = AudioDecoder(input_path, audio_stream=audio_stream, info=info)
    total = decoder.expected_duration
    report = (lambda s: on_progress(min(s, total) if total else s, total)) if on_progress else None

    blocks: Iterable[np.ndarray] = decoder
    if strength > 0:
        engine = Engine(model, decoder.sample_rate, config, strength=strength)
        visual = _visual_context(model, input_path, info, decoder.start, context, captions)
        blocks = engine.stream(decoder, visual, on_progress=report)
    elif report is not None:
        blocks = _counting(decoder, decoder.sample_rate, report)

    start_offset = max(0.0, decoder.start - info.start_time)
    writer = MediaWriter(
        output_path,
        sample_rate=decoder.sample_rate,
        channels=decoder.channels,
        layout=decoder.layout,
        source=info,
        replace=decoder.stream_info,
        offset=start_offset,
    )
    with writer:
        for block in blocks:
            writer.write(block)
    elapsed = time.perf_counter() - t0
    duration = writer.samples_written / decoder.sample_rate
    out_info = probe(output_path)
    return HighlightResult(
        input=os.fspath(input_path),
        output=os.fspath(output_path),
        duration=round(duration, 3),
        seconds=round(elapsed, 3),
        realtime=round(duration / elapsed, 1) if elapsed > 0 else None,
        audio_codec=writer.codec.encoder,
        sample_rate=decoder.sample_rate,
        channels=decoder.channels,
        streams=[f"{s.index}:{s.type}:{s.codec}" for s in out_info.streams],
    )


def highlight_many(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    model: ChunkModel | None = None,
    on_file: Callable[[int, int, str], None] | None = None,
    **kwargs,
) -> list[HighlightResult]:
    """Highlight several files (or every media file of the folders given) into the folder ``output``.

    One bad file never stops the others: its result has ``ok=False`` and the error.
    """
    files = expand_inputs(inputs)
    if kwargs.get("captions") is not None and len(files) > 1:
        raise UsageError("--captions names the captions of one input; for several, put IN.srt or IN.json beside each input")
    out_dir = Path(output)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError("several inputs need -o to be a folder", out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = []
    for i, path in enumerate(files):
        if on_file is not None:
            on_file(i, len(files), str(path))
        try:
            results.append(highlight_file(path, out_dir / Path(path).name, model=model, **kwargs))
        except AvremixError as e:
            results.append(HighlightResult(input=str(path), output=None, ok=False, error=str(e)))
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


def _visual_context(model: ChunkModel, path, info, start: float, context: ContextFeatures | None = None,
                    captions: str | os.PathLike | None = None) -> Iterator | None:
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
