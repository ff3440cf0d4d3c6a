"""Which real recordings avremix uses: Debian packages, the audio inside each, its licence and its split.

Every package is one entry of :data:`CATALOG`. A package holds one or more :class:`Part` s: a folder of its
unpacked tree (``dpkg -x``), the category of the audio there (``speech``, ``music``, ``effects``,
``ambience``), which files count (glob patterns on the path relative to the folder) and how to read a
speaker / piece and a language from that path. ``archives`` are zip files inside the package (``.pk3``,
``.wz``) that :mod:`avremix.data.sources.fetch` unpacks to ``<archive>.d/``; a part can point into one.

Splits are by **package**: every file of a package is in the package's split, so the validation and test
sets share no package, speaker or piece with training. Held out (see :data:`HELD_OUT`):

- test: ``fillets-ng-data-nl`` (Dutch acted dialogue), ``singularity-music``, ``qabcs-data`` (labelled
  noises), ``lincity-ng-data`` (city ambience);
- validation: ``asterisk-core-sounds-fr-g722`` (a French prompt voice), ``nexuiz-music``,
  ``sonic-pi-samples`` (ambient and foley samples).

:data:`STARTER` is the set ``make data-assets`` fetches (about 2.1 GB, chosen from a survey of the
archive's recorded audio). Since avremix 0.11 training music comes from six packages (warzone2100, ufoai,
wesnoth, drascula, hyperrogue, naev), not three; builds of older versions drew it from the first three
only. With three, ``highlight-cfm`` took the held-out ambient/electronic pieces for effects, and more
styles of music is what a model needs against that (a fine-tune on the six did not yet fix it: see its
card).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CATEGORIES = ("speech", "music", "effects", "ambience")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Part:
    """One kind of audio inside a package."""

    category: str  # speech | music | effects | ambience
    root: str  # folder inside the unpacked package (relative), e.g. "usr/share/games/fillets-ng/sound"
    include: tuple[str, ...] = ("*",)  # fnmatch patterns on the path relative to root (all must be audio files)
    exclude: tuple[str, ...] = ()
    speaker: str | None = None  # regex on the relative path; group 1 = speaker / piece id (None: one per package, or per file for music)
    language: str | None = None  # regex on the relative path (group 1), or a fixed code when it has no group
    words: bool = False  # speech: isolated words / short prompts that are joined into phrases


@dataclass(frozen=True)
class Package:
    name: str
    split: str  # train | val | test
    licence: str
    parts: tuple[Part, ...]
    archives: tuple[str, ...] = ()  # zip files inside the package to unpack (relative paths)
    twin_of: str | None = None  # the same recordings in a better form: skipped when that package is there too
    notes: str = ""

    def __post_init__(self) -> None:
        assert self.split in SPLITS, self.split
        assert all(p.category in CATEGORIES for p in self.parts)


def _asterisk(lang: str, voice: str, split: str, fmt: str = "g722") -> Package:
    twin = None if fmt == "g722" else f"asterisk-core-sounds-{lang}-g722"
    return Package(
        f"asterisk-core-sounds-{lang}-{fmt}", split, "CC-BY-SA-3.0",
        (Part("speech", f"usr/share/asterisk/sounds/{voice}", ("*",), ("silence/*",), speaker=None,
              language=voice.split("_")[0], words=True),),
        twin_of=twin, notes="professional IVR prompts (phrases, digits, letters), one voice")


_FILLETS = "usr/share/games/fillets-ng/sound"
_SPEAKER_PER_LANG = r"(?:^|/)([a-z]{2}(?:_[A-Z]{2})?)/"

CATALOG: tuple[Package, ...] = (
    # ---- speech ------------------------------------------------------------------------------------
    Package("fillets-ng-data-cs", "train", "GPL-2+", (Part("speech", _FILLETS, ("*/cs/*.ogg",), language="cs"),),
            notes="Czech acted game dialogue, full sentences"),
    Package("fillets-ng-data-nl", "test", "GPL-2+", (Part("speech", _FILLETS, ("*/nl/*.ogg",), language="nl"),),
            notes="Dutch dub of the same game, full sentences"),
    Package("fillets-ng-data", "train", "GPL-2+", (Part("speech", _FILLETS, ("*/en/*.ogg",), language="en"),),
            notes="English dialogue (partial)"),
    Package("festvox-ru", "train", "GPL-3 / BSD-like",
            (Part("speech", "usr/share/festival/voices/russian/msu_ru_nsh_clunits/wav", ("*.wav",), language="ru"),),
            notes="Russian read sentences, one male speaker"),
    Package("tuxpaint-stamps-default", "train", "GPL-2",
            (Part("speech", "usr/share/tuxpaint/stamps", ("*_desc_*.ogg",), speaker=r"_desc_([A-Za-z_]+)\.ogg$",
                  language=r"_desc_([A-Za-z_]+)\.ogg$", words=True),),
            notes="spoken stamp descriptions in 15 languages, one volunteer per language"),
    _asterisk("en", "en_US_f_Allison", "train"),
    _asterisk("es", "es_MX_f_Allison", "train"),
    _asterisk("it", "it_IT_m_Carlo", "train"),
    _asterisk("ru", "ru_RU_f_IvrvoiceRU", "train"),
    _asterisk("fr", "fr_CA_f_June", "val"),
    _asterisk("en", "en_US_f_Allison", "train", fmt="wav"),
    Package("klettres-data", "train", "GPL-2+",
            (Part("speech", "usr/share/klettres", ("*.ogg", "*.wav"), speaker=r"^([A-Za-z_]+)/", language=r"^([A-Za-z_]+)/",
                  words=True),), notes="letters and syllables, 24 languages"),
    Package("ktuberling-data", "train", "GPL-2+",
            (Part("speech", "usr/share/ktuberling/sounds", ("*/*.ogg", "*/*.wav"), speaker=r"^([A-Za-z@_]+)/",
                  language=r"^([A-Za-z@_]+)/", words=True),), notes="single words, 28 locales (the sr* ones are identical)"),
    # ---- music -------------------------------------------------------------------------------------
    Package("warzone2100-music", "train", "GPL-2+",
            (Part("music", "usr/share/games/warzone2100/music", ("*.opus", "*.ogg")),), notes="game soundtrack"),
    Package("ufoai-music", "train", "GPL-2+ / CC-BY(-SA)-3.0",
            (Part("music", "usr/share/games/ufoai/base/0music.pk3.d", ("*.ogg",)),), archives=("usr/share/games/ufoai/base/0music.pk3",),
            notes="orchestral and electronic soundtrack"),
    Package("wesnoth-1.16-music", "train", "GPL-2+",
            (Part("music", "usr/share/games/wesnoth/1.16/data/core/music", ("*.ogg",)),), notes="orchestral and folk"),
    Package("drascula-music", "train", "BSD-like (Drascula freeware licence)",
            (Part("music", "usr/share/scummvm/drascula/audio", ("*.ogg",)),),
            notes="adventure-game CD soundtrack (the language folders are links to the same tracks)"),
    Package("hyperrogue-music", "train", "CC-BY(-SA) / GPL",
            (Part("music", "usr/share/hyperrogue/music", ("*.ogg",)),), notes="game soundtrack (its sounds/ left out)"),
    Package("naev-data", "train", "GPL-2+ / GPL-3 / CC-BY-3.0 / PD (per file, debian/copyright)",
            (Part("music", "usr/share/naev/dat/snd/music", ("*.ogg",)),),
            notes="space-game soundtrack: ambient, electronic, orchestral (the rest of the 350 MB package is unused)"),
    Package("nexuiz-music", "val", "GPL-2+",
            (Part("music", "usr/share/games/nexuiz/data/music.pk3.d", ("*.ogg",)),), archives=("usr/share/games/nexuiz/data/music.pk3",),
            notes="electronic and rock"),
    Package("singularity-music", "test", "CC-BY-SA-3.0",
            (Part("music", "usr/share/games/singularity/music", ("*.ogg",)),), notes="ambient and electronic"),
    # ---- effects and ambience ----------------------------------------------------------------------
    Package("ufoai-sound", "train", "GPL-2+ / CC",
            (Part("ambience", "usr/share/games/ufoai/base/0snd.pk3.d/sound", ("ambience/*",)),
             Part("effects", "usr/share/games/ufoai/base/0snd.pk3.d/sound",
                  ("aliens/*", "doors/*", "footsteps/*", "impact/*", "misc/*", "weapons/*", "ugv/*"))),
            archives=("usr/share/games/ufoai/base/0snd.pk3",), notes="ambience loops, weapons, footsteps, doors"),
    Package("megaglest-data", "train", "GPL-2+ / CC-BY-SA-3.0",
            (Part("effects", "usr/share/games/megaglest", ("techs/*/sounds/*",),
                  ("*_ack[0-9]*", "*_select[0-9]*", "*/music/*")),
             Part("ambience", "usr/share/games/megaglest", ("tilesets/*/sounds/*", "data/core/water_sounds/*"))),
            notes="combat, magic, animals; tileset ambience (unit voice lines left out)"),
    Package("qabcs-data", "test", "GPL-3+", (Part("effects", "usr/share/qabcs/abcs/all/noises", ("*",)),),
            notes="labelled noises: animals, instruments, vehicles, objects"),
    Package("lincity-ng-data", "test", "GPL-2+", (Part("ambience", "usr/share/games/lincity-ng/sounds", ("*",)),),
            notes="city ambience: traffic, crowds, trains, construction"),
    Package("sonic-pi-samples", "val", "CC0 (mostly)",
            (Part("ambience", "usr/share/sonic-pi/samples", ("ambi_*",), ("ambi_piano*", "ambi_choir*")),
             Part("effects", "usr/share/sonic-pi/samples", ("misc_*", "perc_*", "vinyl_*", "mehackit_*", "glitch_robot*",
                                                           "loop_3d_printer*", "loop_industrial*"), ("perc_bell*",))),
            notes="ambient beds and foley-like samples (drum and instrument samples left out)"),
)

AUDIO_EXTS = (".wav", ".ogg", ".oga", ".opus", ".flac", ".mp3")
#: the packages fetched by ``make data-assets`` (the twins and anything unlisted are opt-in)
STARTER = tuple(p.name for p in CATALOG if p.twin_of is None)
BY_NAME = {p.name: p for p in CATALOG}
HELD_OUT = {s: tuple(p.name for p in CATALOG if p.split == s and p.twin_of is None) for s in ("val", "test")}


def match(pattern: str | None, rel: str, default: str | None) -> str | None:
    """Group 1 of ``pattern`` in ``rel``; the pattern itself when it has no group; ``default`` if no match."""
    if pattern is None:
        return default
    if re.compile(pattern).groups == 0:
        return pattern
    m = re.search(pattern, rel)
    return m.group(1) if m else default


@dataclass
class Catalog:
    """A set of packages (the shipped :data:`CATALOG`, or tiny ones in tests)."""

    packages: tuple[Package, ...] = CATALOG
    by_name: dict = field(init=False)

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in self.packages}

    def get(self, name: str) -> Package:
        if name not in self.by_name:
            from avremix.errors import UsageError

            raise UsageError(f"unknown asset package {name!r}; known: {', '.join(self.by_name)}")
        return self.by_name[name]
