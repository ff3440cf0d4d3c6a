"""The file path every command shares: inputs → probe → decode in blocks → engine → writers → atomic rename,
and batches of files in which one bad file never stops the others.

``highlight`` (one remixed copy of each input) and ``separate`` (stems of each input) differ only in what
they write; everything before the writer, and the batch loop around it, is here.

Batches (:func:`run_many`) are safe to split, interrupt, resume and repeat:

- inputs are files, folders (``recursive``: their whole tree, mirrored under ``-o``) and glob patterns;
- ``shard = (I, N)`` keeps the files whose path below its root hashes to ``I - 1`` modulo ``N`` (SHA-1),
  so N machines given the same arguments cover every file exactly once;
- ``skip_existing`` skips files whose output exists (outputs appear only complete: temporary name, then
  rename), so the same command finishes an interrupted job;
- ``summary`` appends one JSON line per file as it finishes;
- two inputs that map to one output, or an output that would overwrite another input of the batch, fail
  (both named) before anything is written, and the rest go on.
"""

from __future__ import annotations

import glob
import hashlib
import json
import math
import os
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from avremix import errors
from avremix.engine import ChunkModel, Engine, EngineConfig
from avremix.errors import AvremixError, MediaError, UsageError, check_stop
from avremix.features.context import ContextFeatures
from avremix.media import AudioDecoder, FrameSampler, probe
from avremix.media.prefetch import prefetched
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, MediaInfo
from avremix.result import FileResult

#: Called with (seconds done, seconds in total or None).
Progress = Callable[[float, float | None], None]


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
                "sample_rate": self.decoder.sample_rate, "channels": self.decoder.channels, "warnings": list(self.decoder.warnings)}


def open_source(path: str | os.PathLike, audio_stream: int | None = None) -> Source:
    """Probe ``path`` and open its audio stream (``MediaError`` when it cannot be read)."""
    started = time.perf_counter()
    info = probe(path)
    return Source(path, info, AudioDecoder(path, audio_stream=audio_stream, info=info), started)


def processed(source: Source, model: ChunkModel | None, config: EngineConfig | None = None, strength: float = 1.0,
              on_progress: Progress | None = None, context: ContextFeatures | None = None,
              captions: str | os.PathLike | None = None, picture: tuple | None = None, no_video: bool = False) -> Iterator[np.ndarray]:
    """The source's audio through ``model`` in chunks: blocks ``[C, n]`` (a separator's ``[K, C, n]``);
    without a model (or at strength 0), the decoded audio itself. ``picture`` (``(path, MediaInfo)``) is
    another video whose frames, from its own start, the model sees instead of the source's; ``no_video``
    gives a model that can run without a picture none (its null picture), as for an audio file."""
    decoder = source.decoder
    total = decoder.expected_duration
    report = (lambda s: on_progress(min(s, total) if total else s, total)) if on_progress else None
    if model is None or strength == 0:
        return _stoppable(_counting(decoder, decoder.sample_rate, report) if report is not None else decoder)
    if no_video and getattr(model, "fps", None) and not getattr(model, "picture_optional", False):
        raise UsageError("--no-video: this model needs the picture; use one that runs on audio alone (separate-cass)")
    engine = Engine(model, decoder.sample_rate, config, strength=strength)
    path, info, start = (picture[0], picture[1], picture[1].start_time) if picture is not None else (source.path, source.info, decoder.start)
    visual = None if no_video else visual_context(model, path, info, start, context, captions)
    if PREFETCH and visual is not None:  # decode the picture in a thread, ahead of the model
        visual = prefetched(visual, depth=PREFETCH)
    return _stoppable(engine.stream(decoder, visual, on_progress=report))


#: the highest sample peak --loudness may raise audio to (dBFS): a level that needs more is given less, and said
PEAK_CEILING_DBFS = -1.0


@dataclass
class LoudnessResult:
    """What :func:`loudness_normalised` did: the audio's integrated loudness before and after (LUFS), the
    gain (dB) and whether the peak ceiling held it below its target."""

    target: float
    before: float = -math.inf
    after: float = -math.inf
    gain_db: float = 0.0
    peak_limited: bool = False

    def measured(self, meter) -> "LoudnessResult":
        """The gain to the target from a :class:`~avremix.metrics.LoudnessMeter` that has seen the whole
        audio: ``target − before`` dB, capped so that the sample peak stays at :data:`PEAK_CEILING_DBFS`;
        0 dB for silence."""
        self.before = meter.integrated()
        if math.isfinite(self.before):
            gain_db = self.target - self.before
            ceiling = PEAK_CEILING_DBFS - 20 * math.log10(meter.peak) if meter.peak > 0 else math.inf
            self.peak_limited = gain_db > ceiling
            self.gain_db = min(gain_db, ceiling)
            self.after = self.before + self.gain_db
        return self

    def as_dict(self) -> dict:
        """For ``--json``: levels rounded to 0.01, ``None`` for silence."""
        return {k: (round(v, 2) if math.isfinite(v) else None) if isinstance(v, float) else v for k, v in asdict(self).items()}


def loudness_normalised(blocks: Iterable[np.ndarray], sample_rate: int, target_lufs: float, folder: str | os.PathLike,
                        result: LoudnessResult | None = None) -> Iterator[np.ndarray]:
    """``blocks`` (``[C, n]``) with one gain over the whole stream, so that its BS.1770 integrated loudness
    is ``target_lufs``: the two-pass way (ffmpeg's ``loudnorm`` in linear mode), which keeps every change of
    level inside the stream (no dynamic compression). Pass one measures the blocks as they come
    (:class:`avremix.metrics.LoudnessMeter`) and keeps them in an unnamed float32 file in ``folder``
    (deleted on close, even when the run fails; about 1.4 GB per hour of 48 kHz stereo); pass two reads them
    back with the gain. The gain is capped so that the sample peak stays at or below
    :data:`PEAK_CEILING_DBFS` (``result.peak_limited`` says so); silence passes unchanged. ``result`` is
    filled in once pass one is done."""
    from avremix.metrics import LoudnessMeter

    result = result if result is not None else LoudnessResult(target_lufs)
    meter = LoudnessMeter(sample_rate)
    with tempfile.TemporaryFile(dir=folder, prefix=".avremix-loudness-") as spool:
        shapes = []
        for block in blocks:
            block = np.ascontiguousarray(block, dtype=np.float32)
            meter.add(block)
            spool.write(block.tobytes())
            shapes.append(block.shape)
        result.measured(meter)
        gain = np.float32(10 ** (result.gain_db / 20))
        spool.seek(0)
        for shape in shapes:
            check_stop()  # Ctrl-C stops pass two too
            n = int(np.prod(shape))
            yield np.frombuffer(spool.read(4 * n), dtype=np.float32).reshape(shape) * gain


#: frames decoded ahead of the model, in a thread (0: decode in the engine's thread)
PREFETCH = 64
#: skip non-reference pictures, the picture before standing in (``FrameSampler(nearest_reference=)``): a fifth less
#: decoding of H.264 High, frames up to one source frame early; off until a shipped default takes it with `make bench`
NEAREST_REFERENCE = False


def _stoppable(blocks: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
    for block in blocks:
        check_stop()
        yield block


@dataclass
class Job:
    """One input of a batch and where its output goes below ``-o``: ``rel`` is its name, or with
    ``recursive`` its path below the folder given (the shard hash and the mirrored tree use it)."""

    input: Path
    rel: Path


@dataclass
class BatchOptions:
    recursive: bool = False
    shard: tuple[int, int] | None = None  # (I, N), I counted from 1
    skip_existing: bool = False
    summary: str | os.PathLike | None = None  # JSON lines, appended
    meta: dict = field(default_factory=dict)  # written into every summary line (model, version)
    # a worker process (``avremix.isolation``): the planned files before ``first`` were done by an earlier
    # worker; ``on_plan(n)``, ``on_begin(k, input, output, made)`` (made: its folder is made for it) and
    # ``on_result(k, result)`` (k None for an input that gave no file) tell the watching process where the batch is
    first: int = 0
    on_plan: Callable[[int], None] | None = None
    on_begin: Callable[[int, str, str, bool], None] | None = None
    on_result: Callable[[int | None, "FileResult"], None] | None = None


def parse_shard(text: str | None) -> tuple[int, int] | None:
    """``"2/8"`` → ``(2, 8)``; I counts from 1 to N, as in coreutils' ``split -n l/K/N``."""
    if text is None:
        return None
    i, sep, n = text.partition("/")
    if not sep or not i.strip().isdigit() or not n.strip().isdigit() or not 1 <= int(i) <= int(n):
        raise UsageError(f"--shard takes I/N with 1 <= I <= N (e.g. 3/8), got {text!r}")
    return int(i), int(n)


def shard_of(rel: Path, n: int) -> int:
    """The shard (0 .. n-1) of a file by its path below its root: a stable hash, the same on every machine."""
    return int(hashlib.sha1(rel.as_posix().encode()).hexdigest()[:12], 16) % n


def _is_media(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS | VIDEO_EXTENSIONS and not p.name.startswith(".")


def expand_jobs(inputs: Iterable[str | os.PathLike], recursive: bool = False) -> tuple[list[Job], list[FileResult]]:
    """The batch's files (folders expanded, sorted; glob patterns matched) and the inputs that gave none
    (a folder without media, a pattern that matches nothing) as failed results."""
    jobs: list[Job] = []
    empty: list[FileResult] = []
    for item in inputs:
        p = Path(item)
        if not p.exists() and any(c in str(item) for c in "*?["):
            matches = sorted(Path(m) for m in glob.glob(str(item), recursive=True))
            files = [m for m in matches if _is_media(m)]
            for d in (m for m in matches if m.is_dir()):
                found, _ = expand_jobs([d], recursive)
                files += [j.input for j in found]
            if not files:
                empty.append(FileResult(input=str(item), output=None, ok=False, error=f"{item}: the pattern matches no media file"))
            jobs += [Job(f, Path(f.name)) for f in files]
        elif p.is_dir():
            walk = p.rglob("*") if recursive else p.iterdir()
            files = sorted(f for f in walk if _is_media(f) and not any(part.startswith(".") for part in f.relative_to(p).parts[:-1]))
            if not files:
                kinds = " ".join(sorted(AUDIO_EXTENSIONS | VIDEO_EXTENSIONS))
                hint = "" if recursive else "; pass --recursive to look into its subfolders"
                empty.append(FileResult(input=str(p), output=None, ok=False, error=f"{p}: the folder holds no media files ({kinds}){hint}"))
            jobs += [Job(f, f.relative_to(p)) for f in files]
        else:
            jobs.append(Job(p, Path(p.name)))
    return jobs, empty


def expand_inputs(inputs: Iterable[str | os.PathLike], recursive: bool = False) -> list[Path]:
    """Files as given, folders replaced by the media files they hold (sorted), glob patterns matched."""
    return [job.input for job in expand_jobs(inputs, recursive)[0]]


def run_many(inputs: Iterable[str | os.PathLike], output: str | os.PathLike, run_one: Callable[[Path, Path], FileResult],
             target: Callable[[Path, Path], Path] = lambda path, folder: folder / path.name,
             on_file: Callable[[int, int, str], None] | None = None, options: BatchOptions | None = None,
             single: Path | None = None) -> list[FileResult]:
    """``run_one(input, folder)`` for every file of the batch; ``target(input, folder)`` is the output it
    will write (``folder`` is ``output``, or its mirror of the input's subfolder). A file that fails has
    ``ok=False`` and its error (one line), and the others go on. ``single``: a batch of one file written
    to this exact path (``-o FILE``) instead of into the folder ``output``."""
    options = options or BatchOptions()
    jobs, results = expand_jobs(inputs, options.recursive)
    if options.summary:
        try:
            Path(options.summary).touch()  # exists even for a shard that holds no file
        except OSError as e:
            raise UsageError(f"--summary: cannot write there ({e.strerror})", options.summary) from None
    if options.shard is not None:
        i, n = options.shard
        jobs = [job for job in jobs if shard_of(job.rel, n) == i - 1]
    out_dir = Path(output)
    plan: list[tuple[Job, Path, Path]] = []  # job, folder given to run_one, final output
    if not jobs:
        pass  # nothing to write (a shard without files, or inputs that all gave none): no output folder either
    elif single is not None and len(jobs) == 1 and not results:
        plan = [(jobs[0], single.parent, single)]
    else:
        if out_dir.exists() and not out_dir.is_dir():
            raise UsageError("is a file; -o must be a folder for several inputs (or give one input and an output file name)", out_dir)
        for job in jobs:
            folder = out_dir / job.rel.parent
            plan.append((job, folder, target(job.input, folder)))
    clashes = _clashes(plan)
    summary = open(options.summary, "a", buffering=1) if options.summary else None

    def record(result: FileResult) -> None:
        if summary is not None:
            line = {key: getattr(result, key) for key in ("input", "output", "ok", "skipped", "error", "seconds", "realtime", "duration")}
            summary.write(json.dumps({**line, **options.meta}) + "\n")

    if options.first:  # an earlier worker reported the inputs that gave no file
        results = []
    if options.on_plan is not None:
        options.on_plan(len(plan))
    try:
        for result in results:  # inputs that gave no file (an empty folder, a pattern matching nothing)
            record(result)
            if options.on_result is not None:
                options.on_result(None, result)
        for k, (job, folder, final) in enumerate(plan):
            if k < options.first:
                continue
            check_stop()
            if on_file is not None:
                on_file(k, len(plan), str(job.input))
            started = time.perf_counter()
            if k in clashes:
                result = FileResult(input=str(job.input), output=None, ok=False, error=clashes[k])
            elif options.skip_existing and os.path.lexists(final):
                result = FileResult(input=str(job.input), output=str(final), skipped=True)
            else:
                made = not folder.exists()
                if options.on_begin is not None:
                    options.on_begin(k, str(job.input), str(final), made)
                result = _run_one(run_one, job.input, folder, final, made=made)
            result.seconds = result.seconds if result.seconds is not None else round(time.perf_counter() - started, 3)
            results.append(result)
            record(result)
            if options.on_result is not None:
                options.on_result(k, result)
    finally:
        if summary is not None:
            summary.close()
    return results


def _run_one(run_one: Callable[[Path, Path], FileResult], path: Path, folder: Path, final: Path, made: bool) -> FileResult:
    """One file; every error it can meet becomes one line, and a folder made for it alone is removed again."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return run_one(path, folder)
    except AvremixError as e:
        error, code = str(e), e.exit_code
    except OSError as e:
        error, code = os_error_line(e, final), 1
    except Exception as e:  # a bug met on this file: the others go on (with --debug it stops here, traceback and all)
        if errors.DEBUG:
            raise
        error, code = f"{path}: {errors.internal_error_line(e)}", 3
    if made:
        for parent in (folder, *folder.parents):
            try:
                parent.rmdir()  # only while empty
            except OSError:
                break
    return FileResult(input=str(path), output=None, ok=False, error=error, exit_code=code)


def os_error_line(e: OSError, path: str | os.PathLike) -> str:
    """One line for an error of the file system on the output side (read-only folder, full disk, a parent
    that is a file...), naming the output and saying what to do."""
    import errno

    what = {errno.ENOTDIR: "a parent of the output is a file, not a folder", errno.EEXIST: "a parent of the output is a file, not a folder",
            errno.EACCES: "cannot write there (permission denied); choose a folder you can write to",
            errno.EROFS: "the file system is read-only; choose another output folder",
            errno.ENOSPC: "no space left on the device; free some space and rerun with --skip-existing",
            errno.EFBIG: "the output is too large for this file system or for the file-size limit (ulimit -f)",
            errno.EDQUOT: "disk quota exceeded; free some space and rerun with --skip-existing"}.get(e.errno, e.strerror or str(e))
    return f"{path}: {what}"


def _clashes(plan: list[tuple[Job, Path, Path]]) -> dict[int, str]:
    """Outputs that two inputs of the batch would both write, or that are another input of the batch."""
    by_output: dict[Path, list[Path]] = {}
    for job, _, final in plan:
        by_output.setdefault(Path(os.path.abspath(final)), []).append(job.input)
    inputs = {Path(os.path.abspath(job.input)): job.input for job, _, _ in plan}
    errors: dict[int, str] = {}
    for k, (job, _, final) in enumerate(plan):
        absolute = Path(os.path.abspath(final))
        others = [p for p in by_output[absolute] if p != job.input]
        if others:
            errors[k] = f"{job.input}: {others[0]} of the same batch maps to the same output {final}; rename one of them, or use --recursive to keep their folders apart"
        elif absolute in inputs and inputs[absolute] != job.input:
            errors[k] = f"{job.input}: its output {final} is another input of this batch; choose another -o"
    return errors


def visual_context(model: ChunkModel, path, info, start: float, context: ContextFeatures | None = None,
                   captions: str | os.PathLike | None = None) -> Iterator | None:
    """Frames (or feature streams) at the model's fps from ``start``; None for an audio-only model."""
    fps = getattr(model, "fps", None)
    if not fps:
        return None
    if not info.has_video:
        if getattr(model, "picture_optional", False):
            return None  # audio alone: the model's null picture
        raise MediaError("has no video stream; this model needs the picture", path)
    size = getattr(model, "frame_size", (224, 224))
    frames = iter(FrameSampler(path, fps=fps, size=size, start=start, info=info, nearest_reference=NEAREST_REFERENCE))
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
