"""``avremix report RUN -o report.html``: a page to look at and listen to an evaluate run.

One HTML file, its images embedded (JPEG spectrograms and PNG plots, base64) and its audio beside it in ``<report>_files/`` (16-bit
WAV, which every browser plays), so that the page and its folder can be copied or served as they are:

- the metric table, mean rows first, then one row per clip, sortable by any column (a click on its
  header), the worst clip first (by MAG for a remix, by mean SI-SDRi for a separation);
- per clip: spectrograms of input, output, reference and stems on one frequency axis and one colour
  scale (dB), each with an audio player, and the short-term loudness (EBU, 3 s) over time of input,
  output and reference;
- the notes of each clip (resampling, lengths) and the files it came from.

Clips longer than ``max_seconds`` are shown and played from their start only (the metrics are the whole
clip's).
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from avremix.errors import UsageError
from avremix.scoring import LOWER_IS_BETTER

SPEC_RATE = 16000  # spectrograms share one frequency axis: 0-8 kHz
N_FFT, HOP = 1024, 256
FLOOR_DB = -90.0  # colour scale: FLOOR_DB .. 0 dBFS


def load_run(run: str | os.PathLike) -> dict:
    path = Path(run)
    path = path / "metrics.json" if path.is_dir() else path
    if not path.is_file():
        raise UsageError("no metrics.json here; write one with `avremix evaluate --est DIR --ref DIR --out RUN`", path)
    try:
        result = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UsageError(f"not a metrics.json of avremix evaluate ({e.msg} at line {e.lineno})", path) from None
    if "clips" not in result or "rows" not in result:
        raise UsageError("not a metrics.json of `avremix evaluate --est --ref` (no clips or rows)", path)
    return result


def _tracks(clip: dict) -> list[tuple[str, str | None]]:
    """(label, path) of every file of a clip, in display order, two a row: input (beside the loudness
    plot), then each output beside its reference (a remix: one pair; a separation: one per stem)."""
    files = clip["files"]
    tracks: list[tuple[str, str | None]] = [("input", files.get("input")), ("loudness", None)]
    est, ref = files.get("estimate"), files.get("reference")
    if isinstance(est, dict):
        for stem in dict.fromkeys([*est, *(ref or {})]):
            tracks += [(f"output: {stem}", est.get(stem)), (f"reference: {stem}", (ref or {}).get(stem))]
    else:
        tracks += [("output", est), ("reference", ref)]
    return tracks


def _read(path: str, max_seconds: float) -> tuple[np.ndarray, int]:
    from avremix.media.audio import read_audio

    audio, rate = read_audio(path)
    return audio[:, : int(max_seconds * rate)], rate


def _image(fig, jpeg: bool = False) -> str:
    """A figure as a data URI: JPEG for spectrograms (a tenth of a PNG's size), PNG for line plots."""
    buf = io.BytesIO()
    if jpeg:
        fig.savefig(buf, format="jpeg", dpi=90, pil_kwargs={"quality": 85})
    else:
        fig.savefig(buf, format="png", dpi=90)
    return f"data:image/{'jpeg' if jpeg else 'png'};base64," + base64.b64encode(buf.getvalue()).decode()


def spectrogram_png(audio: np.ndarray, sample_rate: int, title: str, seconds: float) -> str:
    """A dB spectrogram (0-8 kHz, :data:`FLOOR_DB` to 0 dBFS, the time axis ``seconds`` long) as a data URI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch
    import torchaudio.functional as AF

    x = torch.from_numpy(np.ascontiguousarray(audio.mean(0), dtype=np.float32))
    if sample_rate != SPEC_RATE:
        x = AF.resample(x, sample_rate, SPEC_RATE)
    window = torch.hann_window(N_FFT)
    spec = torch.stft(x, N_FFT, HOP, window=window, return_complex=True).abs() / (window.sum() / 2)  # full-scale sine -> 1
    db = 20 * torch.log10(spec.clamp_min(1e-9)).numpy()
    fig, ax = plt.subplots(figsize=(7.5, 2.2))
    image = ax.imshow(db, origin="lower", aspect="auto", cmap="magma", vmin=FLOOR_DB, vmax=0.0,
                      extent=(0.0, db.shape[1] * HOP / SPEC_RATE, 0.0, SPEC_RATE / 2000))
    ax.set_xlim(0, seconds)
    ax.set_ylabel("kHz")
    ax.set_xlabel("s")
    ax.set_title(title, fontsize=9, loc="left")
    fig.colorbar(image, ax=ax, pad=0.01, fraction=0.04).set_label("dBFS", fontsize=8)  # what the colours say
    fig.tight_layout()
    uri = _image(fig, jpeg=True)
    plt.close(fig)
    return uri


#: line styles of the loudness plot, by the track a line is of: colour and dash tell them apart in print too
LINE_STYLES = {"input": ("#7f7f7f", "-"), "output": ("#1f77b4", "-"), "reference": ("#d62728", "--")}


def loudness_figure(curves: list[tuple[str, np.ndarray, int]], seconds: float):
    """The figure of short-term loudness (LUFS, 3 s) over time of each ``(label, audio, rate)``: one line
    per track, and a legend beside the plot that names every line (a track that is silent throughout
    has no line, and its legend entry says so)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avremix.metrics import short_term_loudness

    fig, ax = plt.subplots(figsize=(7.5, 2.2))
    for label, audio, rate in curves:
        t, lufs = short_term_loudness(audio, rate)
        colour, dash = LINE_STYLES.get(label.split(":")[0], (None, "-"))
        finite = np.isfinite(lufs)
        name = label if finite.any() else f"{label} (silent)"
        ax.plot(t, np.where(finite, lufs, np.nan), label=name, lw=1.4, color=colour, linestyle=dash)
    ax.set_xlim(0, seconds)
    ax.set_ylabel("LUFS (3 s)")
    ax.set_xlabel("s")
    ax.set_title("short-term loudness", fontsize=9, loc="left")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
    fig.tight_layout()
    return fig


def loudness_png(curves: list[tuple[str, np.ndarray, int]], seconds: float) -> str:
    """:func:`loudness_figure` as a data URI."""
    import matplotlib.pyplot as plt

    fig = loudness_figure(curves, seconds)
    uri = _image(fig)
    plt.close(fig)
    return uri


def _sort_key(result: dict) -> tuple[str, bool]:
    """The column the clips are first sorted by, and whether higher is worse."""
    metrics = {k for c in result["clips"] for k in c["values"].get("estimate", {})}
    if "MAG" in metrics:
        return "MAG", True
    if "SI-SDRi_mean" in metrics:
        return "SI-SDRi_mean", False
    return sorted(metrics)[0] if metrics else "", True


def worst_first(result: dict) -> list[dict]:
    """The clips, the worst estimate first by :func:`_sort_key`'s metric; clips without it last."""
    key, higher_worse = _sort_key(result)
    sign = -1.0 if higher_worse else 1.0
    return sorted(result["clips"], key=lambda c: sign * _num(c["values"].get("estimate", {}).get(key), nan=math.inf * sign))


def _fmt(v) -> str:
    v = _num(v)
    if math.isnan(v):
        return "–"
    if math.isinf(v):
        return "−∞" if v < 0 else "∞"
    return f"{v:.4g}"


def _table(result: dict) -> str:
    """The sortable metric table: mean rows, then one row per clip and row kind, worst clip first."""
    key, _ = _sort_key(result)
    metrics = list(dict.fromkeys(k for c in result["clips"] for v in c["values"].values() for k in v))
    metrics += [k for k in dict.fromkeys(k for r in result["rows"].values() for k in r) if k not in metrics]  # FAD: set-level only
    head = "".join(f"<th data-col='{i + 2}'>{html.escape(m)}</th>" for i, m in enumerate(metrics))
    lines = [f"<table id='metrics' class='sortable'><thead><tr><th data-col='0'>clip</th><th data-col='1'>row</th>{head}</tr></thead><tbody>"]
    for row, values in result["rows"].items():
        cells = "".join(f"<td data-v='{_attr(values.get(m))}'>{_fmt(values.get(m))}</td>" for m in metrics)
        lines.append(f"<tr class='mean'><td data-v='(mean)'>(mean)</td><td>{html.escape(row)}</td>{cells}</tr>")
    for i, clip in enumerate(worst_first(result)):
        for row, values in clip["values"].items():
            cells = "".join(f"<td data-v='{_attr(values.get(m))}'>{_fmt(values.get(m))}</td>" for m in metrics)
            name = html.escape(clip["name"])
            lines.append(f"<tr><td data-v='{name}'><a href='#clip-{i}'>{name}</a></td><td>{html.escape(row)}</td>{cells}</tr>")
    lines.append("</tbody></table>")
    return "\n".join(lines)


def _attr(v) -> str:
    """A cell's sort value for the page's script (``parseFloat`` reads ``Infinity``; ``nan`` sorts last)."""
    v = _num(v)
    return "nan" if math.isnan(v) else ("Infinity" if v == math.inf else "-Infinity" if v == -math.inf else repr(v))


def _num(v, nan: float = math.nan) -> float:
    """A metric of a run as a float (``null`` → ``nan``, ``"-inf"`` → −∞)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return nan
    return float(v)


SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(th => th.addEventListener('click', () => {
  const table = th.closest('table'), body = table.tBodies[0], col = +th.dataset.col;
  const asc = th.dataset.dir !== 'asc';
  table.querySelectorAll('th').forEach(h => delete h.dataset.dir);
  th.dataset.dir = asc ? 'asc' : 'desc';
  const rows = [...body.rows], means = rows.filter(r => r.classList.contains('mean')), clips = rows.filter(r => !r.classList.contains('mean'));
  const value = r => { const v = r.cells[col].dataset.v ?? r.cells[col].textContent; const n = parseFloat(v);
                       return isNaN(n) ? (v === 'nan' ? null : v) : n; };
  clips.sort((a, b) => {  // empty cells last, whichever the direction
    const x = value(a), y = value(b);
    if (x === null || y === null) return (x === null) - (y === null);
    const c = (typeof x === 'number' && typeof y === 'number') ? x - y : String(x).localeCompare(String(y));
    return asc ? c : -c; });
  [...means, ...clips].forEach(r => body.appendChild(r));
}));
"""

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
h1 { overflow-wrap: anywhere; }
p { overflow-wrap: anywhere; }
table { border-collapse: collapse; font-size: 12px; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #eee; cursor: pointer; position: sticky; top: 0; }
th[data-dir=asc]::after { content: ' ▲'; } th[data-dir=desc]::after { content: ' ▼'; }
td:first-child, td:nth-child(2) { text-align: left; }
tr.mean td { background: #f4f8ff; font-weight: 600; }
.clip { border-top: 2px solid #888; margin-top: 2em; }
.grid { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 0.6em; max-width: 1400px; }
@media (max-width: 700px) { .grid { grid-template-columns: minmax(0, 1fr); } }
.track { min-width: 0; }
.track img, .loudness img { display: block; width: 100%; height: auto; }
audio { width: 100%; }
.notes { color: #a33; font-size: 13px; }
.scroll { overflow-x: auto; max-height: 40em; }
"""


def write_report(run: str | os.PathLike, output: str | os.PathLike, max_seconds: float = 30.0,
                 on_clip=None) -> Path:
    """Write the HTML report of the evaluate run ``run`` (a folder with ``metrics.json``, or the file) to
    ``output``, its audio in ``<output stem>_files/``; both appear complete or not at all."""
    from avremix.atomic import publish

    result = load_run(run)
    output = Path(output)
    if output.suffix.lower() not in (".html", ".htm"):
        raise UsageError("the report is an HTML file; give -o a name ending in .html", output)
    output.parent.mkdir(parents=True, exist_ok=True)
    media_name = f"{output.stem}_files"
    work = Path(tempfile.mkdtemp(prefix=f".{output.stem}.part-", dir=output.parent))
    try:
        (work / media_name).mkdir()
        sections = []
        key, _ = _sort_key(result)
        clips = worst_first(result)
        for i, clip in enumerate(clips):
            if on_clip:
                on_clip(i, len(clips))
            sections.append(_clip_section(i, clip, work / media_name, media_name, max_seconds))
        title = f"avremix evaluate: {result['mode']}, {result['examples']} clip{'s' if result['examples'] != 1 else ''}"
        unmatched = "".join(f"<p class='notes'>{html.escape(k)}: {html.escape(', '.join(v))}</p>" for k, v in result.get("unmatched", {}).items() if v)
        unmatched += "".join(f"<p class='notes'>not scored: {html.escape(f['error'])}</p>" for f in result.get("failed", []))
        folders = " · ".join(f"{k}: <code>{html.escape(_shown(v, output.parent))}</code>" for k, v in result.get("folders", {}).items() if v)
        page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{STYLE}</style></head><body>"
                f"<h1>{html.escape(title)}</h1><p>{folders}</p>{unmatched}"
                f"<h2>Metrics</h2><p>Click a column to sort. Clips are listed worst first by {html.escape(key)}. "
                f"Lower is better for {', '.join(_present(result, LOWER_IS_BETTER))}; higher for the rest.</p>"
                f"<div class='scroll'>{_table(result)}</div><h2>Clips</h2>{''.join(sections)}<script>{SCRIPT}</script></body></html>")
        (work / output.name).write_text(page, encoding="utf-8")
        if (output.parent / media_name).exists():
            shutil.rmtree(output.parent / media_name)
        os.replace(work / media_name, output.parent / media_name)
        publish(work / output.name, output)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return output


def _present(result: dict, names: tuple[str, ...]) -> list[str]:
    keys = {k for r in result["rows"].values() for k in r}
    return [n for n in names if any(k == n or k.startswith(n + "_") for k in keys)]


def _shown(path: str, base: Path) -> str:
    """A folder as the page shows it: relative to the page's folder (the page travels with its run)."""
    try:
        return os.path.relpath(path, base.resolve())
    except ValueError:  # another drive
        return path


def _write_wav(path: Path, audio: np.ndarray, rate: int) -> None:
    """16-bit PCM WAV (what every browser's audio element plays); peaks above full scale are clipped."""
    import soundfile as sf

    sf.write(os.fspath(path), np.clip(audio, -1.0, 1.0).T, rate, subtype="PCM_16")


def _clip_section(i: int, clip: dict, media_dir: Path, media_name: str, max_seconds: float) -> str:
    loaded = []
    for label, path in _tracks(clip):
        audio, rate, error = None, 0, None
        if path:
            try:
                audio, rate = _read(path, max_seconds)
            except Exception as e:  # a file moved since the run: the page says so instead of failing
                error = f"{type(e).__name__}: {e}"
        loaded.append((label, path, audio, rate, error))
    seconds = max((a.shape[-1] / r for _, _, a, r, _ in loaded if a is not None), default=1.0)
    curves = [(label, audio, rate) for label, _, audio, rate, _ in loaded
              if audio is not None and label in ("input", "output", "reference", "output: dialogue", "reference: dialogue")]
    parts = [f"<div class='clip' id='clip-{i}'><h3>{html.escape(clip['name'])}</h3>"]
    parts += [f"<p class='notes'>{html.escape(n)}</p>" for n in clip.get("notes", [])]
    parts.append("<div class='grid'>")
    for j, (label, path, audio, rate, error) in enumerate(loaded):
        if label == "loudness":
            image = f"<img alt='loudness over time' src='{loudness_png(curves, seconds)}'>" if curves else ""
            parts.append(f"<div class='track'>{image}</div>")
        elif error:
            parts.append(f"<div class='track'><b>{html.escape(label)}</b> <span class='notes'>cannot be read: {html.escape(error)}</span></div>")
        elif audio is None:
            parts.append(f"<div class='track'><b>{html.escape(label)}</b>: no file</div>")
        else:
            wav = f"{i:04d}-{j}.wav"
            _write_wav(media_dir / wav, audio, rate)
            parts.append(f"<div class='track'><img alt='spectrogram of {html.escape(label)}' src='{spectrogram_png(audio, rate, label, seconds)}'>"
                         f"<audio controls preload='auto' src='{media_name}/{wav}'></audio>"
                         f"<div><small>{html.escape(Path(path).name)}</small></div></div>")
    parts.append("</div></div>")
    return "".join(parts)
