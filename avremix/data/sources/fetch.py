"""Fetch real recordings from Debian's archive into the assets folder, with no root and no dependency pulled in.

For each package: ``apt-get download`` (only the ``.deb`` itself) → ``dpkg -x`` into a temporary folder →
the zip archives its catalogue entry names unpacked (audio members only) → raw G.722 files converted to
16 kHz WAV → everything that is neither audio nor the package's documentation removed (game packages hold
hundreds of MB of textures) → the package's ``copyright`` file copied to the top of its folder → the folder
renamed to ``<assets>/packages/<name>`` with a ``.complete`` stamp. A finished package is never fetched
again, an interrupted one leaves only a temporary folder that the next run deletes, and a package that
fails is reported and skipped while the others go on.

Where Debian's package lists are missing and we are not root, a private apt state (``<assets>/apt``) is
updated and used instead of the system's.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from avremix.data.sources.catalog import AUDIO_EXTS, Catalog, Package, STARTER

STAMP = ".complete"


def assets_root(root: str | Path | None = None) -> Path:
    """The assets folder: ``root``, else ``$AVREMIX_ASSETS``, else ``~/.cache/avremix/assets``."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("AVREMIX_ASSETS")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "avremix" / "assets"


def package_dir(root: Path, name: str) -> Path:
    return root / "packages" / name


def is_installed(root: Path, name: str) -> bool:
    return (package_dir(root, name) / STAMP).is_file()


@dataclass
class FetchReport:
    fetched: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)  # already there: nothing downloaded
    failed: dict[str, str] = field(default_factory=dict)  # name -> why
    downloaded_bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict:
        return {"fetched": self.fetched, "present": self.present, "failed": self.failed,
                "downloaded_mb": round(self.downloaded_bytes / 1e6, 1), "seconds": round(self.seconds, 1)}


def fetch(names: Iterable[str] = STARTER, root: str | Path | None = None, catalog: Catalog | None = None,
          on_event: Callable[[str, str], None] | None = None, apt_get: str = "apt-get") -> FetchReport:
    """Fetch ``names`` into ``root`` (see the module docstring). ``on_event(name, status)`` reports progress
    (status: ``present``, ``download``, ``unpack``, ``done``, ``failed: why``)."""
    catalog = catalog or Catalog()
    root = assets_root(root)
    report, t0 = FetchReport(), time.monotonic()
    say = on_event or (lambda name, status: None)
    packages = [catalog.get(n) for n in dict.fromkeys(names)]
    (root / "packages").mkdir(parents=True, exist_ok=True)
    debs = root / "debs"
    debs.mkdir(exist_ok=True)
    todo = []
    for pkg in packages:
        if is_installed(root, pkg.name):
            report.present.append(pkg.name)
            say(pkg.name, "present")
        else:
            todo.append(pkg)
    missing = [p.name for p in todo if _deb_of(debs, p.name) is None]
    if missing:
        for name in missing:
            say(name, "download")
        report.downloaded_bytes += _download(missing, debs, root, apt_get, report.failed)
    for pkg in todo:
        if pkg.name in report.failed:
            say(pkg.name, f"failed: {report.failed[pkg.name]}")
            continue
        say(pkg.name, "unpack")
        try:
            install_deb(pkg, _deb_of(debs, pkg.name), root)
        except Exception as e:  # noqa: BLE001 - one broken package never stops the others
            report.failed[pkg.name] = str(e).splitlines()[0] if str(e) else type(e).__name__
            say(pkg.name, f"failed: {report.failed[pkg.name]}")
            continue
        report.fetched.append(pkg.name)
        say(pkg.name, "done")
    report.seconds = time.monotonic() - t0
    return report


def _deb_of(debs: Path, name: str) -> Path | None:
    found = sorted(debs.glob(f"{name}_*.deb"))
    return found[-1] if found else None


def _apt_options(root: Path, apt_get: str, lists: Path = Path("/var/lib/apt/lists")) -> list[str]:
    """Options for a private apt state (``root/apt``, updated once) when the system's package lists are
    missing: nothing of the system's apt state is touched, root or not."""
    if lists.is_dir() and any(lists.glob("*_Packages*")):
        return []
    state = root / "apt"
    for sub in ("lists/partial", "cache/archives/partial"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    opts = [f"-oDir::State::Lists={state / 'lists'}", f"-oDir::Cache={state / 'cache'}", "-oDebug::NoLocking=1"]
    if not any((state / "lists").glob("*_Packages*")):
        _run([apt_get, *opts, "-qq", "update"], "apt-get update (private state)", cwd=root)
    return opts


def _download(names: list[str], debs: Path, root: Path, apt_get: str, failed: dict[str, str]) -> int:
    """``apt-get download`` in one call; if that fails, one call per package so one bad name fails alone."""
    try:
        opts = _apt_options(root, apt_get)
    except RuntimeError as e:
        failed.update({n: str(e) for n in names})
        return 0
    before = {p: p.stat().st_size for p in debs.glob("*.deb")}
    try:
        _run([apt_get, *opts, "-qq", "download", *names], "apt-get download", cwd=debs)
    except RuntimeError:
        for name in names:
            if _deb_of(debs, name) is None:
                try:
                    _run([apt_get, *opts, "-qq", "download", name], "apt-get download", cwd=debs)
                except RuntimeError as e:
                    failed[name] = str(e)
    return sum(p.stat().st_size for p in debs.glob("*.deb") if p not in before)


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    except FileNotFoundError as e:
        raise RuntimeError(f"{what}: {cmd[0]} not found (Debian's apt and dpkg are needed)") from e
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if not ln.startswith("W:")]
        raise RuntimeError(f"{what} failed: {' | '.join(lines[-2:]) or f'exit {proc.returncode}'}")


def install_deb(pkg: Package, deb: Path, root: Path) -> Path:
    """Unpack ``deb`` for ``pkg`` into ``root/packages/<name>`` (atomic: a temporary folder, then a rename)."""
    final = package_dir(root, pkg.name)
    for stale in final.parent.glob(f".{pkg.name}.tmp-*"):
        shutil.rmtree(stale, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{pkg.name}.tmp-", dir=final.parent))
    try:
        _run(["dpkg-deb", "-x", str(deb), str(tmp)], f"dpkg -x {deb.name}")
        for archive in pkg.archives:
            unzip_audio(tmp / archive)
        for g722 in sorted(tmp.rglob("*.g722")):
            convert_g722(g722)
        _prune(tmp)
        copyright_ = tmp / "usr/share/doc" / pkg.name / "copyright"
        if copyright_.is_file():
            shutil.copyfile(copyright_, tmp / "copyright")
        (tmp / STAMP).write_text(json.dumps({"package": pkg.name, "deb": deb.name, "licence": pkg.licence}) + "\n")
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    deb.unlink(missing_ok=True)  # the unpacked folder is what counts; the next run finds its stamp
    return final


def unzip_audio(archive: Path) -> Path:
    """Extract the audio members of a zip archive (``.pk3``, ``.wz``) to ``<archive>.d/`` and delete it."""
    if not archive.is_file():
        raise RuntimeError(f"{archive.name}: archive missing from the package")
    out = archive.with_name(archive.name + ".d")
    with zipfile.ZipFile(archive) as z:
        for info in z.infolist():
            name = info.filename
            if info.is_dir() or Path(name).suffix.lower() not in AUDIO_EXTS or ".." in Path(name).parts or name.startswith("/"):
                continue
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    archive.unlink()
    return out


def convert_g722(path: Path) -> Path:
    """Raw G.722 (16 kHz; libsndfile cannot read it) → 16-bit WAV beside it; the raw file is removed."""
    import av
    import soundfile as sf

    with av.open(str(path), format="g722") as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray().reshape(-1) for f in container.decode(stream)]
        rate = stream.rate
    pcm = np.concatenate(frames) if frames else np.zeros(0, np.int16)
    out = path.with_suffix(".wav")
    sf.write(out, pcm.astype(np.int16), rate, subtype="PCM_16")
    path.unlink()
    return out


def _prune(tree: Path) -> None:
    """Keep audio files and the package's documentation; drop the rest (textures, models, code)."""
    for p in sorted(tree.rglob("*"), reverse=True):
        if p.is_symlink() or p.is_file():
            keep = p.suffix.lower() in AUDIO_EXTS and not p.is_symlink()
            keep = keep or "usr/share/doc" in p.relative_to(tree).as_posix()
            if not keep:
                p.unlink()
        elif p.is_dir() and not any(p.iterdir()):
            p.rmdir()
