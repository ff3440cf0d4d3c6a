"""The words of ``--stems``: light enough for the command line to read before any model is loaded."""

from __future__ import annotations

from pathlib import Path

from avremix.errors import UsageError

#: what --stems accepts → the stem's name
STEM_NAMES = {"dx": "dialogue", "fx": "effects", "mx": "music", "dialogue": "dialogue", "effects": "effects", "music": "music",
              "on": "on", "off": "off"}
ONSCREEN_STEMS = ("on", "off")
STEM_HELP = "use dx (dialogue), fx (effects) and mx (music), or on and off (on screen, off screen: separate-onscreen)"


def split_stem_words(inputs: list[Path], stems: list[str] | None) -> tuple[list[Path], list[str]]:
    """``--stems dx fx mx``: the shell gives ``fx`` and ``mx`` to the inputs; take back the words after
    ``--stems`` that are stem names and no file. ``dx,fx`` works too; no ``--stems`` (``[]``) means every
    stem of the model."""
    if not stems:
        return inputs, []
    words = [w for s in stems for w in s.replace(",", " ").split()]
    files = [p for p in inputs if not (str(p).lower() in STEM_NAMES and not p.exists())]
    words += [str(p) for p in inputs if p not in files]
    if not files:
        raise UsageError("no input file given (the words after --stems are stem names)")
    return files, words
