"""The ``avremix`` command line. Each command parses, calls one library function and reports."""

from __future__ import annotations

import functools
import json
import os
import signal
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from avremix import __version__
from avremix import errors, isolation
from avremix.errors import AvremixError, Terminated, UsageError

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a model hub: avremix loads local weights only


def streaming_threads() -> None:
    """Before torch is imported by highlight / separate: torch's OpenMP threads spin 1000 rounds, not
    libgomp's default 300000, before they sleep, so while they wait they leave the cores to the video
    decoder and the encoder running beside them. Measured on 10 minutes with 2 cores: 1080p H.264 High
    61 -> 50 s, 480p 28 -> 26 s (``make bench``). Set GOMP_SPINCOUNT to override."""
    os.environ.setdefault("GOMP_SPINCOUNT", "1000")

app = typer.Typer(
    help="Remix the soundtrack of videos using what is on screen.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
err = Console(stderr=True)

_OUT = typer.Option(..., "-o", "--output", help="Dataset folder (created; re-running completes it, skipping finished items).", show_default=False)
_JOBS = typer.Option(1, "-j", "--jobs", help="Parallel worker processes.")
_SEED = typer.Option(0, help="Seed: the same seed gives the same result.")
_STEPS = typer.Option(None, "--steps", min=1, help="ODE steps of a flow model (default: the model's own; the shipped one uses 2 Euler steps, the path it was trained on).")
_NOISE = typer.Option(None, "--noise", min=0.0, help="Starting noise of a flow model, as a fraction of its training noise (default: the model's own; the shipped one starts from the input itself, 0: deterministic). Above 0, each --seed draws a different remix.")
_JSON = typer.Option(False, "--json", help="Print the result as JSON on stdout.")
_SEGMENT = typer.Option(10.0, help="Seconds of audio the model processes per chunk.")
_OVERLAP = typer.Option(1.0, help="Seconds shared by neighbouring chunks, crossfaded.")
_CONTEXT = typer.Option(1.0, help="Seconds of neighbouring audio the model also sees on each side of a chunk.")
_BATCH = typer.Option(0, "--batch-size", help="Chunks per forward pass; 0 (default): 1 on the CPU, where small batches run fastest, 8 on CUDA.")
_DEVICE = typer.Option("auto", help="auto (CUDA when available), cpu, cuda or cuda:N.")
_QUIET = typer.Option(False, "--quiet", "-q", help="No progress bar.")
_RECURSIVE = typer.Option(False, "--recursive", "-r", help="Descend into the folders given and mirror their subfolders under -o.")
_SHARD = typer.Option(None, "--shard", help="Process only shard I of N (I from 1 to N, e.g. 3/8) of the expanded input list, split by a hash of each file's path below its folder: N machines with the same arguments cover every file exactly once.", show_default=False)
_SKIP = typer.Option(False, "--skip-existing", help="Skip inputs whose output already exists (outputs only ever appear complete, so this finishes an interrupted run).")
_SUMMARY = typer.Option(None, "--summary", help="Append one JSON line per file to this file as it finishes: input, output, ok, skipped, error, seconds, realtime, model, version.", show_default=False)
_CLIP_WEIGHTS = typer.Option(None, "--clip-weights", help="Local open_clip weights file, for models whose visual streams include clip or captions.", show_default=False)
_CLIP_MODEL = typer.Option(None, "--clip-model", help="open_clip model name (e.g. ViT-B-32) or a model-config JSON file; default: the one the model records.", show_default=False)


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]avremix: error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def _on_signal(signum, frame) -> None:
    for sig in (signal.SIGINT, signal.SIGTERM):  # one is enough: let the clean-up finish undisturbed
        signal.signal(sig, signal.SIG_IGN)
    errors.STOP = signum  # also raised again at the next block, should a library swallow this raise
    raise KeyboardInterrupt if signum == signal.SIGINT else Terminated


def _note_signal(signum, frame) -> None:
    """Before a command starts: remember the signal; the command raises it as soon as it starts."""
    errors.STOP = signum


def user_errors(fn):
    """Turn :class:`AvremixError` into one line on stderr and a non-zero exit code; no tracebacks (unless
    ``--debug``). SIGINT and SIGTERM stop the command cleanly (no partial output, no temporary file) with
    exit code 130 or 143, whatever they interrupted."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            signal.signal(signal.SIGTERM, _on_signal)
            signal.signal(signal.SIGINT, _on_signal)
            errors.check_stop()  # a signal that came while the command line was being read
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            if errors.STOP is None:
                raise
            _stopped(errors.STOP, fn.__name__)
        except BaseException as e:
            if errors.STOP is not None or isinstance(e, (KeyboardInterrupt, Terminated)):
                _stopped(errors.STOP or (signal.SIGINT if isinstance(e, KeyboardInterrupt) else signal.SIGTERM), fn.__name__)
            if errors.DEBUG:
                raise
            if isinstance(e, AvremixError):
                _fail(str(e), e.exit_code)
            if isinstance(e, OSError):
                from avremix.pipeline import os_error_line

                _fail(os_error_line(e, e.filename or "avremix"), 1)
            _fail(errors.internal_error_line(e), 3)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):  # the work is over: a late signal changes nothing
                signal.signal(sig, signal.SIG_IGN)

    return wrapper


RESUME_HINTS = {"train": "the run keeps its last checkpoint; rerun with --resume to continue from it",
                "evaluate": "nothing was written; rerun to score it", "report": "nothing was written; rerun it", "assets": "rerun it to finish",
                "models": "rerun it", "probe": "rerun it"}


def _stopped(signum: int, command: str = "") -> None:
    name, code = ("SIGINT", 130) if signum == signal.SIGINT else ("SIGTERM", 143)
    if command.startswith("build"):
        hint = "the clips already built are kept; rerun the same command to finish"
    else:
        hint = RESUME_HINTS.get(command, "no partial output was left behind; rerun with --skip-existing to finish")
    _fail(f"interrupted ({name}); {hint}", code)



def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[clock]}"),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=quiet or not err.is_terminal,
    )


def _clock(done: float, total: float | None) -> str:
    """Progress counted in seconds of media, e.g. ``12.0/30.0 s``."""
    return f"{done:.1f}/{total:.1f} s" if total else f"{done:.1f} s"


@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version", help="Print the version and exit."),
         debug: bool = typer.Option(False, "--debug", help="Show Python tracebacks instead of one-line errors (for bug reports).")) -> None:
    errors.DEBUG = debug or errors.DEBUG
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, _note_signal)
    isolation.ready()  # a worker's signals, held back while it started, are delivered from here on
    if version:
        typer.echo(f"avremix {__version__}")
        raise typer.Exit()
    signal.signal(signal.SIGTERM, _interrupt)  # a killed job cleans up its temporary output like Ctrl-C


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


@app.command()
@user_errors
def highlight(
    inputs: list[Path] = typer.Argument(..., help="Video or audio files, or folders of them.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output file, or a folder (then each output keeps its input's name; required for several inputs).", show_default=False),
    strength: float = typer.Option(1.0, "--strength", "-s", min=0.0, max=1.0, help="0 keeps the input audio (no model runs), 1 is the model's mix; between blends the two."),
    model_name: str | None = typer.Option(None, "--model", "-m", help="A shipped model name (see `avremix models`) or a model folder; `none` with --gains: no highlighter. Default: the shipped default."),
    gains: str | None = typer.Option(None, "--gains", help="Your own per-stem gains in dB, e.g. dx=+6,mx=-3 (dx dialogue, mx music, fx effects; 0 for the rest), applied through the separator on top of the model's remix (--model none: on the input). A dialogue boost for hard-of-hearing viewers: --model none --gains dx=+6,mx=-6,fx=-6.", show_default=False),
    separator: str | None = typer.Option(None, "--separator", help="The separator --gains works through (a name from `avremix models` or a folder). Default: separate-cass.", show_default=False),
    steps: int | None = _STEPS, noise: float | None = _NOISE,
    audio_stream: int | None = typer.Option(None, "--audio-stream", help="Which audio stream to process, counted among audio streams from 0 (like ffmpeg's a:N). Default: the stream flagged default, else the first."),
    segment: float = _SEGMENT, overlap: float = _OVERLAP, context: float = _CONTEXT, batch_size: int = _BATCH, device: str = _DEVICE,
    precision: str = typer.Option("auto", help="auto (bf16 on CUDA and on CPUs with native bf16 such as AVX512-BF16 or AMX, else fp32), fp32, bf16 or fp16 (CUDA only). "
                                  "bf16 on the CPU runs the default model about 1.7x faster on CPUs with AVX512-BF16 or AMX, "
                                  "with the same test metrics; elsewhere it is slower."),
    seed: int = typer.Option(0, help="Seed of the starting noise of a flow model run with --noise above 0 (same seed, same output)."),
    channels: str = typer.Option("independent", "--channels", help="Stereo and surround: independent (the model remixes each channel on its own) or linked "
                                 "(it remixes the channels' mean once and every channel follows with the same gains, bin by bin, as a linked compressor does: "
                                 "the stereo image stays put and the model costs what it costs on mono, 1.2x faster on stereo; "
                                 "on test clips with hard-panned effects the balance comes out a little less exact)."),
    clip_weights: Path | None = _CLIP_WEIGHTS, clip_model: str | None = _CLIP_MODEL,
    captions: Path | None = typer.Option(None, "--captions", help="Captions (JSON or SRT) for a model that takes a captions stream; default: IN.srt or IN.json beside each input.", show_default=False),
    loudness: str = typer.Option("auto", "--loudness", help="Integrated loudness (BS.1770) of the output, set with one gain over the whole file: auto (the film-mix level the model was trained to restore: the median loudness of its training targets, listed by `avremix models`; "
                                 "a model without one keeps its own level), off (the model's own level), or LUFS such as -23 (EBU R 128) or -24 (ATSC A/85). "
                                 "The sample peak is kept at or below -1 dBFS. Needs temporary disk space beside the output: about 1.4 GB per hour of 48 kHz stereo."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
    recursive: bool = _RECURSIVE, shard: str | None = _SHARD, skip_existing: bool = _SKIP, summary: Path | None = _SUMMARY,
    as_json: bool = typer.Option(False, "--json", help="Print a machine-readable summary on stdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
) -> None:
    """Rebalance speech, music and effects of a soundtrack to match the picture.

    The video and every other stream (other audio tracks, subtitles, attachments, chapters, metadata) are copied without re-encoding; only the processed audio stream is replaced, at the same timestamps (audio that starts after the picture starts there again).

    Files run in a worker process: one that crashes a decoder or an encoder fails alone, and the batch goes on (AVREMIX_ISOLATE=0 runs them in this process).
    """
    single = len(inputs) == 1 and not inputs[0].is_dir() and not _pattern(inputs[0]) and not output.is_dir() and output.suffix != ""  # -o FILE
    if isolation.enabled():  # the batch runs in a worker process: a native crash fails one file, not the batch
        return _isolated(summary, as_json, quiet, single)
    streaming_threads()
    from avremix.engine import EngineConfig
    from avremix.highlight import highlight_many, load_highlighter, loudness_target

    model = load_highlighter(model_name, gains, separator, strength)  # loaded once for every input
    level = loudness_target(loudness, model, strength)
    _sampling(model, steps, noise)
    features = _context(model, clip_weights, clip_model, captions) if model is not None else None
    config = EngineConfig(segment=segment, overlap=overlap, context=context, batch_size=batch_size, device=device, precision=precision, seed=seed,
                          channels=channels)
    config.validate()  # a bad option fails once, not once per file
    options = dict(strength=strength, audio_stream=audio_stream, config=config, overwrite=overwrite, context=features, captions=captions, loudness=level)
    batch = _batch(recursive, shard, skip_existing, summary, overwrite, model)
    with _progress(quiet or as_json) as bar:
        task = bar.add_task("highlight", total=None, clock="")
        on_progress = lambda done, total: bar.update(task, completed=done, total=total, clock=_clock(done, total))
        on_file = lambda i, n, path: bar.update(task, description=f"[{i + 1}/{n}] {Path(path).name}", completed=0)
        results = highlight_many(inputs, output, model=model, on_file=on_file, on_progress=on_progress, options=batch,
                                 single=output if single else None, **options)
    _report(results, as_json, quiet, single=single)


def _sampling(model, steps: int | None, noise: float | None) -> None:
    """``--steps`` / ``--noise`` onto a flow model's config (other models have no sampler)."""
    for key, value in (("steps", steps), ("noise", noise)):
        if model is not None and value is not None and hasattr(model.config, key):
            setattr(model.config, key, value)


def _context(model, clip_weights: Path | None, clip_model: str | None, captions: Path | None = None):
    """The feature streams ``model`` takes (None: it takes frames), with the user's CLIP model and weights;
    a warning for CLIP or caption options the model has no use for."""
    from avremix.features.context import context_for

    if clip_model:
        model.config.clip_model = clip_model
    streams = tuple(getattr(model.config, "visual", ("frames",)))
    unused = [opt for opt, value, stream in (("--clip-weights", clip_weights, ("clip", "captions")), ("--clip-model", clip_model, ("clip", "captions")),
                                             ("--captions", captions, ("captions",))) if value and not set(stream) & set(streams)]
    if unused:
        err.print(f"avremix: warning: {', '.join(unused)} ignored: this model's visual input is {','.join(streams)}", highlight=False)
    return context_for(model.config, clip_weights)


def _batch(recursive: bool, shard: str | None, skip_existing: bool, summary: Path | None, overwrite: bool, model) -> "BatchOptions":
    from avremix import __version__
    from avremix.pipeline import BatchOptions, parse_shard

    if skip_existing and overwrite:
        raise UsageError("--skip-existing and --overwrite contradict each other; choose one")
    name = getattr(model, "name", None) if model is not None else None
    options = BatchOptions(recursive=recursive, shard=parse_shard(shard), skip_existing=skip_existing, summary=summary,
                           meta={"model": name, "version": __version__})
    pipe = isolation.channel()
    if pipe is not None:  # a worker: tell the watching process where the batch is
        options.first = pipe.first
        options.on_plan = lambda n: pipe.send(plan=n, meta=options.meta)
        options.on_begin = lambda k, path, final, made: pipe.send(begin=k, input=path, output=final, made=made)
        options.on_result = lambda k, result: pipe.send(k=k, result=result.to_dict())
    return options


def _isolated(summary: Path | None, as_json: bool, quiet: bool, single: bool) -> None:
    """The watching side of :mod:`avremix.isolation`: this command line again in a worker; then the report."""
    from avremix.result import FileResult  # not avremix.pipeline: this process never imports torch

    outcome = isolation.supervise(summary=summary)
    if outcome.exit_code is not None:  # the worker ended the command (it said why), or died outside any file
        if outcome.message:
            _fail(outcome.message, outcome.exit_code)
        raise typer.Exit(outcome.exit_code)
    _report([FileResult(**r) for r in outcome.results], as_json, quiet, single=single)


def _pattern(path: Path) -> bool:
    return not path.exists() and any(c in str(path) for c in "*?[")


def _level(loudness: dict | None) -> str:
    """``, -27.2 LUFS (gain -6.1 dB)`` for a result of ``--loudness``; empty without one."""
    if not loudness or loudness.get("after") is None:
        return ", silent: level unchanged" if loudness else ""
    held = f", held at -1 dBFS peak instead of {loudness['target']:.1f} LUFS" if loudness["peak_limited"] else ""
    return f", {loudness['after']:.1f} LUFS (gain {loudness['gain_db']:+.1f} dB{held})"


def _report(results, as_json: bool, quiet: bool, single: bool | None = None) -> None:
    if isolation.channel() is not None:  # a worker: the watching process reports every worker's results
        return
    failed = [r for r in results if not r.ok]
    skipped = [r for r in results if r.skipped]
    single = len(results) == 1 if single is None else single
    if as_json:
        typer.echo(json.dumps(results[0].to_dict() if single and results else [r.to_dict() for r in results], indent=2))
    elif not quiet:
        for r in results:
            if r.ok and not r.skipped:
                err.print(f"{r.output}: {r.duration:.1f} s of audio in {r.seconds:.1f} s ({r.realtime}× real time), audio {r.audio_codec}{_level(r.loudness)}", highlight=False)
    for warning in (w for r in results for w in r.warnings):
        err.print(f"avremix: warning: {warning}", highlight=False, soft_wrap=True)
    for r in failed:
        err.print(f"[bold red]avremix: error:[/] {r.error}", highlight=False, soft_wrap=True)
    if not single or skipped:
        err.print(f"{len(results) - len(failed) - len(skipped)} done, {len(skipped)} skipped, {len(failed)} failed", highlight=False)
    if failed:
        raise typer.Exit(failed[0].exit_code or 1 if single else 1)


@app.command()
@user_errors
def separate(
    inputs: list[Path] = typer.Argument(..., help="Video or audio files, or folders of them.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Output folder: OUT/<input name>/<stem>.flac per input (with --mux: OUT/<input name>.mkv).", show_default=False),
    stems: list[str] = typer.Option(None, "--stems", help="Stems to write: dx (dialogue), fx (effects), mx (music), as `--stems dx fx` or `--stems dx,fx`; or on (what the picture shows making sound) and off (the rest), which the on-screen separator gives. Default: every stem of the model. Asking for fewer never changes their content.", show_default=False),
    model_name: str | None = typer.Option(None, "--model", "-m", help="A shipped separator (see `avremix models`), a model folder, or htdemucs:PATH (your own HTDemucs checkpoint). Default: separate-onscreen for --stems on/off, else separate-cass."),
    query: Path | None = typer.Option(None, "--query", help="Take the picture from this video instead of the input's: for a mixture kept as an audio file, or a clip whose picture comes from another camera. Its frames from its own start line up with the audio's start; past its end its last frame is held.", show_default=False),
    no_video: bool = typer.Option(False, "--no-video", help="Do not look at the picture (a video whose picture does not show its sound: a title card, a still, a slide show); the separator then works from the audio alone, as it does for audio files (separate-cass; the on-screen separator needs the picture)."),
    mux: bool = typer.Option(False, "--mux", help="Write OUT/<input name>.mkv: every stream of the input copied, plus one audio track per stem (titled Dialogue / Effects / Music, or On screen / Off screen)."),
    fmt: str = typer.Option("flac", "--format", help="Stem files: flac or wav (both 24-bit, full band, the input's rate and channels)."),
    audio_stream: int | None = typer.Option(None, "--audio-stream", help="Which audio stream to separate, counted among audio streams from 0 (like ffmpeg's a:N). Default: the stream flagged default, else the first."),
    segment: float = _SEGMENT, overlap: float = _OVERLAP, context: float = _CONTEXT, batch_size: int = _BATCH, device: str = _DEVICE,
    precision: str = typer.Option("auto", help="auto (bf16 on CUDA and on CPUs with native bf16 such as AVX512-BF16 or AMX, else fp32), fp32, bf16 or fp16 (CUDA only)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing outputs."),
    recursive: bool = _RECURSIVE, shard: str | None = _SHARD, skip_existing: bool = _SKIP, summary: Path | None = _SUMMARY,
    as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """Split a soundtrack into dialogue, effects and music stems, guided by the picture; or, with --stems on off,
    into what the picture shows making sound and the rest.

    The stems sum to the input audio (within -80 dBFS), are full band at its rate and channel layout, and have its length to the sample.

    Files run in a worker process: one that crashes a decoder or an encoder fails alone, and the batch goes on (AVREMIX_ISOLATE=0 runs them in this process).
    """
    from avremix.stems import split_stem_words

    inputs, stems = split_stem_words(inputs, stems)
    single = len(inputs) == 1 and not inputs[0].is_dir() and not _pattern(inputs[0])
    if isolation.enabled():  # the batch runs in a worker process: a native crash fails one file, not the batch
        return _isolated(summary, as_json, quiet, single)
    streaming_threads()
    from avremix.checkpoint import load
    from avremix.engine import EngineConfig
    from avremix.separate import default_separator, query_picture, separate_many, stem_names

    model = load(model_name or default_separator(stems))  # loaded once for every input
    stem_names(stems, model)  # a bad --stems fails before any file is read
    if query is not None:
        query_picture(query, model)  # so does a bad --query
    config = EngineConfig(segment=segment, overlap=overlap, context=context, batch_size=batch_size, device=device, precision=precision)
    config.validate()  # a bad option fails once, not once per file
    if no_video and query is not None:
        raise UsageError("--no-video and --query: give one (--query takes the picture from another video, --no-video takes none)")
    if no_video and getattr(model, "fps", None) and not getattr(model, "picture_optional", False):
        raise UsageError(f"--no-video: {model_name or 'this model'} needs the picture; separate-cass runs on the audio alone")
    options = dict(stems=stems, mux=mux, fmt=fmt, audio_stream=audio_stream, config=config, overwrite=overwrite, query=query, no_video=no_video)
    with _progress(quiet or as_json) as bar:
        task = bar.add_task("separate", total=None, clock="")
        on_progress = lambda done, total: bar.update(task, completed=done, total=total, clock=_clock(done, total))
        on_file = lambda i, n, path: bar.update(task, description=f"[{i + 1}/{n}] {Path(path).name}", completed=0)
        batch = _batch(recursive, shard, skip_existing, summary, overwrite, model)
        results = separate_many(inputs, output, model, on_file=on_file, on_progress=on_progress, options=batch, **options)
    _report(results, as_json, quiet, single=single)


@app.command()
@user_errors
def train(
    data: Path = typer.Option(..., "--data", help="A Muddy Mix dataset folder (build-dataset muddy) for a highlighter, an AV-CASS one (build-dataset avdnr) for a separator, a hard-pairs one (build-dataset hardpairs) for the on-screen separator.", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="Run folder: log.csv, train_state.pt, model/ (the exported EMA model).", show_default=False),
    model: str = typer.Option("cfm", "--model", help="Highlighters: cfm (flow matching) or visah (the VisAH baseline); separators: cass (flow matching, face and scene streams) or htdemucs (audio-only baseline); on-screen separator: onscreen (on a hard-pairs dataset; model.query=aligned, pooled or none)."),
    sets: list[str] = typer.Option([], "--set", help="Override a setting: steps=2000, batch_size=8, lr=3e-4, crop=4.0, schedule=cosine, init=MODEL (fine-tune), new_lr=1e-2 (the layers init lacks), freeze_init=true (only those train), train_layers=masks,mask_refine (with freeze_init: these layers of init train too), silence=0.15 (crops with a silent stretch), colour=0.5 (highlighters: stems re-equalised), modes=discrete,continuous, dynamic_mix=0.5 and wrong_picture=0.3 (separators), model.hidden=96, model.tags=true (cfm: YAMNet stem tags as a condition stream), model.rollout_steps=0 ... (repeatable; unknown keys are errors; all keys: TrainConfig in avremix/train.py, and model.* those of the model's config)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in OUTPUT from its last checkpoint."),
    visual: str = typer.Option("frames", "--visual", help="What the model sees: frames (its own CNN on the pixels) or feature streams, comma-separated: builtin (weights-free), clip, captions (these two need --clip-weights)."),
    clip_weights: Path | None = _CLIP_WEIGHTS, clip_model: str | None = _CLIP_MODEL,
    quiet: bool = _QUIET,
) -> None:
    """Train a highlighter or a separator. Under torchrun it trains data-parallel (DDP).

    Feature streams are computed once per clip; a clip's captions come from the file its manifest row names under "captions"."""
    from avremix.train import TrainConfig, apply_overrides, model_config_for
    from avremix.train import train as run_training

    config = TrainConfig(model=model)
    model_config = model_config_for(model)
    model_config.visual, model_config.clip_model = tuple(s.strip() for s in visual.split(",")), clip_model or ""
    apply_overrides(config, model_config, sets)
    with _progress(quiet) as bar:
        task = bar.add_task(f"train {model}", total=config.steps, clock="")
        last, _ = run_training(data, output, config, model_config, resume, clip_weights=clip_weights,
                               on_log=lambda row: bar.update(task, completed=row["step"], clock=f"step {row['step']} loss {row['loss']:.4f}"))
    err.print(f"{output}: {last.get('step')} steps, last loss {last.get('loss')}; model in {output / 'model'}", highlight=False)


@app.command()
@user_errors
def evaluate(
    model_name: str = typer.Option(None, "--model", "-m", help="Shipped model name or model folder (default: the shipped default).", show_default=False),
    data: Path | None = typer.Option(None, "--data", help="A Muddy Mix dataset folder (highlighters), an AV-CASS one (separators: build-dataset avdnr) or a hard-pairs one (the on-screen separator: build-dataset hardpairs). Or score files you already have with --est and --ref.", show_default=False),
    est: Path | None = typer.Option(None, "--est", help="Score these outputs (a folder of remixed files, or with --stems of OUT/<clip>/<stem>.<ext> folders as `avremix separate` writes them) against --ref, matched by name; no model runs.", show_default=False),
    ref: Path | None = typer.Option(None, "--ref", help="With --est: the references (same names and layout as --est).", show_default=False),
    input_dir: Path | None = typer.Option(None, "--input", help="With --est: the unprocessed inputs (the mixtures), same names: adds the input row, gain flutter and SI-SDRi.", show_default=False),
    stems: list[str] = typer.Option(None, "--stems", help="With --est: score separated stems (dx fx mx, or dx,fx) instead of remixes.", show_default=False),
    more_stems: list[str] = typer.Argument(None, hidden=True, metavar="STEMS", help="The words after --stems (`--stems dx fx mx`)."),
    run_dir: Path | None = typer.Option(None, "--out", help="With --est: write RUN/metrics.json (means and per-clip rows) and RUN/metrics.csv, for `avremix report RUN`.", show_default=False),
    speech: bool = typer.Option(True, "--speech/--no-speech", help="With --est: PESQ and STOI (slow on long files)."),
    split: str = typer.Option("test", help="train, val or test."),
    shuffle_video: bool = typer.Option(True, "--shuffle-video/--no-shuffle-video", help="Also score the model with every clip given another clip's frames (does it use the picture?)."),
    compare: list[str] = typer.Option([], "--compare", help="Another model of the same kind to score beside it (a name or folder; repeat for several), e.g. the previous default or an audio-only baseline.", show_default=False),
    separator: str = typer.Option("separate-cass", "--separator", help="The separator of the separate-then-remix reference row (its stems at DnR's levels); `none` leaves the row out."),
    references: bool = typer.Option(True, "--references/--no-references", help="Score the reference rows: the input loudness-normalised to the training targets' median loudness, and separate-then-remix."),
    condition: str = typer.Option("all", "--condition", help="Separators: all (the split as built) or dialogue-led (every clip remixed with its music and effects 10 dB lower: a dialogue scene, where a separator must not take dialogue away)."),
    figure: Path | None = typer.Option(None, "--figure", help="Write a PNG of every row's gain flutter per clip beside the target's.", show_default=False),
    precision: str = typer.Option("auto", help="Precision the models run at, as in highlight and separate: auto, fp32 or bf16."),
    loudness: str = typer.Option("auto", "--loudness", help="As highlight --loudness (auto, off or LUFS): each model's output clip is brought to that level before it is scored, as highlight brings a file."),
    steps: int | None = _STEPS, noise: float | None = _NOISE,
    clip_weights: Path | None = _CLIP_WEIGHTS, clip_model: str | None = _CLIP_MODEL,
    seed: int = _SEED, as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """Score a highlighter on a dataset split, next to reference rows (MAG / ENV / W-dis, lower is better;
    MAG@ref, MAG once the output is brought to the target's loudness; gain flutter against the target's own); for a separator, SDR / SI-SDR / SI-SDRi per stem of the mixture,
    ideal ratio masks, the model and the model with the video shuffled.

    With --est DIR --ref DIR instead, score outputs you already have (remixes, or with --stems separated
    stems) against references matched by name: loudness, PESQ, STOI, KLD, FAD, WPR, T_A-V and more."""
    if est is not None or ref is not None:
        return _evaluate_outputs(est, ref, input_dir, (stems or []) + (more_stems or []), run_dir, speech, data, model_name, as_json, quiet)
    if more_stems:
        raise UsageError(f"unexpected argument {more_stems[0]!r} (evaluate takes options only)")
    if data is None:
        raise UsageError("give --data DATASET (score a model) or --est DIR --ref DIR (score outputs you have)")
    from avremix.checkpoint import DEFAULT_MODEL, load
    from avremix.engine import EngineConfig
    from avremix.evaluate import evaluate as run_evaluation, flutter_figure

    EngineConfig(precision=precision).validate()
    model = load(model_name or DEFAULT_MODEL)
    others = {f"compare: {Path(name).name or name}": load(name) for name in compare}  # a folder by its name
    for name, other in zip(compare, others.values()):
        if bool(getattr(other, "stems", None)) != bool(getattr(model, "stems", None)):
            raise UsageError(f"--compare {name}: one model is a separator and the other a highlighter; compare models of the same kind")
    _sampling(model, steps, noise)
    if getattr(model, "stems", None):
        return _evaluate_separator(model, data, split, others, precision, as_json, quiet, shuffle_video, condition, references)
    if clip_model:
        model.config.clip_model = clip_model
    sep = load(separator) if references and separator.lower() != "none" else None
    with _progress(quiet or as_json) as bar:
        task = bar.add_task("evaluate", total=None, clock="")
        result = run_evaluation(model, data, split, shuffle_video=shuffle_video, seed=seed, clip_weights=clip_weights, references=references,
                                separator=sep, compare=others, precision=precision, loudness=loudness, on_batch=lambda b, n: bar.update(task, completed=b, total=n, clock=f"{b}/{n} batches"))
    if figure is not None:
        flutter_figure(result, figure)
    if as_json:
        typer.echo(json.dumps({k: v for k, v in result.items() if k != "clips"}, indent=2))
        return
    typer.echo(f"{result['examples']} {split} examples; lower is better; flutter in dB (median / 95th percentile over 20 ms frames)")
    columns = (("better_than_input", "beats input", 11), ("better_than_input_matched", "@ref", 5), ("better_than_normalised", "normalised", 10))
    typer.echo(f"  {'':<32} {'MAG':>9} {'ENV':>9} {'W-dis':>7} {'MAG@ref':>9} {'flutter':>14} " + "".join(f"{name:>{w}} " for _, name, w in columns))
    for row, m in result["rows"].items():
        metrics = f"{m['MAG']:9.5f} {m['ENV']:9.6f} {m['W-dis']:7.4f} {m['MAG_matched']:9.5f}" if "MAG" in m else " " * 37
        shares = "".join(f"{100 * m[k]:{w}.0f}%" if k in m else " " * (w + 1) for k, _, w in columns)
        typer.echo(f"  {row:<32} {metrics} {m['flutter']:6.2f} / {m['flutter_p95']:5.2f} {shares}".rstrip())
    typer.echo("beats: share of clips nearer the target (MAG) than the input, than the input at the target's loudness (@ref) "
               "and than the loudness-normalised input")
    if "probe" in result:
        p = result["probe"]
        typer.echo(f"probe fallback: masks and probe disagree by {p['disagreement_median']:.3f} (median) to {p['disagreement_max']:.3f} (largest) "
                   f"on this split; its gate opens at {p['gate'][0]:.2f}, on {p['opened']} of {result['examples']} clips "
                   "(set model.probe_gate above the largest on validation)")


def _evaluate_separator(model, data: Path, split: str, compare: dict, precision: str, as_json: bool, quiet: bool,
                        shuffle_video: bool = True, condition: str = "all", references: bool = True) -> None:
    from avremix.evaluate import evaluate_separation

    with _progress(quiet or as_json) as bar:
        task = bar.add_task("evaluate", total=None, clock="")
        result = evaluate_separation(model, data, split, compare=compare, precision=precision, shuffle_video=shuffle_video,
                                     condition=condition, references=references, on_clip=lambda i, n: bar.update(task, completed=i, total=n, clock=f"{i}/{n} clips"))
    if as_json:
        typer.echo(json.dumps(result, indent=2))
        return
    led = ", dialogue-led (music and effects 10 dB lower)" if condition == "dialogue-led" else ""
    typer.echo(f"{result['examples']} {split} clips{led}; SI-SDRi / SI-SDR / SDR in dB per stem"
               + ("; boost: what --gains dx=+6,mx=-6,fx=-6 moves the dialogue against the rest (12 dB asked), mean / worst clip" if "boost_moved" in result["rows"].get("model", {}) else ""))
    for row, m in result["rows"].items():
        cells = "  ".join(f"{s} {m[f'SI-SDRi_{s}']:+6.2f} / {m[f'SI-SDR_{s}']:6.2f} / {m[f'SDR_{s}']:6.2f}" for s in result["stems"])
        extra = f"   MAG(on) {m['MAG_on']:.5f}  T_A-V {m['T_A-V']:5.1f}%" if "T_A-V" in m else ""
        if "boost_moved" in m:
            extra += f"   boost {m['boost_moved']:+5.1f} / {m['boost_moved_min']:+5.1f} dB"
        typer.echo(f"  {row:<32} mean SI-SDRi {m['SI-SDRi_mean']:+6.2f}   {cells}{extra}")


def _evaluate_outputs(est, ref, input_dir, stems, run_dir, speech: bool, data, model_name, as_json: bool, quiet: bool) -> None:
    from avremix.scoring import jsonable, score_outputs, summary_lines, write_run
    from avremix.separate import STEM_NAMES

    if est is None or ref is None:
        raise UsageError("--est and --ref go together: the outputs and their references")
    if data is not None or model_name:
        raise UsageError("--est/--ref score files you already have; --data and --model score a model: choose one")
    names = None
    if stems:
        words = [w for s in stems for w in s.replace(",", " ").split()]
        bad = [w for w in words if w.lower() not in STEM_NAMES]
        if bad:
            raise UsageError(f"--stems: unknown stem {bad[0]!r}; use dx (dialogue), fx (effects) and mx (music)")
        names = list(dict.fromkeys(STEM_NAMES[w.lower()] for w in words))
    with _progress(quiet or as_json) as bar:
        task = bar.add_task("evaluate", total=None, clock="")
        result = score_outputs(est, ref, input_dir, names, speech=speech,
                               on_clip=lambda i, n, name: bar.update(task, completed=i, total=n, clock=f"{i}/{n} clips {name}"))
    written = write_run(result, run_dir) if run_dir is not None else ()
    for clip in result["clips"]:
        for note in clip["notes"]:
            err.print(f"avremix: note: {clip['name']}: {note}", highlight=False, soft_wrap=True)
    for what, names_ in result["unmatched"].items():
        if names_:
            err.print(f"avremix: warning: {what}, not scored: {', '.join(names_)}", highlight=False, soft_wrap=True)
    if as_json:
        typer.echo(json.dumps(jsonable(result), indent=2, allow_nan=False))
    else:
        for line in summary_lines(result):
            typer.echo(line)
    for path in written:
        err.print(f"wrote {path}", highlight=False)
    for f in result["failed"]:
        err.print(f"[bold red]avremix: error:[/] {f['error']}", highlight=False, soft_wrap=True)
    if result["failed"]:
        err.print(f"{result['examples']} scored, {len(result['failed'])} failed", highlight=False)
        raise typer.Exit(1)


@app.command()
@user_errors
def report(
    run: Path = typer.Argument(..., help="An evaluate run: the folder given to `avremix evaluate --est ... --out RUN` (or its metrics.json).", show_default=False),
    output: Path = typer.Option(..., "-o", "--output", help="The HTML file to write; its audio goes beside it in <name>_files/.", show_default=False),
    max_seconds: float = typer.Option(30.0, "--max-seconds", min=1.0, help="Spectrograms and players show each clip's first this many seconds (metrics are the whole clip's)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing report."),
    quiet: bool = _QUIET,
) -> None:
    """Write an HTML page of an evaluate run: the metric table (sortable, worst clip first) and, per clip,
    spectrograms on one scale with audio players and loudness over time."""
    from avremix.report import write_report

    if output.exists() and not overwrite:
        raise UsageError("output exists; pass --overwrite to replace it", output)
    with _progress(quiet) as bar:
        task = bar.add_task("report", total=None, clock="")
        path = write_report(run, output, max_seconds, on_clip=lambda i, n: bar.update(task, completed=i, total=n, clock=f"{i}/{n} clips"))
    err.print(f"wrote {path}", highlight=False)


@app.command()
@user_errors
def models(as_json: bool = _JSON) -> None:
    """List the models that ship with avremix."""
    from avremix.checkpoint import list_models

    found = list_models()
    if as_json:
        typer.echo(json.dumps(found, indent=2))
        return
    if not found:
        typer.echo("no models ship in this installation")
    for m in found:
        picture = f"{m['fps']} fps" if m["fps"] else "audio only"
        level = f"  output {m['target_lufs']:.1f} LUFS" if m.get("target_lufs") is not None else ""
        typer.echo(f"{m['name']:<20} {m['model']:<8} {m['size_mb']:>5} MB  {m['sample_rate']} Hz {picture:<10}{'  (default)' if m['default'] else ''}{level}  {m['summary']}")


@app.command()
@user_errors
def probe(
    path: Path = typer.Argument(..., help="Media file to describe.", show_default=False),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Show a file's container and streams, and which audio stream avremix processes by default."""
    from dataclasses import asdict

    from avremix.media import probe as probe_file

    info = probe_file(path)
    chosen = info.audio_stream().index if info.audio_streams else None
    if as_json:
        typer.echo(json.dumps({**asdict(info), "processed_audio_stream": chosen}, indent=2))
        return
    typer.echo(f"{info.path}: {info.container}, {info.duration or 0:.2f} s, {len(info.streams)} streams, {info.chapters} chapters")
    for s in info.streams:
        detail = {"audio": f"{s.sample_rate} Hz {s.layout} {s.sample_format}", "video": f"{s.width}x{s.height} {s.fps or 0:.3f} fps"}.get(s.type, "")
        if s.type in ("audio", "video") and s.start is not None and abs(s.start - info.start_time) > 0.01:
            detail += f" from {s.start - info.start_time:.2f} s"  # starts after the file does (audio after the picture)
        tags = " ".join(t for t in (f"lang={s.language}" if s.language else "", f"title={s.title!r}" if s.title else "", "default" if s.default else "") if t)
        mark = "  <- processed" if s.index == chosen else ""
        typer.echo(f"  #{s.index} {s.type:<10} {s.codec or '?':<10} {detail} {tags}{mark}".rstrip())


@app.command()
@user_errors
def assets(
    fetch: bool = typer.Option(False, "--fetch", help="First fetch the packages of --collection with apt-get download + dpkg -x; no root, nothing installed system-wide; finished packages are skipped."),
    collection: str = typer.Option("all", "--collection", help="With --fetch: starter (the speech, music, effects and ambience every shipped model was trained on; about 2.1 GB download, 1.9 GB on disk), extra (effects, ambience and six songs of 21 large game and simulator packages; about 6.8 GB download, 1.1 GB on disk) or all."),
    packages: list[str] = typer.Option(None, "--package", "-p", help="With --fetch: only this package (repeatable), instead of --collection; see the catalogue in avremix/data/sources/catalog.py."),
    refresh: bool = typer.Option(False, "--refresh", help="Re-index every package instead of using the cached index."),
    as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """Real recordings (speech, music, effects, ambience) from Debian packages: what is installed, in which split.

    The folder is $AVREMIX_ASSETS (default ~/.cache/avremix/assets)."""
    from avremix.data.sources.catalog import EXTRA, STARTER
    from avremix.data.sources.index import survey
    from avremix.errors import UsageError

    sets = {"starter": STARTER, "extra": EXTRA, "all": STARTER + EXTRA}
    if collection not in sets:
        raise UsageError(f"--collection must be starter, extra or all, got {collection!r}")
    if packages and not fetch:
        raise UsageError("--package chooses what --fetch fetches; add --fetch")

    def say(name: str, status: str) -> None:
        if not quiet and not as_json and status != "indexed":
            err.print(f"{name}: {status}", highlight=False)

    result = survey(list(packages or sets[collection]) if fetch else None, refresh=refresh, on_event=say)
    if as_json:
        typer.echo(json.dumps(result, indent=2))
    else:
        _print_assets(result)
    if result.get("fetch", {}).get("failed"):
        raise typer.Exit(1)


def _print_assets(result: dict) -> None:
    from rich.table import Table

    out = Console()
    for cat, info in result["categories"].items():
        table = Table(title=f"{cat}: {info['hours']:.2f} h in {info['files']} files", title_justify="left")
        for col in ("package", "collection", "split", "files", "hours", "rates (kHz)", "languages", "speakers / sources", "licence"):
            table.add_column(col, justify="right" if col in ("files", "hours") else "left", no_wrap=col == "package")
        for r in info["packages"]:
            langs = ", ".join(r["languages"][:3]) + (f" +{len(r['languages']) - 3}" if len(r["languages"]) > 3 else "")
            rates = ", ".join(f"{x / 1000:g}" for x in r["sample_rates"])
            table.add_row(r["package"], r["collection"], r["split"], str(r["files"]), f"{r['hours']:.2f}", rates, langs,
                          str(r.get("speakers", r.get("sources"))), r["licence"])
        out.print(table)
    cats = result["categories"]
    fx = {c: sum(r["hours"] for k in ("effects", "ambience") for r in cats[k]["packages"] if r["collection"] == c)
          for c in ("starter", "extra")}
    sung = result["sung"]
    out.print(f"effects + ambience: {fx['starter'] + fx['extra']:.2f} h (starter {fx['starter']:.2f}, extra {fx['extra']:.2f}); "
              f"music with sung vocals: {sung['minutes']:.1f} min in {sung['files']} file{'' if sung['files'] == 1 else 's'}",
              highlight=False, soft_wrap=True)
    held = "; ".join(f"{k}: {', '.join(v) or 'none'}" for k, v in result["held_out"].items())
    out.print(f"held out: {held}", highlight=False)
    out.print(f"folder: {result['assets']}", highlight=False)
    for name, why in result.get("fetch", {}).get("failed", {}).items():
        err.print(f"[bold red]avremix: failed:[/] {name}: {why}", highlight=False, soft_wrap=True)
    if not any(info["files"] for info in result["categories"].values()):
        err.print("no real recordings installed; run `make data-assets` (or `avremix assets --fetch`)", highlight=False)


datasets = typer.Typer(help="Build datasets (offline synthetic corpus, Muddy Mix, AV-CASS mixtures, hard pairs).", no_args_is_help=True)
app.add_typer(datasets, name="build-dataset")



_SOURCES = typer.Option("auto", "--sources", help="Where the sounds come from: real (recordings from `make data-assets`), procedural (generated, always available), assets (espeak-ng / fluidsynth / effect files from `make data-tools`), or auto (real recordings for every family the split has them for, else the tools for half the clips, else procedural).")
_ASSETS = typer.Option("starter", "--assets", help="With real recordings: starter (the collection every shipped model was trained on; the default, so builds stay as they were) or all (starter + the extra collection of effects, ambience and songs from the large game and simulator packages; `avremix assets` lists both).")
_PREVIEW = typer.Option(0, "--preview", min=0, help="Also write N examples as mp4 files (picture + one titled audio track per mix and stem) to OUTPUT/preview/, test split first.")


def _build(run, quiet: bool, as_json: bool, output: Path | None = None, preview: int = 0) -> None:
    """Run a dataset build with a progress bar counted in items, then report its summary (and write previews)."""
    with _progress(quiet or as_json) as bar:
        task = bar.add_task("building", total=None, clock="")
        summary = run(lambda done, total: bar.update(task, completed=done, total=total, clock=f"{done}/{total} items"))
    previews = []
    if preview:
        from avremix.data.preview import write_previews

        previews = [str(p) for p in write_previews(output, preview)]
    if as_json:
        typer.echo(json.dumps(summary.to_dict() | {"previews": previews}, indent=2))
    elif not quiet:
        splits = " / ".join(f"{k} {v}" for k, v in summary.per_split.items())
        err.print(f"built {summary.built} items ({summary.skipped} already done) in {summary.seconds:.1f} s; "
                  f"{summary.examples} examples ({splits}); {len(summary.dropped)} windows dropped", highlight=False)
        if previews:
            err.print(f"{len(previews)} previews in {Path(output) / 'preview'}", highlight=False)
    for f in summary.failed:
        where = "" if str(f["source"]) in f["error"] else f"{f['source']}: "  # errors usually name their file
        err.print(f"[bold red]avremix: failed:[/] {where}{f['error']}", highlight=False, soft_wrap=True)
    if summary.failed:
        raise typer.Exit(1)


@datasets.command("synth")
@user_errors
def build_synth(
    output: Path = _OUT,
    clips: int = typer.Option(200, "--clips", "-n", help="Number of 10 s clips."),
    duration: float = typer.Option(10.0, help="Seconds per clip."),
    sources: str = _SOURCES, assets: str = _ASSETS, preview: int = _PREVIEW,
    jobs: int = _JOBS, seed: int = _SEED, as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """Audio-visual clips with known stems and a director's mix that follows the picture."""
    from avremix.data import synth

    config = synth.SynthConfig(duration=duration, sources=sources, assets=assets)
    _build(lambda on_item: synth.build(output, clips, seed, config, jobs, on_item), quiet, as_json, output, preview)


@datasets.command("muddy")
@user_errors
def build_muddy(
    output: Path = _OUT,
    synth_dir: Path | None = typer.Option(None, "--synth", help="A synth corpus (known stems serve as the separation)."),
    videos: Path | None = typer.Option(None, "--videos", help="A folder of movie files (searched recursively)."),
    cmd_csv: Path | None = typer.Option(None, "--cmd-csv", help="Condensed Movies metadata CSV (videoid column); clips are downloaded with yt-dlp into OUTPUT/downloads."),
    separator: str | None = typer.Option(None, help="For --videos/--cmd-csv: the separator that splits each film into stems: separate-cass, separate-htdemucs, a model folder, or htdemucs:PATH (a checkpoint in demucs' format)."),
    peak_normalize: bool = typer.Option(False, "--peak-normalize", help="Scale each remix to the target's peak (avremix <= 0.4). Off: the input is the linear remix, as in the seed, so models learn to restore the level too."),
    mode: str = typer.Option("discrete", help="discrete (±6/9/12 dB, the paper), continuous (6-12 dB), timevarying (new gains every second)."),
    window: float = typer.Option(10.0, help="Seconds per example."),
    sources: str | None = typer.Option(None, "--sources", help="Instead of --synth: first build a synth corpus of --clips clips from these sources (real, procedural, assets or auto) into OUTPUT/synth."),
    clips: int = typer.Option(200, "--clips", "-n", help="With --sources: clips in that synth corpus."),
    assets: str = _ASSETS, preview: int = _PREVIEW,
    jobs: int = _JOBS, seed: int = _SEED, as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """The VisAH Muddy Mix recipe: separate, suppress the loudest stem, highlight the others, remix."""
    from avremix.data import muddy

    config = muddy.MuddyConfig(window=window, mode=mode, separator=separator, peak_normalize=peak_normalize)
    specs, failed = muddy.plan(output, synth_dir, videos, cmd_csv, config, seed, sources, clips, jobs, assets)
    _build(lambda on_item: muddy.build(output, specs, jobs, on_item, failed), quiet, as_json, output, preview)


@datasets.command("avdnr")
@user_errors
def build_avdnr(
    output: Path = _OUT,
    clips: int = typer.Option(200, "--clips", "-n", help="Number of mixtures."),
    duration: float = typer.Option(10.0, help="Seconds per mixture."),
    channels: int = typer.Option(1, "--channels", help="1: mono mixtures and stems, 2: stereo (dialogue near the centre, music as recorded, effects panned)."),
    sources: str = _SOURCES, assets: str = _ASSETS, preview: int = _PREVIEW,
    jobs: int = _JOBS, seed: int = _SEED, as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """AV-CASS mixtures: speech with its face video, effects with their scene video, music; film loudness."""
    from avremix.data import avdnr

    config = avdnr.AVDnRConfig(duration=duration, sources=sources, channels=channels, assets=assets)
    _build(lambda on_item: avdnr.build(output, clips, seed, config, jobs, on_item), quiet, as_json, output, preview)


@datasets.command("hardpairs")
@user_errors
def build_hardpairs(
    output: Path = _OUT,
    pairs: int = typer.Option(200, "--pairs", "-n", help="Number of pairs."),
    categories: str = typer.Option("speech,music,effects", "--categories", help="Comma-separated classes that targets and interferers are drawn from: speech (a voice; on screen a face whose mouth moves with it), music (on screen an object flashing at its notes), effects (sound events; on screen an object flashing at them)."),
    easy: float = typer.Option(0.25, "--easy", help="Probability (0 to 1) that a pair is easy: target and interferer from two different categories. The rest are hard: both from the same category (effects: the same class). With one category every pair is hard."),
    sources: str = typer.Option("auto", "--sources", help="real (recordings from `make data-assets`: speakers, music tracks, effect files whose class is the file name without digits), procedural (generated, always available), or auto (real for every category the split has them for)."),
    assets: str = _ASSETS, preview: int = _PREVIEW,
    jobs: int = _JOBS, seed: int = _SEED, as_json: bool = _JSON, quiet: bool = _QUIET,
) -> None:
    """AlignSep pairs for video-queried separation: an on-screen target and an off-screen interferer.

    Hard pairs take both from one category: candidates with different timing (speech and music gated into phrases, effects at random onsets), the pair with the most similar YAMNet embeddings kept; easy pairs (--easy) take two categories. The picture follows the target alone: a talking face for speech, an object flashing at its notes or events for music and effects."""
    from avremix.data import hardpairs
    from avremix.errors import UsageError

    names = tuple(dict.fromkeys(c.strip().lower() for c in categories.split(",") if c.strip()))
    unknown = [c for c in names if c not in hardpairs.CATEGORIES]
    if unknown or not names:
        raise UsageError(f"--categories: unknown category {', '.join(map(repr, unknown))}; choose from {', '.join(hardpairs.CATEGORIES)}"
                         if unknown else f"--categories is empty; choose from {', '.join(hardpairs.CATEGORIES)}")
    config = hardpairs.HardPairsConfig(sources=sources, categories=names, easy=easy, assets=assets)
    _build(lambda on_item: hardpairs.build(output, pairs, seed, config, jobs, on_item), quiet, as_json, output, preview)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
