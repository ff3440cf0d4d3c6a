"""Asset-backed single-source generators: Debian tools and data files installed system-wide.

Conventions as for every generator (see :mod:`avremix.data.sources.common`); :func:`music_fluidsynth` renders
a piece from :func:`avremix.data.sources.procedural.compose_music`.

Asset-backed family (Debian packages; each raises :class:`AssetsUnavailable` when what it needs is missing)
    :func:`find_assets`
        Locates ``espeak-ng``, ``fluidsynth``, a General MIDI soundfont and sound-effect files
        (sound-theme-freedesktop, heroes-sound-effects).
    :func:`speech_espeak`
        Random English sentences (built-in word list and grammar templates, :func:`english_sentence`)
        spoken by espeak-ng with a random :class:`EspeakSpeaker` (voice variant, speed, pitch, word gap).
    :func:`music_fluidsynth`
        The same composition logic, written as a Standard MIDI File by :func:`write_midi` with random General
        MIDI programs, rendered by fluidsynth.
    :func:`effect_events_assets`
        Events cut from sound-effect files (trimmed, at most 3 s, faded out); class = file stem.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from avremix.data.sources.common import (
    DEFAULT_SR, MUSIC_PEAK, SPEECH_PEAK, AssetsUnavailable, EffectEvent, SourceClip, clip, event_onsets, fade,
    fit_length, normalise, num_events, num_samples, read_audio, run_tool, stable_hash, trim_silence,
)
from avremix.data.sources.procedural import BASS, LEAD, PAD, MidiNote, compose_music

__all__ = [
    "NOT_EFFECTS", "Assets", "EspeakSpeaker",
    "effect_events_assets", "english_sentence", "find_assets", "music_fluidsynth", "speech_espeak", "write_midi",
]


# ----------------------------------------------------------------------------------------------------------
# asset-backed generators
# ----------------------------------------------------------------------------------------------------------

_SOUNDFONTS = ("/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/FluidR3_GM.sf2",
               "/usr/share/sounds/sf2/default-GM.sf2")
_SOUNDFONT_DIR = "/usr/share/sounds/sf2"
_EFFECT_DIRS = ("/usr/share/sounds/freedesktop", "/usr/share/games/heroes", "/usr/share/heroes", "/usr/share/sounds")
_EFFECT_EXTS = (".wav", ".ogg", ".oga", ".flac", ".mp3")
#: Files under the effect folders that are not sound effects: spoken words (freedesktop's channel names,
#: heroes' "go" / "oh yeah" / "no" / "oh" voice samples) and musical jingles (heroes' end-of-level and dream
#: tunes). Excluded by ``find_assets(curated=True)`` so that the effects stem holds no speech or music.
NOT_EFFECTS = ("audio-channel-*", "go", "ho_yeh", "no", "oh", "finlevel", "dream")


@dataclass
class Assets:
    """What the asset-backed generators can use on this machine (see :func:`find_assets`)."""

    espeak: str | None = None
    fluidsynth: str | None = None
    soundfont: str | None = None
    effect_files: list[str] = field(default_factory=list)

    @property
    def available(self) -> dict[str, bool]:
        """Per family ("speech", "music", "effects"): whether its asset-backed generator can run."""
        return {"speech": self.speech_available, "music": self.music_available, "effects": self.effects_available}

    @property
    def speech_available(self) -> bool:
        return self.espeak is not None

    @property
    def music_available(self) -> bool:
        return self.fluidsynth is not None and self.soundfont is not None

    @property
    def effects_available(self) -> bool:
        return bool(self.effect_files)


def find_assets(curated: bool = True) -> Assets:
    """Locate espeak-ng, fluidsynth, a GM soundfont and sound-effect files (Debian package locations).

    ``curated`` drops the files listed in :data:`NOT_EFFECTS` (speech and music clips) from ``effect_files``.
    """
    soundfont = next((p for p in _SOUNDFONTS if os.path.isfile(p)), None)
    if soundfont is None and os.path.isdir(_SOUNDFONT_DIR):
        soundfont = next(iter(sorted(str(p) for p in Path(_SOUNDFONT_DIR).rglob("*.sf2") if p.is_file())), None)
    files: set[str] = set()
    for root in _EFFECT_DIRS:
        if os.path.isdir(root):
            files.update(str(p) for p in Path(root).rglob("*") if p.suffix.lower() in _EFFECT_EXTS and p.is_file())
    if curated:
        files = {f for f in files if not any(fnmatch.fnmatch(Path(f).stem, pat) for pat in NOT_EFFECTS)}
    return Assets(shutil.which("espeak-ng"), shutil.which("fluidsynth"), soundfont, sorted(files))


# ---- espeak-ng speech -------------------------------------------------------------------------------------

_NOUNS = ("car house door window road city river money letter phone gun key bag box book map boat train plane bridge "
          "tower street garden kitchen table chair bed light fire water coffee dinner party meeting job plan problem "
          "question answer story secret truth night morning day week year minute hour friend brother sister mother "
          "father doctor captain officer driver teacher boss kid girl boy man woman team police army ship engine radio "
          "camera picture file computer signal message package ticket hotel office bank station hospital school church "
          "market forest mountain beach island storm rain snow sun moon star dog horse bird cat").split()
_ADJECTIVES = ("big small old new red blue black white dark bright quiet loud strange beautiful dangerous safe empty "
               "full broken hidden cold warm hot long short heavy fast slow good bad wrong real last first next whole "
               "lucky crazy tired happy angry little huge final perfect simple serious green open").split()
_VERBS = tuple(tuple(v.split(":")) for v in (
    "see:saw find:found take:took bring:brought open:opened close:closed call:called tell:told leave:left keep:kept "
    "break:broke fix:fixed move:moved stop:stopped start:started check:checked watch:watched follow:followed "
    "lose:lost need:needed want:wanted give:gave sell:sold buy:bought drive:drove carry:carried hide:hid send:sent "
    "read:read write:wrote build:built paint:painted clean:cleaned steal:stole catch:caught hold:held push:pushed "
    "pull:pulled drop:dropped miss:missed remember:remembered forget:forgot love:loved hate:hated visit:visited "
    "cross:crossed search:searched burn:burned save:saved").split())
_INTRANSITIVE = tuple(tuple(v.split(":")) for v in (
    "go:went come:came run:ran wait:waited sleep:slept work:worked talk:talked listen:listened laugh:laughed "
    "stay:stayed fall:fell sit:sat stand:stood win:won fight:fought hide:hid").split())
_ADVERBS = ("now", "today", "tonight", "tomorrow", "yesterday", "again", "later", "soon", "already", "quickly",
            "slowly", "quietly", "carefully", "together", "alone", "outside", "inside", "here", "there", "right away",
            "before dawn", "after dinner", "every day", "at night")
_NAMES = ("John Mary Sam Anna Jack Kate Tom Lucy Mike Sarah David Emma Peter Laura Frank Alice Harry Julia Max Nina "
          "Oscar Rose Victor Grace Leo Claire Ben Diana Paul Helen").split()
_SUBJECTS = ("I", "you", "we", "they", "he", "she")
_DETS = ("the", "a", "my", "your", "his", "her", "our", "their", "this", "that")
_PREPS = ("in", "on", "under", "near", "behind", "inside", "outside", "across", "through", "next to", "at", "from", "into")
_MODALS = ("can", "could", "should", "will", "would", "must")
_INTERJECTIONS = ("okay", "listen", "look", "well", "hey", "oh no", "wait", "come on", "yes", "no", "hello", "sorry",
                  "thanks", "alright", "really")
_TEMPLATES = (
    "{det} {adj} {noun} is {prep} the {noun2}.",
    "{subj} {vpast} the {noun} {adv}.",
    "{name}, {subj} {modal} {vbase} the {noun} {adv}.",
    "did you {vbase} the {adj} {noun}?",
    "where is the {noun}?",
    "{intj}, {subj} {ipast} {prep} the {noun} {adv}.",
    "{vbase} the {noun} and {ibase} {adv}!",
    "{subj} think {name} {vpast} {det} {noun}.",
    "why did {name} {vbase} {det} {adj} {noun}?",
    "{intj}!",
    "{name} {ipast} to the {noun} with {det} {adj} {noun2}.",
    "there is a {adj} {noun} {prep} the {noun2}.",
    "{subj} {modal} not {ibase} here.",
    "the {noun} was {adj} {adv}.",
    "{intj}, {name}. {subj} need the {noun} {adv}.",
    "how long have you been {prep} the {noun}?",
    "we have to {vbase} the {adj} {noun} {adv}.",
    "{name} and {name2} {ipast} {adv}.",
)


def english_sentence(rng: np.random.Generator) -> str:
    """A random, grammatical-ish English sentence from the built-in word list and templates."""
    def pick(seq: Sequence):
        return seq[int(rng.integers(len(seq)))]

    verb, intr = pick(_VERBS), pick(_INTRANSITIVE)
    slots = dict(det=pick(_DETS), adj=pick(_ADJECTIVES), noun=pick(_NOUNS), noun2=pick(_NOUNS), prep=pick(_PREPS),
                 subj=pick(_SUBJECTS), vbase=verb[0], vpast=verb[1], ibase=intr[0], ipast=intr[1], adv=pick(_ADVERBS),
                 name=pick(_NAMES), name2=pick(_NAMES), modal=pick(_MODALS), intj=pick(_INTERJECTIONS))
    words = pick(_TEMPLATES).format(**slots).split(" ")
    for i in range(len(words) - 1):  # a -> an before a vowel
        if words[i].lower() == "a" and words[i + 1][:1].lower() in "aeiou":
            words[i] = words[i][0] + "n"
    text = " ".join(words)
    return text[0].upper() + text[1:]


_ESPEAK_VOICES = tuple(f"en+m{i}" for i in range(1, 8)) + tuple(f"en+f{i}" for i in range(1, 6))


@dataclass(frozen=True)
class EspeakSpeaker:
    """An espeak-ng voice: variant, words per minute, pitch 0-99, extra gap between words (x10 ms)."""

    voice: str
    speed: int
    pitch: int
    word_gap: int = 0

    @classmethod
    def random(cls, rng: np.random.Generator) -> EspeakSpeaker:
        return cls(_ESPEAK_VOICES[int(rng.integers(len(_ESPEAK_VOICES)))], int(rng.integers(130, 191)),
                   int(rng.integers(30, 71)), int(rng.integers(0, 3)))

    @property
    def source_id(self) -> str:
        return f"speech:espeak:{stable_hash(asdict(self))}"


def _espeak_batch(exe: str, spk: EspeakSpeaker, texts: list[str], pitches: list[int], folder: str, sr: int) -> list[np.ndarray]:
    """Render sentences concurrently (one espeak-ng process each), trimmed and resampled to ``sr``."""
    procs = []
    for i, (text, pitch) in enumerate(zip(texts, pitches)):
        path = os.path.join(folder, f"u{i}.wav")
        cmd = [exe, "-v", spk.voice, "-s", str(spk.speed), "-p", str(pitch), "-g", str(spk.word_gap), "-w", path, text]
        try:
            procs.append((subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE), path))
        except FileNotFoundError as e:
            raise AssetsUnavailable(f"speech_espeak: {exe} is not installed ({e})") from e
    out = []
    for proc, path in procs:
        _, err = proc.communicate(timeout=60)
        if proc.returncode != 0 or not os.path.isfile(path):
            raise RuntimeError(f"espeak-ng failed (exit {proc.returncode}): {err.decode(errors='replace').strip()}")
        out.append(fade(trim_silence(read_audio(path, sr), sr), int(0.005 * sr), int(0.01 * sr)))
    return out


def speech_espeak(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, assets: Assets | None = None,
                  speaker: EspeakSpeaker | None = None) -> SourceClip:
    """English sentences spoken by espeak-ng, separated by 0.2-1.5 s pauses, peak 0.5."""
    n = num_samples(duration, sr)
    assets = assets if assets is not None else find_assets()
    if assets.espeak is None:
        raise AssetsUnavailable("speech_espeak needs espeak-ng (Debian package espeak-ng), which is not installed")
    speaker = speaker if speaker is not None else EspeakSpeaker.random(rng)
    out = np.zeros(n)
    pos = int(rng.uniform(0.0, 0.5) * sr)
    utterances = []
    with tempfile.TemporaryDirectory(prefix="avremix-espeak-") as tmp:
        while pos < n:
            texts = [english_sentence(rng) + (" " + english_sentence(rng) if rng.random() < 0.3 else "") for _ in range(4)]
            pitches = [int(np.clip(speaker.pitch + rng.integers(-4, 5), 0, 99)) for _ in texts]
            for text, wav in zip(texts, _espeak_batch(assets.espeak, speaker, texts, pitches, tmp, sr)):
                if pos >= n:
                    break
                m = min(len(wav), n - pos)
                out[pos:pos + m] = wav[:m] * rng.uniform(0.8, 1.0)
                utterances.append({"start": pos / sr, "end": (pos + m) / sr, "text": text})
                pos += len(wav) + int(rng.uniform(0.2, 1.5) * sr)
    meta = {"generator": "speech_espeak", "sr": sr, "speaker": asdict(speaker), "utterances": utterances}
    return clip(normalise(out, SPEECH_PEAK), sr, speaker.source_id, meta)


# ---- fluidsynth music -------------------------------------------------------------------------------------

def _vlq(value: int) -> bytes:
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    return bytes(reversed(out))


def write_midi(notes: Sequence[MidiNote], tempo: float, programs: Mapping[int, int] | None = None,
               ticks_per_beat: int = 480) -> bytes:
    """A Standard MIDI File (format 0, one track): tempo, 4/4, program changes per channel, the notes."""
    if not tempo > 0:
        raise ValueError(f"tempo must be > 0, got {tempo}")
    events: list[tuple[int, int, bytes]] = [  # (tick, order at equal ticks, message)
        (0, 0, b"\xff\x51\x03" + int(round(60e6 / tempo)).to_bytes(3, "big")),
        (0, 0, b"\xff\x58\x04\x04\x02\x18\x08"),
    ]
    for ch, prog in sorted((programs or {}).items()):
        events.append((0, 1, bytes([0xC0 | (ch & 0x0F), int(prog) & 0x7F])))
    for n in notes:
        ch, pitch, vel = n.channel & 0x0F, int(np.clip(n.pitch, 0, 127)), int(np.clip(n.velocity, 1, 127))
        on = max(0, int(round(n.start * ticks_per_beat)))
        off = max(on + 1, int(round((n.start + n.duration) * ticks_per_beat)))
        events.append((on, 3, bytes([0x90 | ch, pitch, vel])))
        events.append((off, 2, bytes([0x80 | ch, pitch, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    track, last = bytearray(), 0
    for tick, _, msg in events:
        track += _vlq(tick - last) + msg
        last = tick
    track += b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, ticks_per_beat)
    return header + b"MTrk" + struct.pack(">I", len(track)) + bytes(track)


_GM_PAD = (0, 1, 4, 5, 16, 19, 48, 49, 50, 52, 88, 89, 90, 91, 92, 94)
_GM_LEAD = (0, 1, 2, 4, 6, 8, 10, 11, 12, 13, 24, 25, 26, 40, 46, 56, 60, 65, 68, 71, 73, 79, 80, 81)
_GM_BASS = (32, 33, 34, 35, 36, 38, 39)


def music_fluidsynth(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, assets: Assets | None = None) -> SourceClip:
    """A composed piece (see :func:`compose_music`) as MIDI with random GM programs, rendered by fluidsynth; peak 0.5."""
    n = num_samples(duration, sr)
    assets = assets if assets is not None else find_assets()
    if assets.fluidsynth is None:
        raise AssetsUnavailable("music_fluidsynth needs fluidsynth (Debian package fluidsynth), which is not installed")
    if assets.soundfont is None or not os.path.isfile(assets.soundfont):
        raise AssetsUnavailable("music_fluidsynth needs a General MIDI soundfont in /usr/share/sounds/sf2 "
                                "(Debian package fluid-soundfont-gm or timgm6mb-soundfont)")
    seed = int(rng.integers(2 ** 32))
    sub = np.random.default_rng(seed)
    piece = compose_music(sub, duration)
    programs = {PAD: int(sub.choice(_GM_PAD)), LEAD: int(sub.choice(_GM_LEAD)), BASS: int(sub.choice(_GM_BASS))}
    with tempfile.TemporaryDirectory(prefix="avremix-fluidsynth-") as tmp:
        mid, wav = os.path.join(tmp, "song.mid"), os.path.join(tmp, "out.wav")
        Path(mid).write_bytes(write_midi(piece.notes, piece.tempo, programs))
        run_tool([assets.fluidsynth, "-ni", "-g", "0.6", "-r", str(sr), "-F", wav, assets.soundfont, mid], "fluidsynth")
        audio = fit_length(read_audio(wav, sr), n)
    if not np.any(audio):
        raise RuntimeError(f"fluidsynth rendered silence with {assets.soundfont}")
    meta = {"generator": "music_fluidsynth", "sr": sr, "seed": seed, "soundfont": os.path.basename(assets.soundfont),
            "programs": {"pad": programs[PAD], "lead": programs[LEAD], "bass": programs[BASS]}, **piece.params()}
    return clip(normalise(audio, MUSIC_PEAK), sr, f"music:fluidsynth:{seed:08x}", meta)


# ---- sound-effect files -----------------------------------------------------------------------------------

_MAX_EFFECT_S = 3.0


@functools.lru_cache(maxsize=256)
def _effect_from_file(path: str, sr: int) -> np.ndarray:
    """Decoded, mono, resampled, silence-trimmed, at most 3 s with a fade-out (read-only, cached)."""
    if not os.path.isfile(path):
        raise AssetsUnavailable(f"{path}: sound-effect file not found")
    x = trim_silence(read_audio(path, sr), sr)
    if len(x) > _MAX_EFFECT_S * sr:
        x = fade(x[: int(_MAX_EFFECT_S * sr)].copy(), 0, int(0.3 * sr))
    else:
        x = fade(x.copy(), 0, int(0.01 * sr))
    x = x.astype(np.float32)
    x.setflags(write=False)
    return x


def effect_events_assets(rng: np.random.Generator, duration: float, sr: int = DEFAULT_SR, assets: Assets | None = None,
                         n_events: int | None = None, files: Sequence[str] | None = None) -> list[EffectEvent]:
    """Events from random sound-effect files at random onsets; class = file stem."""
    num_samples(duration, sr)
    if files is None:
        assets = assets if assets is not None else find_assets()
        files = assets.effect_files
    pool = list(files)
    if not pool:
        raise AssetsUnavailable("effect_events_assets needs sound-effect files (Debian packages sound-theme-freedesktop, "
                                "heroes-sound-effects); none found")
    k = num_events(rng, duration, n_events)
    events = []
    for onset in event_onsets(rng, duration, k):
        path = pool[int(rng.integers(len(pool)))]
        sig = normalise(_effect_from_file(path, sr), rng.uniform(0.3, 0.8))
        stem = Path(path).stem
        events.append(EffectEvent(float(onset), sig, stem, f"effect:file:{stem}",
                                  {"generator": "effect_events_assets", "sr": sr, "file": path}))
    return events
