"""Locating and running the ffmpeg binary.

A system ffmpeg on ``PATH`` is used when there is one; otherwise the static binary shipped by the
``imageio-ffmpeg`` wheel. ``AVREMIX_FFMPEG`` overrides both.
"""

from __future__ import annotations

import functools
import os
import shutil

from avremix.errors import AvremixError


@functools.lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary avremix runs."""
    override = os.environ.get("AVREMIX_FFMPEG")
    if override:
        if not (os.path.isfile(override) and os.access(override, os.X_OK)):
            raise AvremixError(f"AVREMIX_FFMPEG={override} is not an executable file")
        return override
    system = shutil.which("ffmpeg")
    if system:
        return system
    try:
        import imageio_ffmpeg
    except ImportError:  # pragma: no cover - a dependency of the package
        raise AvremixError("no ffmpeg found: install ffmpeg or `pip install imageio-ffmpeg`") from None
    return imageio_ffmpeg.get_ffmpeg_exe()
