"""Library facade of ``avremix separate``: dialogue, effects and music stems of a file (or many), or with the
on-screen separator its ``on`` (what the picture shows making sound) and ``off`` (the rest) stems.

    decode audio (blocks) ──► engine (separator, mixture-consistent) ──► one encoder per stem ──► folder
                                                                         └─► --mux: remux with every input stream

Stems are full band, at the input's sample rate and channel layout, the input's length to the sample, and
sum to the decoded input (``avremix.engine``). Default output: ``OUT/<input name>/<stem>.flac`` (24-bit
FLAC, or ``--format wav``: 24-bit PCM), written into a hidden folder renamed when every stem is complete.
``--mux`` writes ``OUT/<input name>.mkv`` instead: every stream of the input copied as it is, plus one audio
track per stem titled Dialogue / Effects / Music (On screen / Off screen) with the language of the
processed track. ``query`` takes the picture from another video (a mixture kept as an audio file, or a clip
whose picture comes from another camera): its frames from its own start line up with the audio's start.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from avremix.engine import ChunkModel, EngineConfig
from avremix.errors import MediaError, UsageError
from avremix.features.context import context_for
from avremix.media import MediaWriter, probe
from avremix.media.writer import AudioCodec, mux_tracks
from avremix.pipeline import BatchOptions, FileResult, Progress, open_source, processed, run_many
from avremix.stems import ONSCREEN_STEMS, STEM_HELP, STEM_NAMES, split_stem_words  # noqa: F401 (split_stem_words: part of this facade)

TITLES = {"dialogue": "Dialogue", "effects": "Effects", "music": "Music", "on": "On screen", "off": "Off screen"}
FORMATS = {"flac": AudioCodec("flac", ("-sample_fmt", "s32")), "wav": AudioCodec("pcm_s24le")}  # 24 bits
FLAC_MAX_CHANNELS = 8


def default_separator(stems: list[str]) -> str:
    """The shipped separator for these ``--stems`` when no ``--model`` is given: the on-screen one for
    ``on``/``off``, the dialogue / effects / music one otherwise."""
    from avremix.checkpoint import DEFAULT_ONSCREEN, DEFAULT_SEPARATOR

    return DEFAULT_ONSCREEN if stems and all(STEM_NAMES.get(s.lower()) in ONSCREEN_STEMS for s in stems) else DEFAULT_SEPARATOR


def stem_names(stems: list[str] | tuple[str, ...], model: ChunkModel) -> list[str]:
    """``dx fx mx`` (or full names) → the model's stem names, in the order asked (none asked: all of them,
    dialogue, effects, music or on, off); clear errors otherwise."""
    if not stems:
        own = tuple(getattr(model, "stems", ()))
        stems = ("dx", "fx", "mx") if set(own) == {"dialogue", "effects", "music"} else own
    names = []
    for s in stems:
        if s.lower() not in STEM_NAMES:
            raise UsageError(f"--stems: unknown stem {s!r}; {STEM_HELP}")
        name = STEM_NAMES[s.lower()]
        if name not in getattr(model, "stems", ()):
            hint = " (on and off come from separate-onscreen: --model separate-onscreen)" if name in ONSCREEN_STEMS else ""
            raise UsageError(f"--stems: this model has no {name} stem (it has {', '.join(getattr(model, 'stems', ())) or 'none'}){hint}")
        if name not in names:
            names.append(name)
    if not names:
        raise UsageError("--stems: name at least one stem")
    return names


def separate_file(
    input_path: str | os.PathLike,
    output_dir: str | os.PathLike,
    model: ChunkModel,
    stems: list[str] | tuple[str, ...] = (),
    mux: bool = False,
    fmt: str = "flac",
    audio_stream: int | None = None,
    config: EngineConfig | None = None,
    overwrite: bool = False,
    on_progress: Progress | None = None,
    query: str | os.PathLike | None = None,
    no_video: bool = False,
) -> FileResult:
    """Separate one file into ``output_dir`` (``stems``: those asked, default all of the model's; ``query``:
    a video whose picture guides the model instead of the input's; ``no_video``: the picture is not looked
    at, as for an audio file: the model's null picture). Audio files and videos alike run on a separator
    that takes the picture but can do without (``picture_optional``, the default separator). Raises :class:`AvremixError` on bad
    input; nothing is left then."""
    if not getattr(model, "stems", None):
        raise UsageError("this model is not a separator (it has no stems); use `avremix highlight`")
    if fmt not in FORMATS:
        raise UsageError(f"--format must be flac or wav, got {fmt!r}")
    names = stem_names(stems, model)
    out_dir = Path(output_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError("-o must be a folder for separate", out_dir)
    picture = query_picture(query, model) if query is not None else None
    source = open_source(input_path, audio_stream)
    decoder = source.decoder
    if picture is None and getattr(model, "fps", None) and not getattr(model, "picture_optional", False) and not source.info.has_video:
        raise MediaError("has no video stream; this separator needs the picture: give it one with --query VIDEO", input_path)
    target = out_dir / (Path(input_path).stem + (".mkv" if mux else ""))
    if target.resolve() == Path(input_path).resolve():
        raise UsageError("output path is the input file; choose another output folder (avremix never writes over its input)", target)
    if target.exists() and not overwrite:
        raise UsageError("output exists; pass --overwrite to replace it", target)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{Path(input_path).stem}.part-", dir=out_dir))
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(work, 0o777 & ~mask)  # mkdtemp makes it private; the stems folder is an ordinary folder
    try:
        index = {name: k for k, name in enumerate(model.stems)}
        ext = "flac" if mux else fmt
        warnings = []
        if ext == "flac" and decoder.channels > FLAC_MAX_CHANNELS:
            ext = "wav"  # FLAC holds at most 8 channels; 24-bit PCM holds them all, in WAV and in Matroska
            warnings.append(f"{input_path}: FLAC holds at most {FLAC_MAX_CHANNELS} channels; the {decoder.channels}-channel stems are 24-bit WAV")
        if picture is None and getattr(model, "fps", None) and (no_video or not source.info.has_video):
            warnings += no_picture_warning(input_path, model)
        with ExitStack() as stack:
            writers = {name: stack.enter_context(MediaWriter(work / f"{name}.{ext}", decoder.sample_rate, decoder.channels,
                                                             layout=decoder.layout, codec=FORMATS[ext])) for name in names}
            context = context_for(model.config) if getattr(model, "fps", None) and hasattr(model, "config") else None  # feature streams
            for block in processed(source, model, config, 1.0, on_progress, context=context, picture=picture, no_video=no_video):  # [K, C, n]
                for name, writer in writers.items():
                    writer.write(block[index[name]])
        samples = writers[names[0]].samples_written
        if mux:
            tracks = [(work / f"{name}.{ext}", TITLES[name]) for name in names]
            mux_tracks(source.info, decoder.stream_info, tracks, work / "muxed.mkv", offset=source.offset)
            _replace(work / "muxed.mkv", target)
            outputs = {name: str(target) for name in names}
        else:
            _replace(work, target)
            work = None
            outputs = {name: str(target / f"{name}.{ext}") for name in names}
    finally:
        if work is not None:
            shutil.rmtree(work, ignore_errors=True)
    streams = [f"{s.index}:{s.type}:{s.codec}" for s in probe(target).streams] if mux else []
    result = FileResult(input=os.fspath(input_path), output=str(target), audio_codec=FORMATS[ext].encoder,
                        streams=streams, outputs=outputs, **source.timing(samples))
    result.warnings += warnings
    return result


def no_picture_warning(input_path: str | os.PathLike, model: ChunkModel) -> list[str]:
    """What to say when a separator that was trained with a picture on every clip (``picture_drop`` 0) runs on
    audio alone: it finds less dialogue there (its card's no-picture row), and which shipped model does better."""
    if getattr(getattr(model, "config", None), "picture_drop", 0.0):
        return []
    from avremix.checkpoint import AUDIO_FIRST_SEPARATOR, models_dir

    better = f"; --model {AUDIO_FIRST_SEPARATOR} was trained for audio alone" if (models_dir() / AUDIO_FIRST_SEPARATOR / "model.json").exists() else ""
    return [f"{input_path}: no picture, and this separator was trained with one on every clip: it finds less dialogue from the audio alone (its card's no-picture row){better}"]


def query_picture(query: str | os.PathLike, model: ChunkModel):
    """``--query VIDEO``: the probed video whose picture the model sees (errors: no such file, no video
    stream, a model that takes no picture)."""
    if not getattr(model, "fps", None):
        raise UsageError("--query: this model does not look at the picture (an audio-only separator); use a model that takes video, e.g. separate-onscreen")
    info = probe(query)
    if not info.has_video:
        raise MediaError("has no video stream; --query needs a video whose picture shows the sound to extract", query)
    return query, info


def _replace(src: Path, dst: Path) -> None:
    """Move ``src`` (file or folder) to ``dst``, replacing what is there (``--overwrite`` was checked)."""
    if dst.is_dir() and not dst.is_symlink():
        shutil.rmtree(dst)
    os.replace(src, dst)


def separate_many(inputs: list[str | os.PathLike], output: str | os.PathLike, model: ChunkModel,
                  on_file: Callable[[int, int, str], None] | None = None, options: BatchOptions | None = None, **kwargs) -> list[FileResult]:
    """Separate several files (folders, with ``options.recursive`` their trees; glob patterns) into the
    folder ``output``; one bad file never stops the others."""
    mux = kwargs.get("mux", False)
    return run_many(inputs, output, lambda path, folder: separate_file(path, folder, model, **kwargs),
                    target=lambda path, folder: folder / (path.stem + (".mkv" if mux else "")), on_file=on_file, options=options)
