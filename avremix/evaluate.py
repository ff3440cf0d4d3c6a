"""``avremix evaluate``: a highlighter on a Muddy Mix split, next to reference rows (the input, the input
loudness-normalised, separate-then-remix, other models, the video shuffled); a separator on an AV-CASS
split (the on-screen separator on a hard-pairs split), next to the mixture and ideal ratio masks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from avremix.engine import Engine, EngineConfig, autocast_dtype
from avremix.errors import UsageError
from avremix.features.context import context_for
from avremix.data.datasets import target_loudness  # noqa: F401 (part of this module's interface: the level of the loudness-normalised row)
from avremix.data.loudness import normalize_loudness
from avremix.metrics import gain_flutter, mag, mag_matched, score, sdr, si_sdr
from avremix.train import OnScreenSet, SeparationSet, TrainingSet


#: stem levels of the separate-then-remix reference, in LU relative to the dialogue (DnR's mixing offsets)
REMIX_OFFSETS_LU = {"dialogue": 0.0, "music": -7.0, "effects": -4.0}


def separate_then_remix(separator: torch.nn.Module, audio: np.ndarray, frames: np.ndarray | None, sample_rate: int,
                        level: float) -> np.ndarray:
    """The VisAH paper's "separate, then remix at fixed stem levels" reference: ``audio [1, T]`` split by
    ``separator`` (through the engine), each stem brought to the dialogue's loudness plus
    :data:`REMIX_OFFSETS_LU` (the dialogue at ``level`` LUFS; silent stems unchanged), summed."""
    engine = Engine(separator, sample_rate, EngineConfig())
    stems = engine.process(audio, list(frames) if getattr(separator, "fps", None) and frames is not None else None)[:, 0]  # [K, T]
    out = np.zeros(audio.shape[-1], np.float32)
    for k, name in enumerate(separator.stems):
        out += normalize_loudness(stems[k], sample_rate, level + REMIX_OFFSETS_LU.get(name, 0.0))[0]
    return out[None]


def evaluate(model: torch.nn.Module, data: str | Path, split: str = "test", batch_size: int = 4, crop: float | None = None,
             shuffle_video: bool = True, seed: int = 0, device: str | torch.device = "cpu",
             on_batch: Callable[[int, int], None] | None = None, clip_weights: str | Path | None = None,
             references: bool = True, separator: torch.nn.Module | None = None,
             compare: dict[str, torch.nn.Module] | None = None, precision: str = "auto",
             loudness: str | float | None = "auto") -> dict:
    """A highlighter on a Muddy Mix split, next to references, so that it is never judged only against the
    raw input. Rows (each: mean MAG, ENV, W-dis, MAG at the target's loudness (``MAG_matched``), gain
    flutter and its 95th percentile, and the share of clips where it beats the input on MAG; for the remixes
    also the share where it beats the input at the target's loudness, ``better_than_input_matched`` (do no
    harm: a remix brought to the target's level must be nearer to it than the input so brought), and the
    share where it beats the loudness-normalised input on MAG, ``better_than_normalised``):

    - ``input``; ``input, loudness-normalised`` (to the median loudness of the training targets);
    - ``separate-then-remix`` (with ``separator``: its stems at DnR's levels, :func:`separate_then_remix`);
    - each model of ``compare`` (e.g. the previous default), by its name;
    - ``model``, and ``model, video shuffled`` (every clip given another clip's frames; with
      ``shuffle_video``, for a model that takes the picture), and ``model, no picture`` (its null picture,
      as on an audio file; for a model that runs without one, ``picture_optional``).

    ``target`` holds the gain flutter of the target itself (against the input), the bar a remix's own
    flutter is measured against. ``clips`` keeps every per-clip value (for figures and reports). The
    flat keys ``input_MAG``, ``model_MAG``... of avremix ≤ 0.4 are kept. ``precision`` is the engine's
    (``auto``: as ``avremix highlight`` runs the model on this machine), and ``loudness`` is
    ``highlight --loudness`` (each clip is a file: every model's output is brought to its
    :func:`~avremix.highlight.loudness_target` with one gain per clip; ``summary["loudness"]`` lists them).
    """
    from avremix.highlight import loudness_target

    dtype = autocast_dtype(torch.device(device), precision)
    ds = TrainingSet(data, split, crop, False, seed, context_for(model.config, clip_weights))
    model = model.to(device).eval()
    level = target_loudness(data) if references else None
    n, sr = len(ds), ds.base.rows[0]["sample_rate"] if len(ds) else 16000
    clips: dict[str, dict[str, list[float]]] = {}
    levels = {name: loudness_target(loudness, m) for name, m in {"model": model, **(compare or {})}.items()}

    def add(row: str, pred: torch.Tensor, target: torch.Tensor, inp: torch.Tensor) -> None:
        values = {**score(pred, target, sr), "MAG_matched": mag_matched(pred, target, sr),
                  "flutter": gain_flutter(pred, inp, sr), "flutter_p95": gain_flutter(pred, inp, sr, quantile=0.95)}
        for k, v in values.items():
            clips.setdefault(row, {}).setdefault(k, []).extend(v.tolist())

    takes_video = shuffle_video and n > 1
    g = torch.Generator().manual_seed(seed)
    n_batches = (n + batch_size - 1) // batch_size
    for b in range(n_batches):
        idx = list(range(b * batch_size, min(n, (b + 1) * batch_size)))
        items = [ds[i] for i in idx]
        x, y, v = (torch.stack([it[k] for it in items]) for k in ("input", "target", "frames"))
        add("input", x, y, x)
        clips.setdefault("target", {}).setdefault("flutter", []).extend(gain_flutter(y, x, sr).tolist())
        clips["target"].setdefault("flutter_p95", []).extend(gain_flutter(y, x, sr, quantile=0.95).tolist())
        if references:
            normed = torch.stack([torch.from_numpy(normalize_loudness(it[0].numpy(), sr, level)[0])[None] for it in x])
            add("input, loudness-normalised", normed, y, x)
            if separator is not None:
                pixels = v if ds.context is None else torch.stack([ds.base[i]["frames"] for i in idx])  # a feature model's items hold features
                frames = [f.numpy() for f in pixels] if getattr(separator, "fps", None) else [None] * len(idx)
                remixed = torch.stack([torch.from_numpy(separate_then_remix(separator, it.numpy(), f, sr, level)) for it, f in zip(x, frames)])
                add("separate-then-remix", remixed, y, x)
        for name, other in (compare or {}).items():
            add(name, levelled(_run(other.to(device).eval(), x, v, device, g, dtype), levels[name], sr), y, x)
        add("model", levelled(_run(model, x, v, device, g, dtype), levels["model"], sr), y, x)
        if getattr(model, "probe", None) is not None:  # the probe fallback's gate: how far masks and probe disagree
            with torch.inference_mode():
                clips.setdefault("probe", {}).setdefault("disagreement", []).extend(model.gate_disagreement(x.to(device), v.to(device)).tolist())
        if takes_video:
            shuffled = torch.stack([ds[(i + 1) % n]["frames"] for i in idx])
            add("model, video shuffled", levelled(_run(model, x, shuffled, device, g, dtype), levels["model"], sr), y, x)
        if getattr(model, "picture_optional", False):  # an audio file: the model's null picture
            add("model, no picture", levelled(_run(model, x, None, device, g, dtype), levels["model"], sr), y, x)
        if on_batch:
            on_batch(b + 1, n_batches)
    mag_in, matched_in = np.asarray(clips["input"]["MAG"]), np.asarray(clips["input"]["MAG_matched"])
    normalised = clips.get("input, loudness-normalised")
    rows = {}
    gate = clips.pop("probe", None)
    for row, values in clips.items():
        rows[row] = {k: float(np.mean(v)) for k, v in values.items()}
        if row == "target":
            continue
        rows[row]["better_than_input"] = float(np.mean(np.asarray(values["MAG"]) < mag_in))
        if row not in ("input", "input, loudness-normalised"):  # the remixes: do they help where a gain alone would not?
            rows[row]["better_than_input_matched"] = float(np.mean(np.asarray(values["MAG_matched"]) < matched_in))
            if normalised is not None:
                rows[row]["better_than_normalised"] = float(np.mean(np.asarray(values["MAG"]) < np.asarray(normalised["MAG"])))
    summary: dict = {"examples": n, "split": split, "rows": rows, "clips": clips, "target_lufs": level, "loudness": levels}
    if gate is not None:
        d, (lo, hi) = np.asarray(gate["disagreement"]), model.config.probe_gate
        summary["probe"] = {"disagreement_max": float(d.max()), "disagreement_median": float(np.median(d)), "gate": [float(lo), float(hi)],
                            "opened": int((d > lo).sum()), "disagreement": d.tolist()}
    for who in ("input", "model"):
        for m in ("MAG", "ENV", "W-dis"):
            summary[f"{who}_{m}"] = rows[who][m]
    summary["shuffle_video"] = takes_video
    return summary


def levelled(clips: torch.Tensor, target_lufs: float | None, sample_rate: int) -> torch.Tensor:
    """Each clip of ``[B, 1, T]`` brought to ``target_lufs`` as ``highlight --loudness`` brings a file
    (one gain, the peak kept at −1 dBFS); unchanged for None."""
    if target_lufs is None:
        return clips
    from avremix.metrics import LoudnessMeter
    from avremix.pipeline import LoudnessResult

    out = []
    for clip in clips:
        meter = LoudnessMeter(sample_rate)
        meter.add(clip.numpy())
        out.append(clip * 10 ** (LoudnessResult(target_lufs).measured(meter).gain_db / 20))
    return torch.stack(out)


def _run(model: torch.nn.Module, x: torch.Tensor, v: torch.Tensor, device, g: torch.Generator,
         dtype: torch.dtype | None = None) -> torch.Tensor:
    """A highlighter's output on whole clips ``[B, 1, T]`` (its starting noise from ``g``), under autocast
    to ``dtype`` when one is given."""
    kwargs = {"noise": torch.randn(x.shape, generator=g).to(device)} if getattr(model, "generative", False) else {}
    device = torch.device(device)
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype, enabled=dtype is not None):
        return model(x.to(device), None if v is None else v.to(device), **kwargs).float().cpu()


def flutter_figure(result: dict, path: str | Path) -> None:
    """Gain flutter per clip (median and 95th percentile, dB) of every row of :func:`evaluate` and of the
    target, as a strip plot: a remix whose flutter sits far above the target's pumps."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for r in result["clips"] if r not in ("input",)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.5 * len(rows) + 1.5), sharey=True)
    rng = np.random.default_rng(0)
    for ax, key, title in zip(axes, ("flutter", "flutter_p95"), ("median over frames", "95th percentile over frames")):
        for i, row in enumerate(rows):
            vals = np.asarray(result["clips"][row][key])
            ax.scatter(vals, i + rng.uniform(-0.2, 0.2, len(vals)), s=8, alpha=0.6, color="tab:red" if row == "target" else "tab:blue")
            ax.plot([np.median(vals)] * 2, [i - 0.35, i + 0.35], color="black", lw=2)
        ax.set_title(f"gain flutter, {title}")
        ax.set_xlabel("|change of output/input level| between 20 ms frames (dB)")
        ax.grid(alpha=0.3)
    axes[0].set_yticks(range(len(rows)), rows)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: ``highlight --model none --gains`` of the dialogue-boost check (:func:`gains_moved`): dialogue +6, the rest −6 dB
BOOST_DB = {"dialogue": 6.0, "music": -6.0, "effects": -6.0}
#: the dialogue-led condition of ``evaluate --condition dialogue-led``: music and effects this much lower (dB)
DIALOGUE_LED_DB = -10.0


def gains_moved(mixture: torch.Tensor, estimates: torch.Tensor, stems: torch.Tensor, names: tuple[str, ...],
                gains_db: dict[str, float] = BOOST_DB) -> tuple[float, float]:
    """What ``highlight --model none --gains`` does to a clip: ``out = x + Σ_k (g_k − 1) ŝ_k`` from the
    estimates ``[K, T]``, fitted by least squares as ``a · dialogue + b · rest`` on the true stems ``[K, T]``.
    Returns (how far the dialogue moved against the rest, ``20 log10(a / b)``; the dialogue's own change,
    ``20 log10 a``), in dB."""
    g = torch.tensor([10 ** (gains_db.get(n, 0.0) / 20) for n in names], dtype=torch.float64)[:, None]
    out = mixture.double().reshape(-1) + ((g - 1) * estimates.double()).sum(0)
    d = stems[names.index("dialogue")].double()
    rest = stems.double().sum(0) - d
    A = torch.stack([d, rest], dim=1)  # [T, 2]
    a, b = torch.linalg.lstsq(A, out[:, None]).solution[:, 0].tolist()
    return 20 * np.log10(max(abs(a), 1e-9) / max(abs(b), 1e-9)), 20 * np.log10(max(abs(a), 1e-9))


def rnnoise_stems(mixture: torch.Tensor, names: tuple[str, ...], sample_rate: int) -> torch.Tensor:
    """The RNNoise reference: its denoised mixture as the dialogue, its residual (mixture − that) as each
    other stem ``[K, T]`` (the rest, as a speech-or-not tool can give it)."""
    from avremix.priors import rnnoise

    speech = rnnoise(mixture.reshape(1, -1), sample_rate)[0][0]
    rest = mixture.reshape(-1) - speech
    return torch.stack([speech if n == "dialogue" else rest for n in names])


def evaluate_separation(model: torch.nn.Module, data: str | Path, split: str = "test", device: str | torch.device = "cpu",
                        shuffle_video: bool = True, on_clip: Callable[[int, int], None] | None = None,
                        compare: dict[str, torch.nn.Module] | None = None, precision: str = "auto",
                        condition: str = "all", references: bool = True) -> dict:
    """SDR, SI-SDR and SI-SDRi per stem of a separator on whole clips of an AV-CASS split, run the way
    ``avremix separate`` runs it (the engine at ``precision``: chunks, mixture consistency), next to
    references: the mixture itself as every stem's estimate, ideal ratio masks (the ceiling of a magnitude
    mask), RNNoise's output as the dialogue (its residual as the rest; ``references``), each separator of
    ``compare`` by its name (e.g. the audio-only baseline, the previous default), and, for a model that
    takes the picture, the model with every clip given another clip's frames and, for one that can do
    without (``picture_optional``), the model with no picture (an audio file).

    ``condition``: ``all`` (the split as built) or ``dialogue-led`` (every clip remixed with its music and
    effects :data:`DIALOGUE_LED_DB` lower: the dialogue clearly the loudest stem, as in a dialogue scene
    with sparse events, where a separator must above all not take dialogue away). A dialogue / music /
    effects separator's rows also get ``boost_moved`` and ``boost_dialogue``: what ``highlight --model
    none --gains dx=+6,mx=-6,fx=-6`` does with its stems (:func:`gains_moved`; 12 dB asked), and
    ``SI-SDRi_dialogue_min``, its worst clip.

    The on-screen separator (stems ``on``, ``off``) is scored on a hard-pairs split, and each row also gets
    ``MAG_on`` (:func:`avremix.metrics.mag` of the on-screen stem) and ``T_A-V``, the share of clips (%)
    whose extracted on-screen sound follows the timing of what is on screen: its activity
    (:func:`activity_follows`) correlates more with the on-screen source's than with the off-screen one's."""
    onscreen = getattr(model, "data", None) == "hardpairs"
    sets: dict[tuple, OnScreenSet] = {}

    def pictures(m: torch.nn.Module) -> OnScreenSet:  # a hard-pairs split as model m sees it (frames or feature streams)
        key = tuple(m.config.visual) if getattr(m, "fps", None) else ("frames",)
        if key not in sets:
            sets[key] = OnScreenSet(data, split, None, False, 0, context=context_for(m.config) if key != ("frames",) else None)
        return sets[key]

    if condition not in ("all", "dialogue-led"):
        raise UsageError(f"--condition: all or dialogue-led, got {condition!r}")
    ds = pictures(model) if onscreen else SeparationSet(data, split, None, False, 0)
    config = EngineConfig(device=str(device), precision=precision)
    takes_video = bool(getattr(model, "fps", None))
    dmx = not onscreen and set(model.stems) == {"dialogue", "music", "effects"}
    rows: dict[str, dict[str, list[float]]] = {}
    n = len(ds)
    for i in range(n):
        item = ds[i]
        stems, frames = item["target"], item["frames"].numpy()  # [K, T]
        if condition == "dialogue-led":
            scale = torch.tensor([1.0 if s == "dialogue" else 10 ** (DIALOGUE_LED_DB / 20) for s in model.stems])[:, None]
            stems = stems * scale
        mixture = stems.sum(0, keepdim=True).numpy() if condition != "all" else item["input"].numpy()  # [1, T]
        sr = ds.base.rows[i]["sample_rate"]
        estimates = {"mixture": torch.from_numpy(mixture).expand_as(stems), "ideal ratio masks": ideal_ratio_masks(stems)}
        if references and dmx:
            estimates["RNNoise"] = rnnoise_stems(torch.from_numpy(mixture), tuple(model.stems), sr)
        for name, other in (compare or {}).items():
            sees = bool(getattr(other, "fps", None))
            seen = pictures(other)[i]["frames"].numpy() if onscreen and sees else frames
            estimates[name] = torch.from_numpy(Engine(other, ds.base.rows[i]["sample_rate"], config).process(mixture, list(seen) if sees else None)[:, 0])
        engine = Engine(model, sr, config)
        estimates["model"] = torch.from_numpy(engine.process(mixture, list(frames) if takes_video else None)[:, 0])
        if takes_video and shuffle_video and n > 1:
            other = ds[(i + 1) % n]["frames"].numpy()
            estimates["model, video shuffled"] = torch.from_numpy(engine.process(mixture, list(other))[:, 0])
        if takes_video and getattr(model, "picture_optional", False):
            estimates["model, no picture"] = torch.from_numpy(engine.process(mixture, None)[:, 0])
        baseline = [float(si_sdr(torch.from_numpy(mixture), stems[k:k + 1])) for k in range(len(model.stems))]
        for row, est in estimates.items():
            for k, name in enumerate(model.stems):
                ref = stems[k:k + 1]
                value = float(si_sdr(est[k:k + 1], ref))
                rows.setdefault(row, {}).setdefault(f"SDR_{name}", []).append(float(sdr(est[k:k + 1], ref)))
                rows[row].setdefault(f"SI-SDR_{name}", []).append(value)
                rows[row].setdefault(f"SI-SDRi_{name}", []).append(value - baseline[k])
            if dmx and row != "mixture":
                moved, own = gains_moved(torch.from_numpy(mixture), est, stems, tuple(model.stems))
                rows[row].setdefault("boost_moved", []).append(moved)
                rows[row].setdefault("boost_dialogue", []).append(own)
            if onscreen:
                rows[row].setdefault("MAG_on", []).append(float(mag(est[:1], stems[:1])))
                rows[row].setdefault("T_A-V", []).append(100.0 * activity_follows(est[0], stems[0], stems[1], ds.base.rows[i]["sample_rate"]))
        if on_clip:
            on_clip(i + 1, n)
    summary = {row: {k: float(np.mean(v)) for k, v in metrics.items()} for row, metrics in rows.items()}
    for row, metrics in summary.items():
        metrics["SI-SDRi_mean"] = float(np.mean([metrics[f"SI-SDRi_{s}"] for s in model.stems]))
        if dmx:
            metrics["SI-SDRi_dialogue_min"] = float(np.min(rows[row]["SI-SDRi_dialogue"]))
            metrics["SI-SDRi_dialogue_harmed"] = int(np.sum(np.asarray(rows[row]["SI-SDRi_dialogue"]) < 0))
            if row != "mixture":
                metrics["boost_moved_min"] = float(np.min(rows[row]["boost_moved"]))
                metrics["boost_dialogue_min"] = float(np.min(rows[row]["boost_dialogue"]))
    result = {"split": split, "examples": n, "stems": list(model.stems), "rows": summary, "condition": condition,
              "clips": {row: {k: list(v) for k, v in metrics.items()} for row, metrics in rows.items()}}
    if onscreen:  # the hard pairs alone (both sources of one category): only the picture's timing tells them apart
        hard = np.array([bool(r.get("params", {}).get("hard", True)) for r in ds.base.rows])
        result["hard_examples"] = int(hard.sum())
        for row, metrics in rows.items():
            for key in ("SI-SDRi_on", "SI-SDR_on", "T_A-V"):
                summary[row][f"{key}_hard"] = float(np.mean(np.asarray(metrics[key])[hard])) if hard.any() else float("nan")
    return result


def activity(x: torch.Tensor, sample_rate: int, fps: float = 10.0) -> np.ndarray:
    """RMS envelope ``[n]`` of a waveform ``[T]`` over frames of ``1 / fps`` seconds."""
    hop = int(sample_rate / fps)
    n = x.shape[-1] // hop
    return x[: n * hop].float().reshape(n, hop).pow(2).mean(dim=1).sqrt().numpy()


def activity_follows(estimate: torch.Tensor, on: torch.Tensor, off: torch.Tensor, sample_rate: int, fps: float = 10.0) -> float:
    """1.0 when the activity of ``estimate [T]`` correlates more with that of the on-screen source ``on``
    than with that of the off-screen one ``off`` (Pearson, RMS envelopes at ``fps``), else 0.0: whether
    the extracted sound comes and goes when what the picture shows does (the temporal-alignment test of
    AlignSep's T_A-V, here with the sources' own timing as the judge)."""
    e, a, b = (activity(x, sample_rate, fps) for x in (estimate, on, off))

    def corr(u: np.ndarray, v: np.ndarray) -> float:
        if u.std() < 1e-12 or v.std() < 1e-12:
            return 0.0
        return float(np.corrcoef(u, v)[0, 1])

    return float(corr(e, a) > corr(e, b))


def ideal_ratio_masks(stems: torch.Tensor, n_fft: int = 640, hop: int = 320) -> torch.Tensor:
    """The stems a magnitude-ratio mask ``|S_k| / Σ_j |S_j|`` on the mixture's STFT recovers: ``[K, T]``."""
    window = torch.hann_window(n_fft)
    spec = torch.stft(stems.float(), n_fft, hop, window=window, return_complex=True)  # [K, F, N]
    mix = spec.sum(0, keepdim=True)
    masks = spec.abs() / spec.abs().sum(0, keepdim=True).clamp_min(1e-8)
    return torch.istft(masks * mix, n_fft, hop, window=window, length=stems.shape[-1])
