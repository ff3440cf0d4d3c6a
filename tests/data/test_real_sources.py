"""The real-recordings family on tiny fixture packages built here: real ``.deb`` files (``dpkg-deb``) laid out
like the shipped catalogue's packages, with procedural audio inside. Nothing is downloaded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avremix.data import avdnr, sources
from avremix.data.loudness import loudness
from avremix.data.sources import catalog, fetch, index, real, room, vad
from avremix.data.store import read_wav
from tests.conftest import run_cli

pytestmark = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="needs dpkg-deb (Debian)")
SR = 16000


def _speech(seed: int, seconds: float = 1.2, pad: float = 0.4) -> np.ndarray:
    """Formant speech with silence around it, as isolated-word recordings have."""
    x = sources.speech_procedural(np.random.default_rng(seed), seconds, SR).audio
    z = np.zeros(int(pad * SR), np.float32)
    return np.concatenate([z, x, z])


def _music(seed: int, seconds: float = 6.0) -> np.ndarray:
    x = sources.music_procedural(np.random.default_rng(seed), seconds, SR).audio
    return np.stack([x, 0.8 * x], axis=1)  # stereo [T, 2]


def _effect(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return sources.effect_events_procedural(rng, 2.0, SR, n_events=1)[0].signal


def _ambience(seed: int) -> np.ndarray:
    return sources.ambience(np.random.default_rng(seed), 3.0, SR) * 10


def _g722(path: Path, x: np.ndarray) -> None:
    import av

    with av.open(str(path), "w", format="g722") as c:
        s = c.add_stream("g722", rate=SR)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray((np.clip(x, -1, 1) * 32000).astype(np.int16)[None], format="s16", layout="mono")
        frame.sample_rate = SR
        for p in list(s.encode(frame)) + list(s.encode(None)):
            c.mux(p)


def _deb(tmp: Path, name: str, files: dict[str, object], debs: Path) -> None:
    """A real .deb holding ``files`` (path -> audio array, bytes, or ("zip", {member: audio}))."""
    tree = tmp / "src" / name
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text(f"Package: {name}\nVersion: 1.0-1\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: fixture\n")
    doc = tree / "usr/share/doc" / name
    doc.mkdir(parents=True)
    (doc / "copyright").write_text(f"{name}: fixture licence\n")
    for rel, content in files.items():
        path = tree / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, tuple):  # a zip archive of audio members (and a text file that is dropped)
            with zipfile.ZipFile(path, "w") as z:
                for member, audio in content[1].items():
                    member_path = tmp / "zipsrc" / member
                    member_path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(member_path, audio, SR)
                    z.write(member_path, member)
                z.writestr("readme.txt", "not audio")
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif rel.endswith(".g722"):
            _g722(path, content)
        else:
            sf.write(path, content, SR)
    subprocess.run(["dpkg-deb", "-Znone", "--build", str(tree), str(debs / f"{name}_1.0-1_all.deb")], check=True, capture_output=True)


@pytest.fixture(scope="module")
def assets_dir(tmp_path_factory) -> Path:
    """An assets folder whose debs/ holds fixture packages named and laid out like the shipped ones."""
    tmp = tmp_path_factory.mktemp("debsrc")
    root = tmp_path_factory.mktemp("assets")
    debs = root / "debs"
    debs.mkdir()
    ast = "usr/share/asterisk/sounds"
    words = {f"{ast}/en_US_f_Allison/w{i}.g722": _speech(i) for i in range(6)}
    _deb(tmp, "asterisk-core-sounds-en-g722", words | {f"{ast}/en_US_f_Allison/silence/1.g722": np.zeros(SR, np.float32)}, debs)
    _deb(tmp, "asterisk-core-sounds-en-wav", {f"{ast}/en_US_f_Allison/w{i}.wav": _speech(i) for i in range(2)}, debs)
    _deb(tmp, "asterisk-core-sounds-fr-g722", {f"{ast}/fr_CA_f_June/w{i}.g722": _speech(20 + i) for i in range(5)}, debs)
    fil = "usr/share/games/fillets-ng/sound"
    _deb(tmp, "fillets-ng-data-nl", {f"{fil}/level{i}/nl/s{i}.ogg": _speech(40 + i, 2.5) for i in range(4)} | {f"{fil}/level0/cover.png": b"\x89PNG"}, debs)
    kt = "usr/share/ktuberling/sounds"
    same = _speech(60)
    _deb(tmp, "ktuberling-data", {f"{kt}/sr/eye.wav": same, f"{kt}/sr@latin/eye.wav": same, f"{kt}/de/auge.wav": _speech(61)}, debs)
    _deb(tmp, "ufoai-music", {"usr/share/games/ufoai/base/0music.pk3": ("zip", {"music/a.ogg": _music(1), "music/b.ogg": _music(2)})}, debs)
    _deb(tmp, "nexuiz-music", {"usr/share/games/nexuiz/data/music.pk3": ("zip", {"sound/cdtracks/c.ogg": _music(3)})}, debs)
    _deb(tmp, "singularity-music", {"usr/share/games/singularity/music/d.ogg": _music(4)}, debs)
    _deb(tmp, "ufoai-sound", {"usr/share/games/ufoai/base/0snd.pk3": ("zip", {
        "sound/ambience/wind.ogg": _ambience(1), "sound/weapons/shot1.wav": _effect(1), "sound/doors/door2.wav": _effect(2),
        "sound/ui/click.wav": _effect(3)})}, debs)
    _deb(tmp, "sonic-pi-samples", {"usr/share/sonic-pi/samples/ambi_drone.flac": _ambience(2),
                                   "usr/share/sonic-pi/samples/misc_crow.flac": _effect(4),
                                   "usr/share/sonic-pi/samples/bd_808.flac": _effect(5)}, debs)
    _deb(tmp, "qabcs-data", {"usr/share/qabcs/abcs/all/noises/cat.ogg": _effect(6), "usr/share/qabcs/abcs/all/noises/dog.ogg": _effect(7)}, debs)
    _deb(tmp, "lincity-ng-data", {"usr/share/games/lincity-ng/sounds/Traffic1.wav": _ambience(3)}, debs)
    return root


NAMES = ("asterisk-core-sounds-en-g722", "asterisk-core-sounds-en-wav", "asterisk-core-sounds-fr-g722", "fillets-ng-data-nl",
         "ktuberling-data", "ufoai-music", "nexuiz-music", "singularity-music", "ufoai-sound", "sonic-pi-samples", "qabcs-data",
         "lincity-ng-data")


@pytest.fixture(scope="module")
def fetched(assets_dir) -> Path:
    report = fetch.fetch(NAMES, assets_dir, apt_get="false")
    assert sorted(report.fetched) == sorted(NAMES) and not report.failed, report.as_dict()
    return assets_dir


def test_fetch_unpacks_converts_prunes_and_is_idempotent(fetched):
    pkg = fetched / "packages"
    g722 = pkg / "asterisk-core-sounds-en-g722/usr/share/asterisk/sounds/en_US_f_Allison/w0.wav"
    assert g722.is_file() and not g722.with_suffix(".g722").exists()
    info = sf.info(g722)
    assert info.samplerate == SR and abs(info.frames - len(_speech(0))) < 200  # G.722 decoded at 16 kHz, full length
    assert (pkg / "ufoai-music/usr/share/games/ufoai/base/0music.pk3.d/music/a.ogg").is_file()
    assert not (pkg / "ufoai-music/usr/share/games/ufoai/base/0music.pk3").exists()
    assert not list(pkg.rglob("readme.txt")) and not list(pkg.rglob("*.png"))  # only audio and docs are kept
    assert (pkg / "qabcs-data/copyright").read_text() == "qabcs-data: fixture licence\n"
    assert not list((fetched / "debs").glob("*.deb"))  # unpacked debs are not kept
    again = fetch.fetch(NAMES, fetched, apt_get="false")
    assert sorted(again.present) == sorted(NAMES) and not again.fetched and again.downloaded_bytes == 0


def test_a_failed_package_is_reported_and_the_others_fetched(tmp_path):
    root = tmp_path / "assets"
    (root / "debs").mkdir(parents=True)
    tree = tmp_path / "tree"
    (tree / "DEBIAN").mkdir(parents=True)
    (tree / "DEBIAN/control").write_text("Package: qabcs-data\nVersion: 1\nArchitecture: all\nMaintainer: t <t@e.org>\nDescription: x\n")
    (tree / "usr/share/qabcs/abcs/all/noises").mkdir(parents=True)
    sf.write(tree / "usr/share/qabcs/abcs/all/noises/cow.wav", _effect(9), SR)
    subprocess.run(["dpkg-deb", "-Znone", "--build", str(tree), str(root / "debs/qabcs-data_1_all.deb")], check=True, capture_output=True)
    report = fetch.fetch(["lincity-ng-data", "qabcs-data"], root, apt_get="false")  # no deb for lincity, apt-get fails
    assert report.fetched == ["qabcs-data"] and list(report.failed) == ["lincity-ng-data"]
    assert "apt-get download failed" in report.failed["lincity-ng-data"]
    assert not (root / "packages/lincity-ng-data").exists() and not list((root / "packages").glob(".*tmp*"))


def test_index_categories_dedup_and_cache(fetched):
    ix = index.load_index(fetched, refresh=True)
    assert ix.skipped == {"asterisk-core-sounds-en-wav": "duplicate of asterisk-core-sounds-en-g722"}
    assert ix.duplicates == {"ktuberling-data": 1}  # sr@latin is the same recording as sr
    by = {(f.package, f.category) for f in ix.files}
    assert ("ufoai-sound", "ambience") in by and ("ufoai-sound", "effects") in by and ("lincity-ng-data", "ambience") in by
    paths = {Path(f.path).name for f in ix.files}
    assert "click.wav" not in paths and "bd_808.flac" not in paths and "1.wav" not in paths  # excluded by the catalogue
    en = ix.pool("speech", "train")
    assert {f.source for f in en} >= {"asterisk-core-sounds-en-g722", "ktuberling-data:de"}
    assert all(f.language == "en" for f in en if f.package.startswith("asterisk"))
    s = ix.summary()
    speech = {r["package"]: r for r in s["categories"]["speech"]["packages"]}
    assert speech["asterisk-core-sounds-en-g722"]["files"] == 6
    seconds = sum(f.seconds for f in ix.files if f.package == "asterisk-core-sounds-en-g722")
    assert seconds == pytest.approx(sum(len(_speech(i)) for i in range(6)) / SR, abs=0.1)  # durations from the headers
    assert speech["asterisk-core-sounds-en-g722"]["hours"] == round(seconds / 3600, 3)
    assert s["held_out"]["test"] == ["fillets-ng-data-nl", "lincity-ng-data", "qabcs-data", "singularity-music"]
    cached = []
    t0 = time.monotonic()
    again = index.load_index(fetched, on_package=lambda name, hit: cached.append(hit))
    assert all(cached) and len(again.files) == len(ix.files) and time.monotonic() - t0 < 1.0


def test_splits_share_no_package_speaker_or_piece(fetched):
    ix = index.load_index(fetched)
    for key in ("package", "source", "sha1"):
        seen: dict[str, str] = {}
        for f in ix.files:
            assert seen.setdefault(getattr(f, key), f.split) == f.split, f"{key} {getattr(f, key)} in two splits"
    # the shipped catalogue: whole packages held out, each category in every split
    for split in ("val", "test"):
        held = [catalog.BY_NAME[n] for n in catalog.HELD_OUT[split]]
        cats = {p.category for pkg in held for p in pkg.parts}
        assert {"speech", "music", "effects"} <= cats, (split, cats)
    assert len({p.name for p in catalog.CATALOG}) == len(catalog.CATALOG)


def test_vad_trims_silence_and_joins_phrases():
    x = _speech(3, seconds=2.0, pad=1.0)
    t = vad.trim(x)
    assert t is not None and len(t) < len(x) - 1.0 * SR  # most of the 2 s of silence is gone
    energy = lambda a: float(np.sum(a.astype(np.float64) ** 2))  # noqa: E731
    assert energy(t) > 0.95 * energy(x)  # and the speech is kept
    assert vad.trim(np.zeros(SR, np.float32)) is None
    rng = np.random.default_rng(0)
    pieces = [np.full(int(0.3 * SR), 0.1, np.float32) for _ in range(12)]
    out, placed = vad.join(rng, pieces, SR, 6 * SR, words=True)
    gaps = [b[0] - a[1] for a, b in zip(placed, placed[1:])]
    assert len(out) == 6 * SR and 5 <= len(placed) <= 12
    assert all(0.08 * SR <= g <= 1.5 * SR for g in gaps)
    assert any(g < 0.36 * SR for g in gaps) and any(g >= 0.4 * SR for g in gaps)  # gaps inside phrases and between them


@pytest.mark.parametrize("rt60", [0.3, 0.8])
def test_room_reverb_has_the_requested_decay(rt60):
    rng = np.random.default_rng(1)
    measured = [room.rt60_of(room.shoebox_rir(room.random_room(rng, rt60=(rt60, rt60)), SR, rng), SR) for _ in range(3)]
    assert all(abs(m / rt60 - 1) < 0.3 for m in measured), measured
    h = room.shoebox_rir(room.random_room(rng, rt60=(rt60, rt60)), SR, rng)
    x = np.zeros(SR, np.float32)
    x[100] = 1.0
    y = room.apply_rir(x, h)
    assert len(y) == SR and y[100] == pytest.approx(1.0, abs=1e-6) and np.sum(y[101:] ** 2) > 0.05  # direct path + a tail


def test_real_generators_draw_from_their_split_only(fetched):
    gen = real.RealSources(index.load_index(fetched))
    rng = np.random.default_rng(5)
    for split in ("train", "val", "test"):
        packages = {f.package for f in gen.index.files if f.split == split}
        s = gen.speech(rng, 4.0, split)
        assert s.audio.shape == (4 * SR,) and s.stereo.shape == (2, 4 * SR) and s.activity.max() > 0.5
        assert {f["package"] for f in s.meta["files"]} <= packages and s.meta["room"]["rt60"] >= 0.2
        m = gen.music(rng, 4.0, split)
        assert m.stereo.shape == (2, 4 * SR) and m.meta["package"] in packages and np.abs(m.stereo).max() <= 0.5 + 1e-6
        events = gen.effect_events(rng, 4.0, split)
        assert events and all(e.meta["package"] in packages and -0.8 <= e.pan <= 0.8 for e in events)
        bed, meta = gen.ambience(rng, 4.0, split)
        assert bed.shape == (2, 4 * SR) and meta["package"] in packages


def test_avdnr_on_real_sources(fetched, tmp_path, monkeypatch):
    monkeypatch.setenv("AVREMIX_ASSETS", str(fetched))
    real._sources_at.cache_clear()
    summary = avdnr.build(tmp_path, 4, seed=0, config=avdnr.AVDnRConfig(duration=3.0, sources="real", channels=2))
    assert summary.examples == 4 and not summary.failed, summary.failed
    split_of_package = {p.name: p.split for p in catalog.CATALOG}
    for line in (tmp_path / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["families"] == {"dialogue": "real", "music": "real", "effects": "real"}
        for stem in ("dialogue", "music", "effects"):
            refs = row["assets"][stem]
            assert refs and all(set(r) == {"package", "file", "licence"} and split_of_package[r["package"]] == row["split"] for r in refs)
        stems = read_wav(tmp_path / row["files"]["stems"]).reshape(3, 2, -1)
        lufs = row["params"]["loudness_lufs"]
        scale_db = 20 * np.log10(row["params"]["peak_scale"])
        for k, name in enumerate(row["stems"]):  # each stem at its target loudness, within 0.5 LU
            assert loudness(stems[k], SR) - scale_db == pytest.approx(lufs[name], abs=0.5)
        assert -27 <= lufs["dialogue"] <= -24


def test_sources_real_without_assets_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AVREMIX_ASSETS", str(tmp_path / "empty"))
    proc = run_cli("build-dataset", "avdnr", "-o", tmp_path / "out", "--sources", "real", "--clips", "1")
    assert proc.returncode == 2 and "make data-assets" in proc.stderr and "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out" / "manifest.jsonl").exists()


def test_assets_command_reports_hours_splits_and_licences(fetched, monkeypatch):
    monkeypatch.setenv("AVREMIX_ASSETS", str(fetched))
    proc = run_cli("assets", "--json", check=True)
    data = json.loads(proc.stdout)
    assert data["held_out"]["val"] == ["asterisk-core-sounds-fr-g722", "nexuiz-music", "sonic-pi-samples"]
    music = {r["package"]: r for r in data["categories"]["music"]["packages"]}
    assert music["ufoai-music"]["files"] == 2 and music["ufoai-music"]["split"] == "train" and music["ufoai-music"]["licence"]
    assert data["categories"]["music"]["hours"] == pytest.approx(4 * 6 / 3600, abs=1e-3)
    table = run_cli("assets", check=True)
    assert "held out" in table.stdout and "singularity-music" in table.stdout


def test_preview_writes_titled_tracks(tmp_path):
    proc = run_cli("build-dataset", "avdnr", "-o", tmp_path, "--clips", "1", "--duration", "2", "--sources", "procedural",
                   "--preview", "1", "--json", check=True)
    previews = json.loads(proc.stdout)["previews"]
    assert len(previews) == 1 and os.path.isfile(previews[0])
    import av

    with av.open(previews[0]) as c:
        titles = [s.metadata.get("title", s.metadata.get("handler_name")) for s in c.streams.audio]  # mp4 keeps handler_name
        assert len(c.streams.video) == 1
    assert titles == ["mixture", "dialogue", "music", "effects"]


# ---- the extra collection ------------------------------------------------------------------------------------------
EXTRA_NAMES = ("btanks-data", "krank", "wordwarvi-sound")


@pytest.fixture(scope="module")
def fetched_extra(fetched, tmp_path_factory) -> Path:
    """The starter fixture packages plus three of the extra collection, laid out like the real ones."""
    root = tmp_path_factory.mktemp("assets-extra")
    shutil.copytree(fetched / "packages", root / "packages", symlinks=True)
    (root / "debs").mkdir()
    tmp = tmp_path_factory.mktemp("debsrc-extra")
    bt, kr, ww = "usr/share/games/btanks/data/sounds", "usr/share/games/krank/sounds", "usr/share/wordwarvi/sounds"
    _deb(tmp, "btanks-data", {f"{bt}/explosion.ogg": _effect(11), f"{bt}/ambient/wind.ogg": _ambience(11)}, root / "debs")
    _deb(tmp, "krank", {f"{kr}/summer/atmo.ogg": _ambience(12), f"{kr}/summer/hit.wav": _effect(12),
                        f"{kr}/menu/click.wav": _effect(13)}, root / "debs")
    _deb(tmp, "wordwarvi-sound", {f"{ww}/bomb.ogg": _effect(14), f"{ww}/destiny_facedown.ogg": _music(14),
                                  f"{ww}/highscoremusic.ogg": _music(15)}, root / "debs")
    report = fetch.fetch(EXTRA_NAMES, root, apt_get="false")
    assert sorted(report.fetched) == sorted(EXTRA_NAMES) and not report.failed, report.as_dict()
    return root


def test_extra_collection_is_indexed_but_builds_draw_from_the_starter_one(fetched, fetched_extra):
    everything = index.load_index(fetched_extra, refresh=True)
    starter = index.load_index(fetched_extra, collections=("starter",))
    before = index.load_index(fetched)
    # what the starter builds draw from is what it was before the extra packages came: the same files, in order
    assert [f.path for f in starter.files] == [f.path for f in before.files]
    assert all(f.collection == "starter" for f in starter.files)
    extra = {(f.package, f.category, Path(f.path).name) for f in everything.files if f.collection == "extra"}
    assert extra == {("btanks-data", "effects", "explosion.ogg"), ("btanks-data", "ambience", "wind.ogg"),
                     ("krank", "ambience", "atmo.ogg"), ("krank", "effects", "hit.wav"), ("wordwarvi-sound", "effects", "bomb.ogg"),
                     ("wordwarvi-sound", "music", "destiny_facedown.ogg")}  # menu clicks and the other music left out
    assert [Path(f.path).name for f in everything.files if f.vocals] == ["destiny_facedown.ogg"]
    assert {f.split for f in everything.files if f.package == "krank"} == {"test"}
    s = everything.summary()
    assert s["sung"] == {"minutes": pytest.approx(6.0 / 60, abs=0.01), "files": 1, "packages": ["wordwarvi-sound"]}
    rows = {r["package"]: r for r in s["categories"]["ambience"]["packages"]}
    assert rows["krank"]["collection"] == "extra" and rows["lincity-ng-data"]["collection"] == "starter"
    # the generators: starter by default, every collection with assets="all"
    assert {f.package for f in real.RealSources(starter).index.pool("effects", "train")}.isdisjoint(EXTRA_NAMES)
    assert "btanks-data" in {f.package for f in real.RealSources(everything).index.pool("effects", "train")}


def test_build_with_assets_all_draws_extra_packages(fetched_extra, tmp_path, monkeypatch):
    monkeypatch.setenv("AVREMIX_ASSETS", str(fetched_extra))
    real._sources_at.cache_clear()
    assert "krank" not in {f.package for f in real.real_sources().index.pool("ambience", "test")}
    assert {f.package for f in real.real_sources("all").index.pool("ambience", "test")} == {"krank", "lincity-ng-data"}
    proc = run_cli("build-dataset", "avdnr", "-o", tmp_path / "out", "--sources", "real", "--assets", "all", "--clips", "12",
                   "--duration", "2", "--json", check=True)
    assert json.loads(proc.stdout)["examples"] == 12
    used = {r["package"] for line in (tmp_path / "out/manifest.jsonl").read_text().splitlines()
            for refs in json.loads(line)["assets"].values() for r in refs}
    assert used & set(EXTRA_NAMES), used
    bad = run_cli("build-dataset", "avdnr", "-o", tmp_path / "bad", "--sources", "real", "--assets", "most", "--clips", "1")
    assert bad.returncode == 2 and "--assets must be starter or all" in bad.stderr and "Traceback" not in bad.stderr
    assert not (tmp_path / "bad" / "manifest.jsonl").exists()


def test_assets_command_lists_collections_and_sung_minutes(fetched_extra, monkeypatch):
    monkeypatch.setenv("AVREMIX_ASSETS", str(fetched_extra))
    data = json.loads(run_cli("assets", "--json", check=True).stdout)
    effects = {r["package"]: r["collection"] for r in data["categories"]["effects"]["packages"]}
    assert effects["btanks-data"] == "extra" and effects["qabcs-data"] == "starter"
    assert data["sung"]["files"] == 1 and "krank" in data["held_out"]["test"]
    table = run_cli("assets", check=True).stdout
    assert "effects + ambience:" in table and "music with sung vocals: 0.1 min in 1 file\n" in table
    bad = run_cli("assets", "--fetch", "--collection", "most")
    assert bad.returncode == 2 and "--collection must be starter, extra or all" in bad.stderr


def test_shipped_catalogue_extra_collection():
    import fnmatch

    extra = [p for p in catalog.CATALOG if p.collection == "extra"]
    assert set(catalog.EXTRA) == {p.name for p in extra} and set(catalog.STARTER).isdisjoint(catalog.EXTRA)
    for split in ("val", "test"):  # held-out effects and ambience of their own in the extra collection
        cats = {part.category for p in extra if p.split == split for part in p.parts}
        assert {"effects", "ambience"} <= cats, (split, cats)
    for pkg in catalog.CATALOG:
        for part in pkg.parts:  # a part inside an unpacked archive names the archive
            inside = [a for a in pkg.archives if part.root.startswith(a + ".d/") or part.root == a + ".d"]
            assert inside or not any(x.endswith(".d") for x in Path(part.root).parts), (pkg.name, part.root)
        for path in pkg.sung:  # every sung file is selected as music by the package's own parts
            assert any(part.category == "music" and path.startswith(part.root + "/")
                       and any(fnmatch.fnmatch(path[len(part.root) + 1:], i) for i in part.include) for part in pkg.parts), path
