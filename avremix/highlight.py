"""Library facade of ``avremix highlight``: one file (or many) in, a remixed copy out.

    decode audio (blocks) ──► engine (model, strength blend) ──► encoder ──► remux with the input's
    other streams ──► atomic rename

With ``strength == 0`` no model is run: the decoded audio goes straight to the encoder, so the output's
audio equals the input's within the output codec's precision (bit-exact for lossless codecs).

``--gains dx=+6,mx=-3`` (:class:`StemGains`): the user's per-stem gains, applied through a separator on
top of the highlighter's remix (or, with ``--model none``, of the input itself).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch

from avremix.engine import ChunkModel, EngineConfig
from avremix.errors import UsageError
from avremix.features.context import ContextFeatures
from avremix.media import MediaWriter, check_output_path, probe
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS
from avremix.pipeline import (BatchOptions, FileResult, LoudnessResult, Progress, expand_inputs, loudness_normalised, open_source,
                              processed, run_many)

HighlightResult = FileResult  # what one highlighted file came to
__all__ = ["HighlightResult", "StemGains", "expand_inputs", "highlight_file", "highlight_many", "load_highlighter", "loudness_target", "parse_gains"]

#: what --gains accepts → the stem's name
STEM_WORDS = {"dx": "dialogue", "mx": "music", "fx": "effects", "dialogue": "dialogue", "music": "music", "effects": "effects"}


def parse_gains(spec: str) -> dict[str, float]:
    """``"dx=+6,mx=-3"`` → ``{"dialogue": 6.0, "music": -3.0}`` (dB); clear errors otherwise."""
    gains: dict[str, float] = {}
    for part in spec.replace(" ", ",").split(","):
        if not part:
            continue
        stem, sep, value = part.partition("=")
        if not sep or stem.lower() not in STEM_WORDS:
            raise UsageError(f"--gains: cannot read {part!r}; write STEM=DB with STEM one of dx, mx, fx (e.g. dx=+6,mx=-3)")
        try:
            db = float(value.lower().removesuffix("db"))
        except ValueError:
            raise UsageError(f"--gains: {value!r} is not a number of dB (in {part!r})") from None
        if not -60.0 <= db <= 24.0:
            raise UsageError(f"--gains: {part!r} is outside -60..+24 dB")
        gains[STEM_WORDS[stem.lower()]] = db
    if not gains:
        raise UsageError("--gains: give at least one STEM=DB (e.g. dx=+6)")
    return gains


class StemGains(torch.nn.Module):
    """The user's per-stem gains through a separator, on top of a highlighter (or of the input)::

        y = highlighter(x)  (or x),     s_k = separator(y),     out = y + Σ_k (g_k − 1) · s_k

    With every gain at 0 dB the output is ``y`` exactly, and what the separator misses keeps its level
    (it stays in ``y``); where the stems sum to ``y``, ``out = Σ_k g_k · s_k``. The gains are constant, so
    the remix changes only as fast as the separation does (its masks are smooth over ~100 ms), and the
    band above the models' Nyquist frequency follows the result's top octave (``avremix.engine``)."""

    name = "stem-gains"

    def __init__(self, separator: torch.nn.Module, gains: dict[str, float], highlighter: torch.nn.Module | None = None):
        super().__init__()
        stems = tuple(separator.stems)
        unknown = sorted(set(gains) - set(stems))
        if unknown:
            raise UsageError(f"--gains: the separator has no {', '.join(unknown)} stem (it has {', '.join(stems)})")
        if highlighter is not None:
            if int(highlighter.sample_rate) != int(separator.sample_rate):
                raise UsageError(f"--gains: the highlighter runs at {highlighter.sample_rate} Hz and the separator at {separator.sample_rate} Hz")
            if tuple(getattr(highlighter.config, "visual", ("frames",))) != ("frames",) or (highlighter.fps, tuple(highlighter.frame_size)) != (separator.fps, tuple(separator.frame_size)):
                raise UsageError("--gains: this highlighter sees the picture differently from the separator; use a frames model or --model none")
        self.separator, self.highlighter = separator, highlighter
        main = highlighter if highlighter is not None else separator
        self.config, self.sample_rate = main.config, int(separator.sample_rate)
        self.fps, self.frame_size = separator.fps, tuple(separator.frame_size)
        self.generative = bool(getattr(highlighter, "generative", False))
        self.shared_visual = all(getattr(m, "shared_visual", False) for m in (separator, highlighter) if m is not None)
        # audio files too when every model in it can do without the picture (--model none: the separator's)
        self.picture_optional = all(getattr(m, "picture_optional", False) for m in (separator, highlighter) if m is not None)
        self.gains_db = {k: float(gains.get(k, 0.0)) for k in stems}
        self.register_buffer("gains", torch.tensor([10 ** (self.gains_db[k] / 20) for k in stems]), persistent=False)  # [K]

    def forward(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor:
        """``audio [B, 1, T]`` → ``[B, 1, T]``."""
        y = self.highlighter(audio, visual=visual, noise=noise) if self.highlighter is not None else audio
        s = self.separator(y, visual=visual)  # [B, K, T]
        return y + ((self.gains.view(1, -1, 1) - 1) * s.float()).sum(dim=1, keepdim=True)


def loudness_target(spec: str | float | None, model: ChunkModel | None, strength: float = 1.0) -> float | None:
    """The integrated loudness (LUFS) ``--loudness`` brings the output to, or None to keep the level the
    model gives it. ``auto``: the median loudness of the targets the model was trained on (its sidecar's
    ``target_lufs``; the film-mix level it learned to restore), or None for a model without one, for no
    model and at strength 0 (the input is copied); ``off``: None; a number: that level (e.g. -23 for EBU
    R 128, -24 for ATSC A/85, -27 for dialogue-gated streaming specs)."""
    text = "off" if spec is None else str(spec).strip().lower()
    if text == "off":
        return None
    if text == "auto":
        inner = getattr(model, "highlighter", None)
        main = inner if inner is not None else model  # --gains: the highlighter's level
        value = getattr(main, "target_lufs", None) if model is not None and strength > 0 else None
        return None if value is None else float(value)
    try:
        value = float(text.removesuffix("lufs").strip())
    except ValueError:
        raise UsageError(f"--loudness takes auto, off or a level in LUFS such as -23, got {spec!r}") from None
    if not -60.0 <= value <= -5.0:
        raise UsageError(f"--loudness {spec}: a level between -60 and -5 LUFS, please (-23 is EBU R 128)")
    return value


def load_highlighter(model_name: str | None, gains: str | None = None, separator: str | None = None,
                     strength: float = 1.0, device: str = "cpu") -> ChunkModel | None:
    """The model ``highlight`` runs: the named highlighter (default: the shipped default; ``none``: no
    highlighter), wrapped in :class:`StemGains` when ``gains`` are given. ``None`` at ``strength`` 0."""
    from avremix.checkpoint import DEFAULT_MODEL, DEFAULT_SEPARATOR, load

    if strength <= 0:
        return None
    none = (model_name or "").lower() == "none"
    if none and not gains:
        raise UsageError("--model none runs no highlighter; give --gains (or use --strength 0 to copy the audio)")
    if separator and not gains:
        raise UsageError("--separator is the separator of --gains; give --gains too")
    highlighter = None if none else load(model_name or DEFAULT_MODEL, device)
    if not gains:
        return highlighter
    sep = load(separator or DEFAULT_SEPARATOR, device)
    if getattr(sep, "task", None) != "separate":
        raise UsageError(f"--separator: {separator} is not a separator")
    return StemGains(sep, parse_gains(gains), highlighter)


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
    loudness: float | None = None,
) -> FileResult:
    """Highlight one file. Raises :class:`AvremixError` on bad input; the output then does not exist.

    ``loudness``: bring the output to this integrated loudness (LUFS) with one gain over the whole file
    (:func:`avremix.pipeline.loudness_normalised`; :func:`loudness_target` reads ``--loudness``); None keeps
    the model's level.

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
    level = None
    if loudness is not None:
        level = LoudnessResult(float(loudness))
        blocks = loudness_normalised(blocks, decoder.sample_rate, level.target, Path(output_path).parent, level)
    writer = MediaWriter(output_path, sample_rate=decoder.sample_rate, channels=decoder.channels, layout=decoder.layout,
                         source=info, replace=decoder.stream_info, offset=source.offset)
    with writer:
        for block in blocks:
            writer.write(block)
    out_info = probe(output_path)
    return FileResult(input=os.fspath(input_path), output=os.fspath(output_path), audio_codec=writer.codec.encoder,
                      streams=[f"{s.index}:{s.type}:{s.codec}" for s in out_info.streams], **source.timing(writer.samples_written),
                      loudness=None if level is None else level.as_dict())


def highlight_many(
    inputs: list[str | os.PathLike],
    output: str | os.PathLike,
    model: ChunkModel | None = None,
    on_file: Callable[[int, int, str], None] | None = None,
    options: BatchOptions | None = None,
    single: str | os.PathLike | None = None,
    **kwargs,
) -> list[FileResult]:
    """Highlight several files (folders, with ``options.recursive`` their trees; glob patterns) into the
    folder ``output``, keeping each input's name (and subfolder). ``single``: one input written to this
    file instead. One bad file never stops the others: its result has ``ok=False`` and the error."""
    if kwargs.get("captions") is not None and len(expand_inputs(inputs, bool(options and options.recursive))) > 1:
        raise UsageError("--captions names the captions of one input; for several, put IN.srt or IN.json beside each input")
    return run_many(inputs, output, lambda path, folder: highlight_file(path, folder / path.name if single is None else Path(single), model=model, **kwargs),
                    on_file=on_file, options=options, single=None if single is None else Path(single))
