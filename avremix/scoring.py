"""``avremix evaluate --est DIR --ref DIR``: score outputs a user already has against references.

Two layouts, matched by name (the path below the folder, without the extension, so ``a/clip.mp4`` in
``--est`` pairs with ``a/clip.wav`` in ``--ref``):

- **remix** (no ``--stems``): ``EST/<name>.<ext>`` against ``REF/<name>.<ext>``, optionally beside the
  unprocessed ``INPUT/<name>.<ext>``. Rows: ``estimate`` and, with an input, ``input`` (the input scored
  as if it were the output: the bar to beat) and ``reference`` (the reference's own loudness, range and
  gain flutter against the input).
- **separation** (``--stems dx fx mx``): ``EST/<name>/<stem>.<ext>`` against ``REF/<name>/<stem>.<ext>``
  (the layout ``avremix separate`` writes; a stem file is named ``dialogue``/``effects``/``music`` or
  ``dx``/``fx``/``mx``), with the mixture ``INPUT/<name>.<ext>`` (without one, the sum of the reference
  stems). Rows: ``estimate`` and ``input`` (the mixture as every stem's estimate).

Video files are read for their audio (the default stream, as the commands pick it) and, for T_A-V, for
their picture (the input's, else the estimate's). Every signal is scored as a mono downmix, except
loudness and loudness range, which follow the file's own channels. An estimate at another sample rate is
resampled to the reference's; lengths that differ are scored over the common part, and both are reported
in the clip's ``notes`` (never cropped silently). Files only on one side are listed in ``unmatched``.

Metric definitions are in :mod:`avremix.metrics` and :mod:`avremix.tagging`. MAG, ENV and W-dis are the
VisAH paper's, at 16 kHz (the rate they were defined and trained at); FAD is one value per row, over the
whole set.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from avremix.errors import AvremixError, UsageError
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS

STEM_FILES = {"dialogue": ("dialogue", "dx"), "effects": ("effects", "fx"), "music": ("music", "mx")}
SCORE_RATE = 16000  # MAG / ENV / W-dis / flutter / YAMNet
MOTION_FPS = 10.0
MOTION_SIZE = (64, 64)
#: lower is better for these metrics (the report sorts the worst clip first with them)
LOWER_IS_BETTER = ("MAG", "MAG_matched", "ENV", "W-dis", "flutter", "flutter_p95", "KLD", "FAD", "WPR", "leakage")


@dataclass
class Signal:
    """One file's audio, as scored: ``audio [C, T]`` at ``sample_rate``, and its path."""

    path: Path
    audio: np.ndarray
    sample_rate: int

    @property
    def mono(self) -> np.ndarray:
        return self.audio.mean(0)

    @property
    def seconds(self) -> float:
        return self.audio.shape[-1] / self.sample_rate


@dataclass
class Clip:
    """A matched clip: its name, its files, what was done to line them up, and its values per row."""

    name: str
    files: dict
    notes: list[str] = field(default_factory=list)
    values: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"name": self.name, "files": self.files, "notes": self.notes, "values": self.values}


def _is_media(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS | VIDEO_EXTENSIONS and not p.name.startswith(".")


def media_by_name(folder: Path) -> dict[str, Path]:
    """Media files below ``folder`` by their path without extension (``a/clip``); two files of one name
    (``clip.mp4`` and ``clip.wav``) are an error that names both."""
    found: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if not _is_media(p) or any(part.startswith(".") for part in p.relative_to(folder).parts):
            continue
        key = p.relative_to(folder).with_suffix("").as_posix()
        if key in found:
            raise UsageError(f"two files share the name {key!r} ({found[key].name} and {p.name}); keep one", folder)
        found[key] = p
    return found


def stems_by_name(folder: Path, stems: list[str]) -> dict[str, dict[str, Path]]:
    """``{clip: {stem: path}}`` for the folders below ``folder`` that hold a file of at least one of
    ``stems`` (``dialogue.flac`` or ``dx.wav``...)."""
    clips: dict[str, dict[str, Path]] = {}
    for key, path in media_by_name(folder).items():
        clip, _, word = key.rpartition("/")
        for stem in stems:
            if word.lower() in STEM_FILES[stem]:
                clips.setdefault(clip or ".", {})[stem] = path
    return clips


def read_signal(path: Path) -> Signal:
    from avremix.media.audio import read_audio

    audio, rate = read_audio(path)
    return Signal(path, audio.astype(np.float32), rate)


def _resample(x: np.ndarray, src: int, dst: int) -> np.ndarray:
    if src == dst:
        return x
    import torchaudio.functional as AF

    return AF.resample(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), src, dst).numpy()


def line_up(estimate: Signal, reference: Signal, notes: list[str], what: str = "estimate") -> tuple[Signal, Signal]:
    """``estimate`` at the reference's rate and both over their common length; what was done goes to
    ``notes``."""
    audio = estimate.audio
    if estimate.sample_rate != reference.sample_rate:
        notes.append(f"{what} at {estimate.sample_rate} Hz resampled to the reference's {reference.sample_rate} Hz")
        audio = _resample(audio, estimate.sample_rate, reference.sample_rate)
    if audio.shape[0] != reference.audio.shape[0]:
        notes.append(f"{what} has {audio.shape[0]} channels, the reference {reference.audio.shape[0]}: compared as mono downmixes")
    n, m = audio.shape[-1], reference.audio.shape[-1]
    if n != m:
        longer = "longer" if n > m else "shorter"
        notes.append(f"{what} is {abs(n - m) / reference.sample_rate:.3f} s {longer} than the reference "
                     f"({n / reference.sample_rate:.3f} s against {m / reference.sample_rate:.3f} s): scored over the common "
                     f"{min(n, m) / reference.sample_rate:.3f} s")
    k = min(n, m)
    return Signal(estimate.path, audio[:, :k], reference.sample_rate), Signal(reference.path, reference.audio[:, :k], reference.sample_rate)


def at_score_rate(s: Signal) -> np.ndarray:
    """Mono downmix at :data:`SCORE_RATE`: ``[T]``."""
    return _resample(s.mono, s.sample_rate, SCORE_RATE)


def motion_of(path: Path | None) -> np.ndarray | None:
    """Per-frame motion energy of a file's picture at :data:`MOTION_FPS` (None: no picture)."""
    if path is None or path.suffix.lower() not in VIDEO_EXTENSIONS:
        return None
    from avremix.media import probe
    from avremix.media.video import FrameSampler
    from avremix.metrics import motion_energy

    info = probe(path)
    if not info.has_video:
        return None
    n_frames = int(math.ceil((info.duration or 0) * MOTION_FPS)) or None
    curve, block = [], []
    for frame in FrameSampler(path, MOTION_FPS, MOTION_SIZE, info=info, n_frames=n_frames):  # streamed: a film's frames never all in memory
        block.append(frame)
        if len(block) == 257:  # 256 new frames after the previous block's last one
            curve.append(motion_energy(np.stack(block))[1 if curve else 0:])
            block = block[-1:]
    if len(block) > 1 or not curve:
        curve.append(motion_energy(np.stack(block))[1 if curve else 0:])
    return np.concatenate(curve)


class Tags:
    """YAMNet posteriors and embeddings of a signal, computed once and shared by KLD, FAD and WPR."""

    def __init__(self, audio16k: np.ndarray):
        from avremix.tagging import yamnet_frames

        _, self.probs, self.embeddings = yamnet_frames(audio16k, SCORE_RATE)


def _flutter(output16: np.ndarray, input16: np.ndarray) -> dict[str, float]:
    """Gain flutter of ``output16`` against ``input16`` (both at :data:`SCORE_RATE`): median and 95th percentile."""
    from avremix.metrics import gain_flutter

    n = min(output16.shape[-1], input16.shape[-1])
    out, inp = (torch.from_numpy(np.ascontiguousarray(x[:n]))[None, None] for x in (output16, input16))
    return {"flutter": float(gain_flutter(out, inp, SCORE_RATE)[0]), "flutter_p95": float(gain_flutter(out, inp, SCORE_RATE, quantile=0.95)[0])}


def _speech_scores(est: np.ndarray, ref: np.ndarray, sr: int) -> dict[str, float]:
    from avremix.metrics import pesq_scores, stoi_score

    return {**pesq_scores(est, ref, sr), "STOI": stoi_score(est, ref, sr)}


def remix_values(est: Signal, ref: Signal, r16: np.ndarray, i16: np.ndarray | None, tags_ref: Tags, motion: np.ndarray | None,
                 speech: bool = True) -> tuple[dict[str, float], Tags]:
    """Every remix metric of ``est`` against ``ref`` (``r16``/``i16``: the reference and the unprocessed
    input at :data:`SCORE_RATE`; without an input, no gain flutter)."""
    from avremix.metrics import integrated_loudness, loudness_range, mag_matched, score, temporal_alignment
    from avremix.tagging import kld_from_probs

    e16 = at_score_rate(est)
    n = min(e16.shape[-1], r16.shape[-1])
    pred, target = (torch.from_numpy(np.ascontiguousarray(x[:n]))[None, None] for x in (e16, r16))
    values = {k: float(v[0]) for k, v in score(pred, target, SCORE_RATE).items()}
    values["MAG_matched"] = float(mag_matched(pred, target, SCORE_RATE)[0])
    if i16 is not None:
        values.update(_flutter(e16, i16))
    values["LUFS"] = integrated_loudness(est.audio, est.sample_rate)
    values["LRA"] = loudness_range(est.audio, est.sample_rate)
    if speech:
        values.update(_speech_scores(est.mono, ref.mono, ref.sample_rate))
    tags = Tags(e16)
    values["KLD"] = kld_from_probs(tags_ref.probs.mean(0), tags.probs.mean(0))
    if motion is not None:
        values["T_A-V"] = temporal_alignment(e16, SCORE_RATE, motion, MOTION_FPS)
    return values, tags


def separation_values(est: dict[str, Signal], ref: dict[str, Signal], mixture: Signal, ref_tags: dict[str, Tags],
                      motion: np.ndarray | None, speech: bool = True) -> tuple[dict[str, float], dict[str, Tags]]:
    """Every separation metric of the estimated stems against the reference stems (``mixture``: the
    input, lined up with them)."""
    from avremix.metrics import consistency_dbfs, leakage_db, sdr, si_sdr, temporal_alignment
    from avremix.tagging import kld_from_probs, wpr_from_probs

    values: dict[str, float] = {}
    tags: dict[str, Tags] = {}
    seen: dict[int, tuple[np.ndarray, Tags]] = {}  # the input row gives every stem the same mixture: tag it once
    mix = torch.from_numpy(mixture.mono)[None]
    for stem, e in est.items():
        r = ref[stem]
        pe, pr = torch.from_numpy(e.mono)[None], torch.from_numpy(r.mono)[None]
        values[f"SDR_{stem}"] = float(sdr(pe, pr)[0])
        values[f"SI-SDR_{stem}"] = float(si_sdr(pe, pr)[0])
        values[f"SI-SDRi_{stem}"] = values[f"SI-SDR_{stem}"] - float(si_sdr(mix, pr)[0])
        values[f"leakage_{stem}"] = leakage_db(e.mono, r.mono, mixture.mono, r.sample_rate)
        if id(e) not in seen:
            e16 = at_score_rate(e)
            seen[id(e)] = e16, Tags(e16)
        e16, tags[stem] = seen[id(e)]
        values[f"KLD_{stem}"] = kld_from_probs(ref_tags[stem].probs.mean(0), tags[stem].probs.mean(0))
        values[f"WPR_{stem}"] = wpr_from_probs(tags[stem].probs, stem)
        if stem == "dialogue" and speech:
            values.update({f"{k}_dialogue": v for k, v in _speech_scores(e.mono, r.mono, r.sample_rate).items()})
        if motion is not None:
            values[f"T_A-V_{stem}"] = temporal_alignment(e16, SCORE_RATE, motion, MOTION_FPS)
    if set(est) == set(STEM_FILES):
        channels = min(s.audio.shape[0] for s in est.values())
        total = sum(s.audio[:channels] for s in est.values())
        values["consistency_dBFS"] = consistency_dbfs(total[None], mixture.audio[:channels])
    values["SI-SDRi_mean"] = float(np.mean([values[f"SI-SDRi_{s}"] for s in est]))
    return values, tags


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(finite)) if finite else float("nan")


def score_outputs(est_dir: str | os.PathLike, ref_dir: str | os.PathLike, input_dir: str | os.PathLike | None = None,
                  stems: list[str] | None = None, speech: bool = True,
                  on_clip: Callable[[int, int, str], None] | None = None) -> dict:
    """Score the outputs in ``est_dir`` against ``ref_dir`` (see the module's docstring). Returns ``rows``
    (the mean of every metric per row, FAD over the set), ``clips`` (per-clip values, files and notes),
    ``unmatched``, ``failed`` (clips whose files could not be read, with the error) and ``mode``. ``speech=False`` leaves out PESQ and STOI (slow on long files)."""
    from avremix.tagging import fad_from_embeddings

    est_dir, ref_dir = Path(est_dir), Path(ref_dir)
    in_dir = Path(input_dir) if input_dir is not None else None
    for what, folder in (("--est", est_dir), ("--ref", ref_dir), ("--input", in_dir)):
        if folder is not None and not folder.is_dir():
            raise UsageError(f"{what}: not a folder" if folder.exists() else f"{what}: no such folder", folder)
    inputs = media_by_name(in_dir) if in_dir is not None else {}
    if stems:
        est_files, ref_files = stems_by_name(est_dir, stems), stems_by_name(ref_dir, stems)
    else:
        est_files, ref_files = media_by_name(est_dir), media_by_name(ref_dir)
    names = sorted(set(est_files) & set(ref_files))
    unmatched = {"estimate only": sorted(set(est_files) - set(ref_files)), "reference only": sorted(set(ref_files) - set(est_files))}
    if in_dir is not None:
        unmatched["no input"] = [n for n in names if n not in inputs]
    if not names:
        raise UsageError(f"no clip is in both --est and --ref (matched by name below each folder{'; with --stems, OUT/<clip>/<stem>.<ext>' if stems else ''})", est_dir)
    clips: list[Clip] = []
    failed: list[dict] = []
    embeddings: dict[str, list[np.ndarray]] = {}
    for i, name in enumerate(names):
        if on_clip:
            on_clip(i, len(names), name)
        inp_path = inputs.get(name)
        found: dict[str, list[np.ndarray]] = {}
        try:  # one unreadable file never stops the others; the summary lists it
            if stems:
                clip = _score_separation(name, est_files[name], ref_files[name], inp_path, found, speech)
            else:
                clip = _score_remix(name, est_files[name], ref_files[name], inp_path, found, speech)
        except AvremixError as e:
            failed.append({"name": name, "error": str(e)})
            continue
        clips.append(clip)
        for key, embs in found.items():
            embeddings.setdefault(key, []).extend(embs)
    if on_clip:
        on_clip(len(names), len(names), "")
    if not clips:
        raise UsageError(f"no clip could be scored: {failed[0]['error']}" + (f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""))
    rows: dict[str, dict[str, float]] = {}
    for row in dict.fromkeys(r for c in clips for r in c.values):
        keys = dict.fromkeys(k for c in clips for k in c.values.get(row, {}))
        rows[row] = {k: _mean([c.values[row].get(k, float("nan")) for c in clips if row in c.values]) for k in keys}
    for key, embs in embeddings.items():
        row, _, suffix = key.partition("|")
        if row != "reference" and f"reference|{suffix}" in embeddings:
            ref = np.concatenate(embeddings[f"reference|{suffix}"])
            rows.setdefault(row, {})["FAD" + (f"_{suffix}" if suffix else "")] = fad_from_embeddings(np.concatenate(embs), ref)
    return {"mode": "separation" if stems else "remix", "stems": list(stems or []), "examples": len(clips),
            "rows": rows, "clips": [c.to_dict() for c in clips], "unmatched": unmatched, "failed": failed,
            "folders": {"estimate": str(est_dir.resolve()), "reference": str(ref_dir.resolve()),
                        "input": str(in_dir.resolve()) if in_dir else None}}


def _score_remix(name: str, est_path: Path, ref_path: Path, inp_path: Path | None, embeddings: dict, speech: bool) -> Clip:
    from avremix.metrics import integrated_loudness, loudness_range

    clip = Clip(name, {"estimate": str(est_path), "reference": str(ref_path), "input": str(inp_path) if inp_path else None})
    ref = read_signal(ref_path)
    est, ref_e = line_up(read_signal(est_path), ref, clip.notes)
    inp = ref_i = None
    if inp_path is not None:
        inp, ref_i = line_up(read_signal(inp_path), ref, clip.notes, "input")
    motion = motion_of(inp_path)
    if motion is None:
        motion = motion_of(est_path)  # a highlighted video keeps its picture
    r16 = at_score_rate(ref)
    i16 = at_score_rate(inp) if inp is not None else None
    tags_ref = Tags(r16)
    clip.values["estimate"], tags = remix_values(est, ref_e, r16, i16, tags_ref, motion, speech)
    embeddings.setdefault("estimate|", []).append(tags.embeddings)
    embeddings.setdefault("reference|", []).append(tags_ref.embeddings)
    reference = {"LUFS": integrated_loudness(ref.audio, ref.sample_rate), "LRA": loudness_range(ref.audio, ref.sample_rate)}
    if inp is not None:
        clip.values["input"], tags_in = remix_values(inp, ref_i, r16, None, tags_ref, motion, speech)  # its flutter is 0 by definition
        embeddings.setdefault("input|", []).append(tags_in.embeddings)
        reference.update(_flutter(r16, i16))
    clip.values["reference"] = reference
    return clip


def _score_separation(name: str, est_paths: dict[str, Path], ref_paths: dict[str, Path], inp_path: Path | None, embeddings: dict,
                      speech: bool = True) -> Clip:
    clip = Clip(name, {"estimate": {k: str(v) for k, v in est_paths.items()}, "reference": {k: str(v) for k, v in ref_paths.items()},
                       "input": str(inp_path) if inp_path else None})
    stems = [s for s in STEM_FILES if s in est_paths and s in ref_paths]
    missing = [s for s in STEM_FILES if (s in est_paths) != (s in ref_paths)]
    if missing:
        clip.notes.append(f"stems on one side only, not scored: {', '.join(missing)}")
    refs = {s: read_signal(ref_paths[s]) for s in stems}
    anchor = refs[stems[0]]
    if inp_path is not None:
        mixture, _ = line_up(read_signal(inp_path), anchor, clip.notes, "input")
    else:
        clip.notes.append("no input: the mixture is the sum of the reference stems")
        mixture = Signal(anchor.path, sum(line_up(r, anchor, [])[0].audio for r in refs.values()), anchor.sample_rate)
    n = mixture.audio.shape[-1]
    est, ref = {}, {}
    for s in stems:
        e, r = line_up(read_signal(est_paths[s]), refs[s], clip.notes, f"{s} estimate")
        n = min(n, e.audio.shape[-1])
        est[s], ref[s] = e, r
    cut = lambda sig: Signal(sig.path, sig.audio[:, :n], sig.sample_rate)
    est, ref, mixture = {s: cut(v) for s, v in est.items()}, {s: cut(v) for s, v in ref.items()}, cut(mixture)
    ref_tags = {s: Tags(at_score_rate(r)) for s, r in ref.items()}
    motion = motion_of(inp_path)
    clip.values["estimate"], tags = separation_values(est, ref, mixture, ref_tags, motion, speech)
    as_mixture = {s: mixture for s in stems}
    clip.values["input"], tags_in = separation_values(as_mixture, ref, mixture, ref_tags, motion, speech)
    clip.values["input"].pop("consistency_dBFS", None)  # three copies of the mixture never sum to it
    for s in stems:
        embeddings.setdefault(f"estimate|{s}", []).append(tags[s].embeddings)
        embeddings.setdefault(f"input|{s}", []).append(tags_in[s].embeddings)
        embeddings.setdefault(f"reference|{s}", []).append(ref_tags[s].embeddings)
    return clip


def jsonable(value):
    """``value`` with every NaN as ``null`` and every infinity as the string ``"inf"``/``"-inf"`` (e.g. a
    leakage of −∞: nothing leaked), so that the JSON is standard and every tool reads it."""
    if isinstance(value, float):
        return None if math.isnan(value) else (("inf" if value > 0 else "-inf") if math.isinf(value) else value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def write_run(result: dict, run: str | os.PathLike) -> tuple[Path, Path]:
    """``RUN/metrics.json`` (everything) and ``RUN/metrics.csv`` (one line per clip and row), each written
    to a temporary name and renamed."""
    from avremix.atomic import publish

    run = Path(run)
    run.mkdir(parents=True, exist_ok=True)
    json_path, csv_path = run / "metrics.json", run / "metrics.csv"
    tmp = json_path.with_name(".metrics.json.part")
    tmp.write_text(json.dumps(jsonable(result), indent=2, allow_nan=False))
    publish(tmp, json_path)
    keys = list(dict.fromkeys(k for c in result["clips"] for v in c["values"].values() for k in v))
    tmp = csv_path.with_name(".metrics.csv.part")
    with open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["clip", "row", *keys, "notes"])
        for c in result["clips"]:
            for row, values in c["values"].items():
                w.writerow([c["name"], row, *(_cell(values.get(k)) for k in keys), "; ".join(c["notes"])])
        for row, values in result["rows"].items():
            w.writerow(["(mean)", row, *(_cell(values.get(k)) for k in keys), ""])
    publish(tmp, csv_path)
    return json_path, csv_path


def _cell(v) -> str:
    return "" if v is None else f"{v:.6g}"


def summary_lines(result: dict) -> list[str]:
    """The mean rows as text: per row (and, for a separation, per stem) ``metric value`` pairs; FAD is
    over the whole set."""
    lower = [m for m in LOWER_IS_BETTER if any(k.split("_")[0] == m for r in result["rows"].values() for k in r)]
    lines = [f"{result['examples']} clip{'s' if result['examples'] != 1 else ''} ({result['mode']}); lower is better for {', '.join(lower)}, higher for the rest"]
    for row, values in result["rows"].items():
        if result["mode"] != "separation":
            lines.append(f"  {row:<10} " + "  ".join(f"{k} {_text(v)}" for k, v in values.items()))
            continue
        groups: dict[str, list[str]] = {}
        for k, v in values.items():
            metric, _, stem = k.rpartition("_")
            label = f"{metric} {stem}" if stem == "mean" else (metric if stem in STEM_FILES else k)
            groups.setdefault(stem if stem in STEM_FILES else "all", []).append(f"{label} {_text(v)}")
        for stem, cells in groups.items():
            lines.append(f"  {row:<10} {stem:<9} " + "  ".join(cells))
    return lines


def _text(v: float) -> str:
    if v is None or math.isnan(v):
        return "–"
    return "-inf" if math.isinf(v) and v < 0 else f"{v:.4g}"
