"""A batch in a worker process, so that a native crash ends one file, not the batch.

``avremix highlight`` and ``avremix separate`` run the command the user typed again as a *worker* process
(the same arguments) and only watch it: the worker sends, over a pipe, the number of files it plans, which
file it starts and what came of each. A segmentation fault or an abort in native code (a decoder, an
encoder, the network) kills the worker, not the command: the file it was on is reported failed with one
line, a new worker takes the files after it (loading the model again), and the summary counts it.

Cost, measured on a 2-core machine: the watching process imports no torch and no media library (it
reads :class:`avremix.result.FileResult`, not the pipeline), so it costs one more Python start-up, about
0.25 s and 20 MB once per command (a 4 s clip with the default model: 4.17 against 3.82 s); files run
exactly as before, in the worker; a crash costs a restart of the worker (about 1.6 s with the default
separator). ``AVREMIX_ISOLATE=0`` runs the batch in the command's own process instead.

Signals: the worker starts with SIGINT and SIGTERM blocked, and unblocks them once its handlers are in
place (:func:`ready`), so a signal that comes while it starts is delivered then, not lost and not a
traceback; the watcher passes SIGINT and SIGTERM on to the worker, waits for it to clean up and exits
with its code.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from avremix.errors import signal_name

ENV_FD = "AVREMIX_WORKER_FD"  # set in a worker: the pipe it reports on
ENV_FIRST = "AVREMIX_WORKER_FIRST"  # set in a worker: the first planned file it runs (earlier ones are done)
ENV_ISOLATE = "AVREMIX_ISOLATE"  # 0: no worker process
_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def enabled() -> bool:
    """Whether this command should run its batch in a worker: on POSIX, when the command line is this
    process's own (started from a shell, not called from Python), unless ``AVREMIX_ISOLATE=0`` or this is
    the worker."""
    started_as_cli = Path(sys.argv[0]).name in ("avremix", "cli.py") and len(sys.argv) > 1
    return os.name == "posix" and started_as_cli and os.environ.get(ENV_ISOLATE, "1") != "0" and ENV_FD not in os.environ


class Channel:
    """The worker's side of the pipe: one JSON line per message."""

    def __init__(self, fd: int, first: int):
        self.first = first
        self._file = os.fdopen(fd, "w", buffering=1)

    def send(self, **message) -> None:
        self._file.write(json.dumps(message) + "\n")


_CHANNEL: Channel | None = None


def channel() -> Channel | None:
    """In a worker, the pipe to the watching process (None elsewhere)."""
    global _CHANNEL
    if _CHANNEL is None and ENV_FD in os.environ:
        _CHANNEL = Channel(int(os.environ[ENV_FD]), int(os.environ.get(ENV_FIRST, "0")))
    return _CHANNEL


def ready() -> None:
    """Called once the command's signal handlers are installed: a worker's SIGINT and SIGTERM, blocked
    since it started, are delivered from now on (a no-op elsewhere)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


@dataclass
class Outcome:
    """What the workers came to: the results (as ``FileResult`` dicts, in the batch's order) and, when a
    worker ended the command itself (a usage error before any file, an interruption), its exit code."""

    results: list[dict] = field(default_factory=list)
    exit_code: int | None = None
    message: str | None = None  # a line to print, when no worker printed one


def crash_line(path: str, code: int) -> str:
    """One line for a file whose worker died with ``code`` (a negative signal number, or an exit code)."""
    if code < 0:
        name = signal_name(code)
        what = {"SIGSEGV": "a segmentation fault", "SIGABRT": "an abort", "SIGBUS": "a bus error", "SIGFPE": "an arithmetic fault",
                "SIGILL": "an illegal instruction", "SIGKILL": "killed, perhaps for lack of memory"}.get(name, name)
        cause = f"{what} ({name})"
    else:
        cause = f"the worker process exited with code {code}"
    return (f"{path}: avremix crashed on this file: {cause} in native code (a decoder, an encoder or the network); "
            "please report it, with what `avremix probe` says of the file")


def supervise(argv: list[str] | None = None, summary: str | os.PathLike | None = None) -> Outcome:
    """Run this command line in worker processes until every file of its batch has a result."""
    argv = list(sys.argv[1:] if argv is None else argv)
    outcome = Outcome()
    by_index: dict[int, dict] = {}
    first, planned, meta = 0, None, {}
    while True:
        report = _run_worker(argv, first)
        for k, result in report.results:
            if k is None:
                outcome.results.append(result)  # an input that gave no file: reported by the first worker only
            else:
                by_index[k] = result
        planned = report.planned if report.planned is not None else planned
        meta = report.meta or meta
        if report.current is None or report.stopped:
            # every file done, or the worker stopped the command (usage error, interruption): its code
            if report.code != 0:
                outcome.exit_code = report.code if report.code > 0 else 128 - report.code
                if report.code < 0 and not report.stopped:  # it died outside any file: nobody said why yet
                    outcome.message = crash_line("avremix", report.code).replace(" on this file", " outside any file")
            break
        k, path, output, made = report.current
        if output:
            remove_partial(Path(output), made)
        result = {"input": path, "output": None, "ok": False, "error": crash_line(path, report.code), "exit_code": 1}
        by_index[k] = result
        if summary:
            with open(summary, "a") as f:
                f.write(json.dumps({"input": path, "output": None, "ok": False, "skipped": False, "error": result["error"],
                                    "seconds": None, "realtime": None, "duration": None, **meta}) + "\n")
        first = k + 1
        if planned is not None and first >= planned:
            break
    outcome.results += [by_index[k] for k in sorted(by_index)]
    return outcome


def remove_partial(output: Path, made: bool = False) -> None:
    """What a worker that died while writing ``output`` left: the hidden temporary file (or stems folder)
    beside it, which is renamed into place only when complete (``.NAME.*.part.EXT``, ``.NAME.part-*``),
    and, when it was ``made`` for this output, the output's folder if that is left empty."""
    import shutil

    folder = output.parent
    if not folder.is_dir():
        return
    for name in os.listdir(folder):
        if name.startswith(f".{output.stem}.") and (".part." in name or ".part-" in name):
            target = folder / name
            shutil.rmtree(target, ignore_errors=True) if target.is_dir() else target.unlink(missing_ok=True)
    if made:
        try:
            folder.rmdir()  # only while empty
        except OSError:
            pass


@dataclass
class _Report:
    results: list = field(default_factory=list)  # (plan index or None, result dict)
    planned: int | None = None
    meta: dict = field(default_factory=dict)
    current: tuple[int, str, str | None, bool] | None = None  # the file begun and not finished: (k, input, output, folder made for it)
    code: int = 0
    stopped: bool = False  # a signal was passed on: the worker's exit is the command's


def _run_worker(argv: list[str], first: int) -> _Report:
    report = _Report()
    read, write = os.pipe()
    env = {**os.environ, ENV_FD: str(write), ENV_FIRST: str(first)}
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)  # inherited by the worker until it is ready
    try:
        proc = subprocess.Popen([sys.executable, "-m", "avremix.cli", *argv], pass_fds=(write,), env=env)
    finally:
        os.close(write)

    def forward(signum, frame) -> None:
        report.stopped = True
        proc.send_signal(signum)

    handlers = {sig: signal.signal(sig, forward) for sig in _SIGNALS}
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    try:
        with os.fdopen(read) as pipe:
            for line in pipe:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if "plan" in message:
                    report.planned, report.meta = message["plan"], message.get("meta", {})
                elif "begin" in message:
                    report.current = (message["begin"], message["input"], message.get("output"), bool(message.get("made")))
                elif "result" in message:
                    report.results.append((message.get("k"), message["result"]))
                    if report.current is not None and report.current[0] == message.get("k"):
                        report.current = None
        report.code = proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    return report
