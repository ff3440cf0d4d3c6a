"""An index of the real recordings in the assets folder: every usable file with its category, speaker or
piece, language, sample rate, duration, licence and split.

Indexing reads only file headers (soundfile, else PyAV) and hashes file contents, once per package: the
result is cached in ``<assets>/index/<package>.json`` and reused while the package's ``.complete`` stamp
and its catalogue entry are unchanged, so the second run is fast. Duplicates are removed:

- twin packages (the asterisk ``-wav`` sets hold the ``-g722`` recordings at 8 kHz): the twin is skipped
  when the package it duplicates is installed;
- identical files (the same bytes: ktuberling's ``sr*`` locales, repeated prompts) are kept once, in
  catalogue order.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from avremix.data.sources.catalog import AUDIO_EXTS, CATEGORIES, SPLITS, Catalog, Package, match
from avremix.data.sources.fetch import STAMP, assets_root, is_installed, package_dir

INDEX_VERSION = 2  # 2: vocals (sung music)


@dataclass(frozen=True)
class AssetFile:
    path: str  # relative to the assets folder
    package: str
    category: str  # speech | music | effects | ambience
    source: str  # speaker (speech) or piece / file (music, effects, ambience), namespaced by package
    language: str | None
    sample_rate: int
    channels: int
    seconds: float
    words: bool  # isolated words / short prompts
    split: str
    licence: str
    sha1: str
    collection: str = "starter"  # the package's collection (catalog.COLLECTIONS)
    vocals: bool = False  # music with sung vocals (the package's ``sung`` list)


class AssetIndex:
    """The indexed files, with pools per category and split."""

    def __init__(self, root: Path, files: list[AssetFile], duplicates: dict[str, int], skipped: dict[str, str],
                 catalog: Catalog):
        self.root, self.files, self.duplicates, self.skipped, self.catalog = root, files, duplicates, skipped, catalog
        self._pools: dict[tuple[str, str], list[AssetFile]] = defaultdict(list)
        for f in files:
            self._pools[f.category, f.split].append(f)

    def pool(self, category: str, split: str) -> list[AssetFile]:
        return self._pools.get((category, split), [])

    def has(self, category: str, split: str | None = None) -> bool:
        return any(self.pool(category, s) for s in ([split] if split else SPLITS))

    def abspath(self, f: AssetFile) -> str:
        return str(self.root / f.path)

    def summary(self) -> dict:
        """Per category: packages (files, hours, rates, languages, speakers, licence, split) and totals."""
        out: dict = {"assets": str(self.root), "categories": {}, "held_out": {}, "skipped": self.skipped}
        by_pkg: dict[tuple[str, str], list[AssetFile]] = defaultdict(list)
        for f in self.files:
            by_pkg[f.category, f.package].append(f)
        for cat in CATEGORIES:
            rows = []
            for (c, name), fs in by_pkg.items():
                if c != cat:
                    continue
                pkg = self.catalog.get(name)
                rows.append({
                    "package": name, "collection": pkg.collection, "files": len(fs),
                    "hours": round(sum(f.seconds for f in fs) / 3600, 3),
                    "sample_rates": sorted({f.sample_rate for f in fs}),
                    "languages": sorted({f.language for f in fs if f.language}),
                    "speakers" if cat == "speech" else "sources": len({f.source for f in fs}),
                    "licence": pkg.licence, "split": pkg.split, "duplicates_removed": self.duplicates.get(name, 0),
                })
            rows.sort(key=lambda r: (SPLITS.index(r["split"]), -r["hours"]))
            out["categories"][cat] = {"hours": round(sum(r["hours"] for r in rows), 3), "files": sum(r["files"] for r in rows),
                                      "packages": rows}
        sung = [f for f in self.files if f.vocals]
        out["sung"] = {"minutes": round(sum(f.seconds for f in sung) / 60, 2), "files": len(sung),
                       "packages": sorted({f.package for f in sung})}
        for split in ("val", "test"):
            out["held_out"][split] = sorted({f.package for f in self.files if f.split == split})
        return out


def load_index(root: str | Path | None = None, catalog: Catalog | None = None, refresh: bool = False,
               on_package: Callable[[str, bool], None] | None = None,
               collections: tuple[str, ...] | None = None) -> AssetIndex:
    """Index every installed package of ``catalog`` in ``root`` (cached per package; ``refresh`` rebuilds),
    of the given ``collections`` only (None: all). ``on_package(name, cached)`` is called per package."""
    catalog = catalog or Catalog()
    root = assets_root(root)
    installed = [p for p in catalog.packages if is_installed(root, p.name) and (collections is None or p.collection in collections)]
    names = {p.name for p in installed}
    files: list[AssetFile] = []
    skipped: dict[str, str] = {}
    for pkg in installed:
        if pkg.twin_of and pkg.twin_of in names:
            skipped[pkg.name] = f"duplicate of {pkg.twin_of}"
            continue
        rows, cached = _package_rows(root, pkg, refresh)
        files += rows
        if on_package:
            on_package(pkg.name, cached)
    seen: dict[str, str] = {}
    kept: list[AssetFile] = []
    duplicates: dict[str, int] = defaultdict(int)
    for f in files:
        if f.sha1 in seen:
            duplicates[f.package] += 1
            continue
        seen[f.sha1] = f.path
        kept.append(f)
    return AssetIndex(root, kept, dict(duplicates), skipped, catalog)


def _entry_key(root: Path, pkg: Package) -> str:
    stamp = package_dir(root, pkg.name) / STAMP
    return hashlib.sha1(json.dumps([INDEX_VERSION, asdict(pkg), stamp.stat().st_mtime_ns], sort_keys=True).encode()).hexdigest()


def _package_rows(root: Path, pkg: Package, refresh: bool) -> tuple[list[AssetFile], bool]:
    cache = root / "index" / f"{pkg.name}.json"
    key = _entry_key(root, pkg)
    if not refresh and cache.is_file():
        try:
            data = json.loads(cache.read_text())
            if data.get("key") == key:
                return [AssetFile(**r) for r in data["files"]], True
        except (ValueError, TypeError, KeyError):
            pass
    rows = index_package(root, pkg)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "files": [asdict(r) for r in rows]}))
    os.replace(tmp, cache)
    return rows, False


def index_package(root: Path, pkg: Package) -> list[AssetFile]:
    """Every audio file of an installed package that one of its parts selects (unreadable files are left out)."""
    base = package_dir(root, pkg.name)
    sung = {base / s for s in pkg.sung}
    rows = []
    for part in pkg.parts:
        folder = base / part.root
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder).as_posix()
            if path.suffix.lower() not in AUDIO_EXTS or not path.is_file():
                continue
            if not any(fnmatch.fnmatch(rel, pat) for pat in part.include) or any(fnmatch.fnmatch(rel, pat) for pat in part.exclude):
                continue
            info = audio_info(path)
            if info is None or info[2] <= 0.05:
                continue
            sr, ch, seconds = info
            speaker = match(part.speaker, rel, None if part.category == "speech" else rel)
            source = f"{pkg.name}:{speaker}" if speaker else pkg.name
            rows.append(AssetFile(
                path=path.relative_to(root).as_posix(), package=pkg.name, category=part.category, source=source,
                language=match(part.language, rel, None), sample_rate=sr, channels=ch, seconds=round(seconds, 3),
                words=part.words, split=pkg.split, licence=pkg.licence, sha1=_sha1(path), collection=pkg.collection,
                vocals=part.category == "music" and path in sung))
    return rows


def audio_info(path: Path) -> tuple[int, int, float] | None:
    """(sample rate, channels, seconds) from the header; None if neither libsndfile nor FFmpeg can read it."""
    try:
        import soundfile as sf

        info = sf.info(str(path))
        if info.frames > 0:
            return int(info.samplerate), int(info.channels), info.frames / info.samplerate
    except Exception:  # noqa: BLE001 - fall through to PyAV
        pass
    try:
        import av

        with av.open(str(path)) as c:
            s = c.streams.audio[0]
            seconds = float(c.duration / 1e6) if c.duration else float(s.duration * s.time_base) if s.duration else 0.0
            return int(s.rate), int(s.channels), seconds
    except Exception:  # noqa: BLE001
        return None


def _sha1(path: Path) -> str:
    h = hashlib.sha1()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()



def survey(fetch_packages: list[str] | None = None, root: str | Path | None = None, refresh: bool = False,
           on_event: Callable[[str, str], None] | None = None) -> dict:
    """What ``avremix assets`` reports: fetch ``fetch_packages`` first (if given), then index and summarise."""
    from avremix.data.sources.fetch import fetch

    report = fetch(fetch_packages, root, on_event=on_event) if fetch_packages else None
    summary = load_index(root, refresh=refresh, on_package=(lambda n, cached: on_event(n, "indexed")) if on_event else None).summary()
    return summary | ({"fetch": report.as_dict()} if report else {})
