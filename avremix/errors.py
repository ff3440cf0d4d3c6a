"""User-facing errors.

Anything raised as :class:`AvremixError` is printed by the CLI as one line on stderr (no traceback) and
turns into a non-zero exit code. The message names the file and says what was wrong and, where there is
one, what to do about it.
"""

from __future__ import annotations

import os
import signal


class AvremixError(Exception):
    """An error caused by the user's input or environment, not by a bug in avremix."""

    exit_code = 1

    def __init__(self, message: str, path: str | os.PathLike | None = None):
        self.path = None if path is None else os.fspath(path)
        super().__init__(f"{self.path}: {message}" if self.path else message)


class MediaError(AvremixError):
    """A media file cannot be read or written (missing, not media, truncated, no audio...)."""


class UsageError(AvremixError):
    """The command line asks for something that cannot be done (bad option combination...)."""

    exit_code = 2


class Terminated(BaseException):
    """SIGTERM, raised where the program is (like ``KeyboardInterrupt`` for SIGINT), so that every writer
    cleans up as for Ctrl-C; a ``BaseException``, so no ``except Exception`` swallows it."""


#: ``avremix --debug``: tracebacks instead of one-line errors (a batch then stops at a bug, to show it)
DEBUG = False


def signal_name(code: int) -> str:
    """``SIGSEGV`` for a child's return code -11 (or for 11): how a process that a signal killed is named."""
    try:
        return signal.Signals(abs(code)).name
    except ValueError:
        return f"signal {abs(code)}"


def internal_error_line(e: BaseException) -> str:
    """One line for an exception that is a bug of avremix's, not the user's doing."""
    first = str(e).splitlines()[0] if str(e) else ""
    return f"internal error: {type(e).__name__}: {first} (rerun with `avremix --debug ...` for the traceback, and please report it)"


#: The signal that asked the running command to stop (set by the CLI's handlers, which must not import
#: anything: a signal can land in the middle of an import).
STOP: int | None = None


def check_stop() -> None:
    """Raise the interruption a signal asked for. The handler raises it too, but a library that catches
    everything (a C callback, an import in progress) can swallow that raise; the pipeline calls this at
    every block and between files."""
    if STOP is not None:
        raise KeyboardInterrupt if STOP == signal.SIGINT else Terminated
