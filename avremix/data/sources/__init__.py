"""Single-source audio generators for the offline synthetic audio-visual corpus.

Where speech (and music, sound effects) comes from, by module:

- :mod:`~avremix.data.sources.procedural`: the procedural family (numpy/scipy only, always available):
  formant speech (:class:`Speaker`, :func:`speech_procedural`), composed music (:func:`compose_music`,
  :func:`music_procedural`), synthesised sound effects (:func:`effect_events_procedural`) and room tone
  (:func:`ambience`).
- :mod:`~avremix.data.sources.tools`: the asset-backed family, Debian tools and data installed system-wide
  (:func:`find_assets`): espeak-ng speech (:func:`speech_espeak`), fluidsynth music (:func:`write_midi`,
  :func:`music_fluidsynth`), sound-effect files (:func:`effect_events_assets`).
- ``real.py``: the ``real`` family, real recordings, with the catalogue / fetch / index modules beside it
  (``catalog.py``, ``fetch.py``, ``index.py``).
- :mod:`~avremix.data.sources.common`: what the families share: constants, :class:`AssetsUnavailable`, the
  data types :class:`SourceClip` and :class:`EffectEvent`, :func:`activity_envelope` and small DSP / I/O
  helpers.

The generators' public names are re-exported here (``from avremix.data import sources;
sources.speech_procedural(...)``).
"""

from __future__ import annotations

from avremix.data.sources.common import (
    AMBIENCE_PEAK, DEFAULT_SR, EFFECT_CLASSES, MUSIC_PEAK, SPEECH_PEAK, AssetsUnavailable, EffectEvent, SourceClip,
    activity_envelope,
)
from avremix.data.sources.procedural import (
    BASS, DRUMS, HAT, KICK, LEAD, PAD, SNARE, VOWELS, MidiNote, Piece, Speaker, ambience, compose_music,
    effect_events_procedural, music_procedural, speech_procedural,
)
from avremix.data.sources.tools import (
    NOT_EFFECTS, Assets, EspeakSpeaker, effect_events_assets, english_sentence, find_assets, music_fluidsynth,
    speech_espeak, write_midi,
)

__all__ = [
    "AMBIENCE_PEAK", "BASS", "DEFAULT_SR", "DRUMS", "EFFECT_CLASSES", "HAT", "KICK", "LEAD", "MUSIC_PEAK", "NOT_EFFECTS",
    "PAD", "SNARE", "SPEECH_PEAK", "VOWELS",
    "Assets", "AssetsUnavailable", "EffectEvent", "EspeakSpeaker", "MidiNote", "Piece", "SourceClip", "Speaker",
    "activity_envelope", "ambience", "compose_music", "effect_events_assets", "effect_events_procedural",
    "english_sentence", "find_assets", "music_fluidsynth", "music_procedural", "speech_espeak",
    "speech_procedural", "write_midi",
]
