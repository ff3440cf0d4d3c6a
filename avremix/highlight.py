"""Library facade of ``avremix highlight``: one file (or many) in, a remixed copy out.

    decode audio (blocks) ──► engine (model, strength blend) ──► encoder ──► remux with the input's
    other streams ──► atomic rename

With ``strength == 0`` no model is run: the decoded audio goes straight to the encoder, so the output's
audio equals the input's within the output codec's precision (bit-exact for lossless codecs).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from avremix.engine import ChunkModel, EngineConfig
from avremix.errors import UsageError
from avremix.features.context import ContextFeatures
from avremix.media import MediaWriter, check_output_path, probe
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from avremix.pipeline import FileResult, Progress, expand_inputs, open_source, processed, run_many

HighlightResult = FileResult  # what one highlighted file came to
__all__ = ["HighlightResult", "expand_inputs", "highlight_file", "highlight_many"]


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
) -> FileResult:
    """Highlight one file. Raises :class:`AvremixError` on bad input; the output then does not exist.

    ``context`` computes the feature streams of a model that takes features instead of frames
    (``features.context.context_for``); ``captions`` is the file its captions stream reads (default: a
    ``.srt`` or ``.json`` beside the input with the same name, else no captions).
    """
    if not 0.0 <= strength <= 1.0:
        raise UsageError(f"--strength must be between 0 and 1, got {strength}")
    if strength > 0 and model is None:
        raise UsageError("--strength > 0 needs a highlight model; none is loaded")
    if model is not None and getattr(model, "stems", None):
        raise UsageError("this model is a separator; use `avremix separate`")
    source = open_source(input_path, audio_stream)
    info, decoder = source.info, source.decoder
    check_output_path(input_path, output_path, overwrite)
    if Path(output_path).suffix.lower() in VIDEO_EXTENSIONS and not info.has_video and Path(input_path).suffix.lower() in AUDIO_EXTENSIONS:
        raise UsageError(f"{input_path} has no video; write an audio file (.wav .flac .mp3 .m4a) instead", output_path)
    blocks = processed(source, model if strength > 0 else None, config, strength, on_progress, context, captions)
    writer = MediaWriter(output_path, sample_rate=decoder.sample_rate, channels=decoder.channels, layout=decoder.layout,
                         source=info, replace=decoder.stream_info, offset=source.offset)
    with writer:
        for block in blocks:
            writer.write(block)
    out_info = probe(output_path)
    return FileResult(input=os.fspath(input_path), output=os.fspath(output_path), audio_codec=writer.codec.encoder,
                      streams=[f"{s.index}:{s.type}:{s.codec}" for s in out_info.streams], **source.timing(writer.samples_written))


def highlight_many(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    model: ChunkModel | None = None,
    on_file: Callable[[int, int, str], None] | None = None,
    **kwargs,
) -> list[FileResult]:
    """Highlight several files (or every media file of the folders given) into the folder ``output``.

    One bad file never stops the others: its result has ``ok=False`` and the error.
    """
    if kwargs.get("captions") is not None and len(expand_inputs(inputs)) > 1:
        raise UsageError("--captions names the captions of one input; for several, put IN.srt or IN.json beside each input")
    return run_many(inputs, output, lambda path, out: highlight_file(path, out, model=model, **kwargs), on_file=on_file)
