"""YAMNet tagging and the tag-based metrics (KLD, FAD, WPR): closed forms, and a few seconds of generated audio."""

import math

import numpy as np
import pytest

from avremix import tagging
from avremix.tagging import (
    STEM_CLASSES,
    STEMS,
    class_names,
    fad,
    fad_from_embeddings,
    frechet_distance,
    kld,
    kld_from_probs,
    stem_of_class,
    stem_tags,
    wpr,
    wpr_from_probs,
    yamnet_frames,
)

SR = 16000


def noise(seconds: float, seed: int, sr: int = SR) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(seconds * sr))).astype(np.float32)


def sine(seconds: float, freq: float = 440.0, sr: int = SR) -> np.ndarray:
    return (0.3 * np.sin(2 * np.pi * freq * np.arange(int(seconds * sr)) / sr)).astype(np.float32)


def piano(seconds: float, sr: int = SR) -> np.ndarray:
    """Piano-like notes: 8 decaying harmonics (higher ones decaying faster), a new note every 0.375 s."""
    t = np.arange(int(0.375 * sr)) / sr
    melody = [60, 64, 67, 72, 67, 64, 62, 65]
    notes = []
    for k in range(int(seconds / 0.375)):
        f0 = 440.0 * 2 ** ((melody[k % len(melody)] - 69) / 12)
        notes.append(sum(0.6 / h * np.sin(2 * np.pi * f0 * h * t) * np.exp(-t * (3 + 2 * h)) for h in range(1, 9)))
    x = np.concatenate(notes)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


# --- Fréchet distance ----------------------------------------------------------------------------------------------


def test_frechet_distance_of_equal_gaussians_is_zero():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((6, 6))
    sigma, mu = a @ a.T + 0.5 * np.eye(6), rng.standard_normal(6)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-8


def test_frechet_distance_diagonal_closed_form():
    rng = np.random.default_rng(1)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    a, b = rng.uniform(0.1, 3.0, 5), rng.uniform(0.1, 3.0, 5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_one_dimensional():
    # N(1, 4) vs N(-2, 9): (1 + 2)^2 + (2 - 3)^2 = 10, with scalars or 1x1 arrays
    assert frechet_distance(1.0, 4.0, -2.0, 9.0) == pytest.approx(10.0, rel=1e-12)
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(10.0, rel=1e-12)


def test_frechet_distance_is_symmetric_and_handles_singular_covariances():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    s1, s2 = a @ a.T + 0.1 * np.eye(4), b @ b.T + 0.1 * np.eye(4)
    mu1, mu2 = rng.standard_normal(4), rng.standard_normal(4)
    d12, d21 = frechet_distance(mu1, s1, mu2, s2), frechet_distance(mu2, s2, mu1, s1)
    assert d12 > 0 and d12 == pytest.approx(d21, rel=1e-8)
    # rank-1, equal covariances: the product is singular; the distance is only the mean term
    v = rng.standard_normal((4, 1))
    d = frechet_distance(mu1, v @ v.T, mu2, v @ v.T)
    assert math.isfinite(d) and d == pytest.approx(np.sum((mu1 - mu2) ** 2), abs=1e-3)


def test_fad_from_embeddings_same_gaussian_small_and_grows_with_mean_shift():
    rng = np.random.default_rng(3)
    dim, n = 8, 4000
    e1, e2 = rng.standard_normal((n, dim)), rng.standard_normal((n, dim))
    assert fad_from_embeddings(e1, e2) < 0.05
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)
    values = []
    for shift in (0.5, 1.0, 2.0):
        value = fad_from_embeddings(e1, e2 + shift * direction)
        assert value == pytest.approx(shift**2, abs=0.1 + 0.05 * shift**2)
        values.append(value)
    assert values == sorted(values)
    assert math.isnan(fad_from_embeddings(e1[:1], e2))  # a set of 1 has no covariance


# --- KLD -----------------------------------------------------------------------------------------------------------


def test_kld_from_probs_hand_computed():
    # [0.2, 0.6] -> [0.25, 0.75]; [0.5, 0.5] stays; KL = 0.25 ln(0.25/0.5) + 0.75 ln(0.75/0.5)
    expected = 0.25 * math.log(0.5) + 0.75 * math.log(1.5)
    assert kld_from_probs([0.2, 0.6], [0.5, 0.5]) == pytest.approx(expected, abs=1e-5)
    # per-patch posteriors are averaged over the patches first
    assert kld_from_probs([[0.1, 0.7], [0.3, 0.5]], [0.5, 0.5]) == pytest.approx(expected, abs=1e-5)
    assert kld_from_probs([0.5, 0.5], [0.5, 0.5]) == 0.0


def test_kld_zero_for_the_same_clip_and_large_for_different_sounds():
    n1, n2, tone = noise(2.0, seed=0), noise(2.0, seed=1), sine(2.0)
    assert abs(kld(n1, n1, SR)) < 1e-6
    noise_vs_noise = kld(n2, n1, SR)
    tone_vs_noise = kld(tone, n1, SR)
    assert noise_vs_noise >= 0
    assert tone_vs_noise > 1.0 and tone_vs_noise > 5 * noise_vs_noise


# --- YAMNet frames -------------------------------------------------------------------------------------------------


def test_yamnet_frames_shapes_times_probabilities():
    times, probs, emb = yamnet_frames(piano(3.0), SR)
    # 3 s: 298 log-mel frames of 10 ms -> patches of 96 frames every 48 -> 5 patches centred at 0.48 s steps
    assert times.shape == (5,) and probs.shape == (5, 521) and emb.shape == (5, tagging.embedding_dim())
    assert tagging.embedding_dim() == 1024  # YAMNet's penultimate layer, not the logits
    np.testing.assert_allclose(times, 0.48 + 0.48 * np.arange(5), atol=1e-6)
    assert np.all((probs >= 0) & (probs <= 1)) and np.isfinite(emb).all()
    assert probs.dtype == np.float32 and emb.dtype == np.float32
    assert class_names()[int(probs.mean(0).argmax())] == "Music"
    # the clip-level posterior of `avremix.data.embed` (per-patch runs) is the mean of these (batched) ones
    from avremix.data.embed import yamnet_embedding

    np.testing.assert_allclose(yamnet_embedding(piano(3.0), SR), probs.mean(0), atol=1e-5)


def test_yamnet_frames_batches_like_single_patches(monkeypatch):
    x = noise(3.0, seed=4)
    _, probs, emb = yamnet_frames(x, SR)
    monkeypatch.setattr(tagging, "_BATCH", 2)  # 5 patches in runs of 2, 2, 1
    _, probs2, emb2 = yamnet_frames(x, SR)
    np.testing.assert_allclose(probs, probs2, atol=1e-6)
    np.testing.assert_allclose(emb, emb2, atol=1e-6)


def test_yamnet_graph_is_cached_and_read_back_unchanged(tmp_path, monkeypatch):
    from avremix.data import embed

    x = noise(3.0, seed=5)
    _, probs, emb = yamnet_frames(x, SR)  # the session of this process, however it was built
    monkeypatch.setenv("AVREMIX_CACHE", str(tmp_path))
    try:
        embed._yamnet.cache_clear()
        yamnet_frames(x, SR)  # a new process: it rewrites the graph and keeps it
        (graph,) = (tmp_path / "yamnet").glob("*.onnx")
        assert graph.stat().st_size > 1_000_000 and graph.with_suffix(".json").exists()
        assert not [p for p in (tmp_path / "yamnet").iterdir() if p.name.startswith(".tmp-")]  # no half-written file left

        def no_rewrite(path):
            raise AssertionError("the cached graph should have been read back")

        monkeypatch.setattr(embed, "_expose_embedding", no_rewrite)
        embed._yamnet.cache_clear()
        _, probs2, emb2 = yamnet_frames(x, SR)  # the next process reads the cache: the same numbers
        np.testing.assert_array_equal(probs, probs2)
        np.testing.assert_array_equal(emb, emb2)
        monkeypatch.undo()
        monkeypatch.setenv("AVREMIX_CACHE", str(tmp_path))
        graph.write_bytes(b"damaged")  # a damaged cache is rebuilt, not an error
        embed._yamnet.cache_clear()
        _, probs3, _ = yamnet_frames(x, SR)
        np.testing.assert_array_equal(probs, probs3)
        assert graph.stat().st_size > 1_000_000
    finally:
        embed._yamnet.cache_clear()


def test_yamnet_frames_44k1_stereo_and_short_input():
    mono = piano(3.0)
    t44 = np.arange(int(3.0 * 44100)) / 44100
    stereo = np.stack([np.interp(t44, np.arange(mono.size) / SR, mono)] * 2).astype(np.float32)  # [2, T] at 44.1 kHz
    times, probs, emb = yamnet_frames(stereo, 44100)
    _, probs16, _ = yamnet_frames(mono, SR)
    assert times.shape == (5,) and probs.shape == (5, 521) and emb.shape[0] == 5
    assert np.abs(probs - probs16).mean() < 0.01  # the same sound, resampled
    for short in (mono[:100], mono[:8000], np.zeros(0, np.float32)):
        times, probs, emb = yamnet_frames(short, SR)
        assert times.tolist() == [pytest.approx(0.48)] and probs.shape == (1, 521) and emb.shape[0] == 1


def test_fad_on_audio():
    n1, n2, tone = noise(3.0, seed=5), noise(3.0, seed=6), sine(3.0)
    same, different = fad([n1], [n2], SR), fad([tone, tone], [n1], SR)
    assert 0 <= same < different
    assert math.isnan(fad([n1[: SR // 2]], [n2], SR))  # half a second: one patch


# --- class map -----------------------------------------------------------------------------------------------------


def test_class_map_stems():
    names = class_names()
    assert len(names) == 521
    index = {name: i for i, name in enumerate(names)}
    for name in ("Speech", "Conversation", "Narration, monologue", "Whispering", "Shout", "Yell", "Speech synthesizer"):
        assert stem_of_class(index[name]) == "dialogue", name
    for name in ("Music", "Singing", "Choir", "Guitar", "Piano", "Rock music", "Scary music", "Humming"):
        assert stem_of_class(index[name]) == "music", name
    for name in ("Dog", "Explosion", "Vehicle", "Laughter", "Wind", "Silence", "Whistling"):
        assert stem_of_class(index[name]) == "effects", name
    # the range boundaries of the map (see avremix/tagging.py)
    assert (names[12], names[13], names[24], names[32], names[33]) == ("Whispering", "Laughter", "Singing", "Humming", "Groan")
    assert (names[131], names[132], names[276], names[277]) == ("Whale vocalization", "Music", "Scary music", "Wind")
    assert (names[456], names[458], names[459]) == ("Electronic tuner", "Chorus effect", "Basketball bounce")
    with pytest.raises(IndexError):
        stem_of_class(521)


def test_stem_groups_partition_the_classes():
    groups = [set(STEM_CLASSES[s]) for s in STEMS]
    assert sum(len(g) for g in groups) == 521 and set().union(*groups) == set(range(521))
    for stem, group in zip(STEMS, groups):
        assert all(stem_of_class(i) == stem for i in group)


# --- WPR -----------------------------------------------------------------------------------------------------------


def test_wpr_from_probs_counts():
    probs = np.zeros((4, 521))
    probs[0, STEM_CLASSES["music"][0]] = 0.9  # music only
    probs[1, STEM_CLASSES["music"][5]] = 0.5  # music and dialogue
    probs[1, STEM_CLASSES["dialogue"][0]] = 0.2
    probs[2, STEM_CLASSES["effects"][3]] = 0.3  # effects only
    probs[3, STEM_CLASSES["dialogue"][0]] = 0.1  # below the threshold: untagged
    assert wpr_from_probs(probs, "music") == pytest.approx(2 / 3)
    assert wpr_from_probs(probs, "dialogue") == pytest.approx(3 / 3)
    assert wpr_from_probs(probs, "effects") == pytest.approx(2 / 3)
    assert wpr_from_probs(probs, "music", threshold=0.95) != wpr_from_probs(probs, "music", threshold=0.95)  # NaN
    with pytest.raises(ValueError):
        wpr_from_probs(probs, "vocals")


def test_wpr_music_clip_and_silence():
    clip = piano(4.0)
    as_music, as_dialogue = wpr(clip, "music", SR), wpr(clip, "dialogue", SR)
    assert 0 <= as_music < as_dialogue <= 1
    assert math.isnan(wpr(np.zeros(3 * SR, np.float32), "music", SR))  # YAMNet says "Silence": nothing tagged


def test_stem_tags_tell_music_from_noise_at_the_frames_asked():
    frames = np.arange(201) * 0.02  # a 4 s crop's STFT frames at 50 a second
    music, hiss = stem_tags(piano(4.0), SR, frames), stem_tags(noise(4.0, 0), SR, frames)
    assert music.shape == hiss.shape == (3, 201) and music.dtype == np.float32
    assert ((music >= 0) & (music <= 1)).all()
    d, m, e = (STEMS.index(s) for s in ("dialogue", "music", "effects"))
    assert music[m].mean() > 3 * hiss[m].mean() and music[m].mean() > music[d].mean()
    assert hiss[e].mean() > 3 * music[e].mean()
    # patch-centre values come back at the patch centres; frames outside the patches hold the edge values
    times, probs, _ = yamnet_frames(piano(4.0), SR)
    at = stem_tags(piano(4.0), SR, np.array([0.0, times[1], 10.0]))
    expected = probs[:, list(STEM_CLASSES["music"])].max(1)
    np.testing.assert_allclose(at[m], [expected[0], expected[1], expected[-1]], atol=1e-6)


def test_yamnet_at_gives_the_tags_and_embeddings_at_the_frames_asked():
    """One YAMNet pass: the same tags as ``stem_tags``, and embeddings that are the patch's own at a patch
    centre, the mean of two neighbours halfway, and the edge patch's outside."""
    audio = piano(4.0)
    times, _, emb = yamnet_frames(audio, SR)
    frames = np.array([0.0, times[1], (times[1] + times[2]) / 2, 10.0])
    tags, at = tagging.yamnet_at(audio, SR, frames)
    np.testing.assert_allclose(tags, stem_tags(audio, SR, frames), atol=1e-6)
    assert at.shape == (emb.shape[1], 4) and at.dtype == np.float32
    for got, want in zip(at.T, [emb[0], emb[1], (emb[1] + emb[2]) / 2, emb[-1]]):
        np.testing.assert_allclose(got, want, atol=1e-5)
