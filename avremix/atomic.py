"""Atomic writes: build a file under a temporary name in the destination folder, then rename it."""

from __future__ import annotations

import os


def publish(tmp: str | os.PathLike, final: str | os.PathLike) -> None:
    """Give ``tmp`` the permissions a new file would get (``mkstemp`` makes it private) and rename it to
    ``final`` in one step, so readers see either nothing or the whole file."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(tmp, 0o666 & ~mask)
    os.replace(tmp, final)
