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

:data:`STARTER` is the ``starter`` collection (about 2.1 GB, chosen from a survey of the archive's recorded
audio): every shipped model was trained on it. Since avremix 0.11 training music comes from six packages
(warzone2100, ufoai, wesnoth, drascula, hyperrogue, naev), not three; builds of older versions drew it from
the first three only. With three, ``highlight-cfm`` took the held-out ambient/electronic pieces for effects,
and more styles of music is what a model needs against that (a fine-tune on the six did not yet fix it: see
its card).

:data:`EXTRA` is the ``extra`` collection: the effects and ambience of the large game and simulator packages
(0ad, redeclipse, nexuiz, supertuxkart, widelands, flightgear, torcs, ...; ``docs/data-survey.md`` classed
them folder by folder, file by file where a folder mixes kinds: unit voices, announcers, spoken callouts
and music are left out) and three songs. Its held-out packages are held-out *conditions* as well: the test
split's engines and vehicles (``flightgear-data-base``, ``searchandrescue-data``, ``torcs-data``) and outdoor
beds (``krank``, ``unknown-horizons``); validation ``scorched3d-data`` and ``ardentryst``. ``make data-assets``
fetches both collections; builders draw from the starter one unless ``--assets all`` (so builds of earlier
versions, and every card, stay reproducible). ``sung`` lists the music files with sung vocals that a YAMNet
survey found (about 7 minutes in the whole archive); ``avremix assets`` counts them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

CATEGORIES = ("speech", "music", "effects", "ambience")
SPLITS = ("train", "val", "test")
COLLECTIONS = ("starter", "extra")


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
    collection: str = "starter"  # starter | extra (see the module docstring)
    sung: tuple[str, ...] = ()  # music files with sung vocals (paths in the unpacked package), measured with YAMNet

    def __post_init__(self) -> None:
        assert self.split in SPLITS, self.split
        assert self.collection in COLLECTIONS, self.collection
        assert all(p.category in CATEGORIES for p in self.parts)


def _asterisk(lang: str, voice: str, split: str, fmt: str = "g722") -> Package:
    twin = None if fmt == "g722" else f"asterisk-core-sounds-{lang}-g722"
    return Package(
        f"asterisk-core-sounds-{lang}-{fmt}", split, "CC-BY-SA-3.0",
        (Part("speech", f"usr/share/asterisk/sounds/{voice}", ("*",), ("silence/*",), speaker=None,
              language=voice.split("_")[0], words=True),),
        twin_of=twin, notes="professional IVR prompts (phrases, digits, letters), one voice")


_G = "usr/share/games/"
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
            (Part("music", "usr/share/games/wesnoth/1.16/data/core/music", ("*.ogg",)),),
            sung=("usr/share/games/wesnoth/1.16/data/core/music/elf-land.ogg",), notes="orchestral and folk"),
    Package("drascula-music", "train", "BSD-like (Drascula freeware licence)",
            (Part("music", "usr/share/scummvm/drascula/audio", ("*.ogg",)),),
            sung=("usr/share/scummvm/drascula/audio/track29.ogg", "usr/share/scummvm/drascula/audio/track31.ogg"),
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
    # ---- the extra collection: effects and ambience of the large game and simulator packages -----------
    # (docs/data-survey.md: folders and files classed one by one; unit voices, announcers and music left out)
    Package("0ad-data", "train", "CC-BY-SA-3.0", (
             # 811 files, 0.319 h
             Part("effects", _G + "0ad/mods",
                  ("*",),
                  ("public/public.zip.d/audio/ambient/*", "public/public.zip.d/audio/music/*",
                   "public/public.zip.d/audio/voice/*")),
             # 42 files, 0.476 h
             Part("ambience", _G + "0ad/mods/public/public.zip.d/audio/ambient",
                  ("*",)),
             Part("music", _G + "0ad/mods/public/public.zip.d/audio/music", ("Dried_Tears.ogg",)),  # one song
            ),
            archives=("usr/share/games/0ad/mods/mod/mod.zip", "usr/share/games/0ad/mods/public/public.zip"),
            sung=("usr/share/games/0ad/mods/public/public.zip.d/audio/music/Dried_Tears.ogg",),
            collection="extra", notes="ancient-world RTS: animals, combat, crafts, city and nature beds (unit voices and music left out)"),
    Package("redeclipse-data", "train", "CC-BY-SA-3.0", (
             # 173 files, 0.037 h
             Part("effects", _G + "redeclipse/data/sounds",
                  ("interface/*", "player/*", "sfx/*", "weapons/*")),
             # 78 files, 0.199 h
             Part("ambience", _G + "redeclipse/data/sounds/ambience",
                  ("*",)),
            ),
            collection="extra", notes="arena shooter: weapons, interface; long ambience beds"),
    Package("nexuiz-data", "train", "GPL-2+", (
             # 348 files, 0.171 h
             Part("effects", _G + "nexuiz/data/data.pk3.d/sound",
                  ("*",),
                  ("ambient/*", "announcer/*", "desertfactory/ambient_loop.wav", "desertfactory/windhowling_loop.ogg",
                   "player/carni-lycan/coms/*", "player/fricka/coms/*", "player/insurrectionist/coms/*", "player/marine/coms/*",
                   "player/pyria-skadi/coms/*", "player/reptilian/coms/*", "player/soldier/coms/*", "player/specop/coms/*",
                   "tutorial/*", "weather/*")),
             # 16 files, 0.033 h
             Part("ambience", _G + "nexuiz/data/data.pk3.d/sound",
                  ("ambient/*", "desertfactory/ambient_loop.wav", "desertfactory/windhowling_loop.ogg", "weather/*")),
            ),
            archives=("usr/share/games/nexuiz/data/data.pk3",),
            collection="extra", notes="arena shooter: weapons, items, players (voice lines left out)"),
    Package("btanks-data", "train", "GPL-2+ with an exception", (
             # 64 files, 0.058 h
             Part("effects", _G + "btanks/data/sounds",
                  ("*",),
                  ("ambient/*",)),
             # 6 files, 0.116 h
             Part("ambience", _G + "btanks/data/sounds/ambient",
                  ("*",)),
            ),
            collection="extra", notes="tank game: engines, shots, explosions; ambient beds"),
    Package("scorched3d-data", "val", "GPL-2+", (
             # 115 files, 0.105 h
             Part("effects", _G + "scorched3d/data/globalmods",
                  ("*",),
                  ("apoc/data/wav/misc/cheeringloop.wav", "apoc/data/wav/misc/factoryloop1.wav", "none/data/music/*",
                   "none/data/wav/misc/birds1.wav", "none/data/wav/misc/birds2.wav", "none/data/wav/misc/frogs.wav",
                   "none/data/wav/misc/lava2.wav", "none/data/wav/misc/oceanwaves.wav")),
             # 7 files, 0.061 h
             Part("ambience", _G + "scorched3d/data/globalmods",
                  ("apoc/data/wav/misc/cheeringloop.wav", "apoc/data/wav/misc/factoryloop1.wav",
                   "none/data/wav/misc/birds1.wav", "none/data/wav/misc/birds2.wav", "none/data/wav/misc/frogs.wav",
                   "none/data/wav/misc/lava2.wav", "none/data/wav/misc/oceanwaves.wav")),
            ),
            collection="extra", notes="artillery game: explosions, weapons; birds, frogs, ocean, crowd loops"),
    Package("widelands-data", "train", "GPL-2+", (
             # 116 files, 0.160 h
             Part("effects", _G + "widelands/data",
                  ("*",),
                  ("music/*",)),
            ),
            collection="extra", notes="settlers game: work, animals, buildings"),
    Package("supertuxkart-data", "train", "GPL-3+ / CC-BY(-SA) / CC0 (per file)", (
             # 73 files, 0.093 h
             Part("effects", _G + "supertuxkart/data",
                  ("*",),
                  ("music/*", "sfx/exotic-birds.ogg", "sfx/exotic-birds_2.ogg", "sfx/gnu_flute.ogg",
                   "sfx/lenautile_restaurant.ogg", "sfx/river_loop.ogg", "sfx/sara_airport_pa.ogg", "sfx/static-radio.ogg",
                   "tracks/ancient_colosseum_labyrinth/*", "tracks/battleisland/*", "tracks/cave/*",
                   "tracks/introcutscene2/intro2.ogg", "tracks/introcutscene2/nolok_speech.ogg")),
             # 6 files, 0.067 h
             Part("ambience", _G + "supertuxkart/data/sfx",
                  ("exotic-birds.ogg", "exotic-birds_2.ogg", "lenautile_restaurant.ogg", "river_loop.ogg",
                   "sara_airport_pa.ogg", "static-radio.ogg")),
            ),
            collection="extra", notes="kart racer: engines, items, crowds; birds, river, airport beds"),
    Package("berusky2-data", "train", "GPL-2+", (
             # 161 files, 0.072 h
             Part("effects", _G + "berusky2/sound/sound",
                  ("*",),
                  ("Vitr111.wav", "Vitr112.wav", "Voda1.wav", "Voda2.wav", "les1.wav", "mesto111.wav", "mesto211.wav",
                   "mesto311.wav", "mesto411.wav", "racek1.wav", "racek2.wav", "racek3.wav", "village.wav")),
             # 13 files, 0.057 h
             Part("ambience", _G + "berusky2/sound/sound",
                  ("Vitr111.wav", "Vitr112.wav", "Voda1.wav", "Voda2.wav", "les1.wav", "mesto111.wav", "mesto211.wav",
                   "mesto311.wav", "mesto411.wav", "racek1.wav", "racek2.wav", "racek3.wav", "village.wav")),
            ),
            collection="extra", notes="puzzle game: objects, steps; wind, water, forest, town beds"),
    Package("flightgear-data-base", "test", "GPL-2+", (
             # 109 files, 0.114 h
             Part("effects", _G + "flightgear",
                  ("*",),
                  ("Sounds/intro.mp3", "Sounds/mk-viii/*", "Sounds/tcas/*")),
            ),
            collection="extra", notes="flight simulator: aircraft engines, wind, instruments (spoken callouts left out)"),
    Package("openarena-data", "train", "GPL-2+", (
             # 187 files, 0.079 h
             Part("effects", _G + "openarena",
                  ("*",),
                  ("baseoa/pak0.pk3.d/sound/player/announcer/*", "baseoa/pak0.pk3.d/sound/player/sarge/*",
                   "baseoa/pak0.pk3.d/sound/world/ambience03.wav", "baseoa/pak0.pk3.d/sound/world/ambient/*",
                   "baseoa/pak0.pk3.d/sound/world/drops.wav", "baseoa/pak0.pk3.d/sound/world/new/*",
                   "missionpack/mp-pak0.pk3.d/sound/voices/*")),
             # 13 files, 0.034 h
             Part("ambience", _G + "openarena/baseoa/pak0.pk3.d/sound/world",
                  ("ambience03.wav", "ambient/*", "drops.wav", "new/*")),
            ),
            archives=("usr/share/games/openarena/baseoa/pak0.pk3", "usr/share/games/openarena/missionpack/mp-pak0.pk3"),
            collection="extra", notes="arena shooter: weapons, items, world (announcer and player voices left out)"),
    Package("boswars-data", "train", "GPL-2+", (
             # 115 files, 0.099 h
             Part("effects", _G + "boswars",
                  ("sounds/*", "units/*")),
            ),
            collection="extra", notes="RTS: units, buildings, combat"),
    Package("krank", "test", "public domain", (
             # 40 files, 0.021 h
             Part("effects", _G + "krank/sounds",
                  ("*",),
                  ("industry/atmo.ogg", "menu/*", "space/atmo.ogg", "summer/atmo.ogg", "water/atmo.ogg")),
             # 4 files, 0.076 h
             Part("ambience", _G + "krank/sounds",
                  ("industry/atmo.ogg", "space/atmo.ogg", "summer/atmo.ogg", "water/atmo.ogg")),
            ),
            collection="extra", notes="puzzle game: actions; industry, space, summer and water beds"),
    Package("wesnoth-1.16-data", "train", "GPL-2+", (
             # 283 files, 0.077 h
             Part("effects", _G + "wesnoth/1.16",
                  ("*",),
                  ("data/core/sounds/ambient/*",)),
             # 8 files, 0.016 h
             Part("ambience", _G + "wesnoth/1.16/data/core/sounds/ambient",
                  ("*",)),
            ),
            collection="extra", notes="strategy game: combat, magic, animals, interface; ambient beds"),
    Package("searchandrescue-data", "test", "GPL-2+", (
             # 54 files, 0.090 h
             Part("effects", _G + "searchandrescue/sounds",
                  ("*",)),
            ),
            collection="extra", notes="helicopter simulator: rotors, engines, weather"),
    Package("flare-game", "train", "CC-BY-SA-3.0+", (
             # 107 files, 0.045 h
             Part("effects", _G + "flare/mods",
                  ("*",),
                  ("empyrean_campaign/soundfx/environment/rain.ogg", "fantasycore/music/*",
                   "fantasycore/soundfx/environment/anvil_loop.ogg", "fantasycore/soundfx/environment/cave_wind_loop.ogg",
                   "fantasycore/soundfx/environment/wind_loop.ogg")),
             # 4 files, 0.045 h
             Part("ambience", _G + "flare/mods",
                  ("empyrean_campaign/soundfx/environment/rain.ogg", "fantasycore/soundfx/environment/anvil_loop.ogg",
                   "fantasycore/soundfx/environment/cave_wind_loop.ogg", "fantasycore/soundfx/environment/wind_loop.ogg")),
            ),
            collection="extra", notes="action RPG: combat, spells, steps; rain, wind beds"),
    Package("endless-sky-data", "train", "GPL-3+ / CC-BY-SA-4.0 (per file)", (
             # 84 files, 0.043 h
             Part("effects", _G + "endless-sky/sounds",
                  ("*",),
                  ("ambient/*",)),
             # 1 files, 0.046 h
             Part("ambience", _G + "endless-sky/sounds/ambient",
                  ("*",)),
            ),
            collection="extra", notes="space game: engines, weapons, explosions; one long ambient bed"),
    Package("ardentryst", "val", "CC-BY-SA-3.0", (
             # 70 files, 0.034 h
             Part("effects", _G + "ardentryst/Sounds",
                  ("*",),
                  ("AMB_Intro_1.ogg", "AMB_Intro_2.ogg", "AMB_Intro_3.ogg", "AMB_Intro_4.ogg", "AMB_Intro_5.ogg",
                   "AMB_Intro_6.ogg", "NYX/*", "PYR/*", "Rain_Loop.ogg")),
             # 7 files, 0.054 h
             Part("ambience", _G + "ardentryst/Sounds",
                  ("AMB_Intro_1.ogg", "AMB_Intro_2.ogg", "AMB_Intro_3.ogg", "AMB_Intro_4.ogg", "AMB_Intro_5.ogg",
                   "AMB_Intro_6.ogg", "Rain_Loop.ogg")),
            ),
            collection="extra", notes="action RPG: combat, steps; intro and rain beds"),
    Package("unknown-horizons", "test", "CC-BY-SA-3.0", (
             # 17 files, 0.021 h
             Part("effects", "usr/share/unknown-horizons/content/audio/sounds",
                  ("*",),
                  ("chapel.ogg", "lumberjack_long.ogg", "sheepfield.ogg", "windmill.ogg")),
             # 4 files, 0.061 h
             Part("ambience", "usr/share/unknown-horizons/content/audio/sounds",
                  ("chapel.ogg", "lumberjack_long.ogg", "sheepfield.ogg", "windmill.ogg")),
            ),
            collection="extra", notes="city builder: work and animal sounds; chapel, windmill, sheep field beds"),
    Package("torcs-data", "test", "GPL-2+", (
             # 45 files, 0.030 h
             Part("effects", _G + "torcs/data/sound",
                  ("*",),
                  ("locked.wav",)),
            ),
            collection="extra", notes="racing simulator: car engines, tyres, crashes"),
    Package("supertux-data", "train", "GPL-3+ (music GPL-2+)", (
             # 77 files, 0.030 h
             Part("effects", _G + "supertux2/sounds",
                  ("*",),
                  ("rain.wav",)),
             # 1 files, 0.007 h
             Part("ambience", _G + "supertux2/sounds",
                  ("rain.wav",)),
             Part("music", _G + "supertux2/music", ("forest/ghostforest2.ogg",)),  # one song
            ),
            sung=("usr/share/games/supertux2/music/forest/ghostforest2.ogg",),
            collection="extra", notes="platformer: jumps, items, enemies; one rain bed; one choir song"),
    Package("wordwarvi-sound", "train", "CC-BY-SA-3.0", (
             # 56 files, 0.022 h
             Part("effects", "usr/share/wordwarvi/sounds",
                  ("*",),
                  ("destiny_facedown.ogg", "dtox3monomix.ogg", "highscoremusic.ogg",
                   "lucky-holiday-cornbread-stuffing-mono.ogg", "lucky13-steve-mono-mix.ogg")),
             Part("music", "usr/share/wordwarvi/sounds", ("destiny_facedown.ogg",)),  # one song
            ),
            sung=("usr/share/wordwarvi/sounds/destiny_facedown.ogg",),
            collection="extra", notes="arcade shooter: weapons, explosions; one song (its other music left out)"),
)

AUDIO_EXTS = (".wav", ".ogg", ".oga", ".opus", ".flac", ".mp3")
#: the packages of each collection that ``make data-assets`` fetches (the twins are opt-in)
STARTER = tuple(p.name for p in CATALOG if p.twin_of is None and p.collection == "starter")
EXTRA = tuple(p.name for p in CATALOG if p.twin_of is None and p.collection == "extra")
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
