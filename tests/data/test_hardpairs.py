"""``build-dataset hardpairs``: categories, easy / hard pairs, candidates' gates, and a picture caused by the target."""

import json

import numpy as np
import pytest

from avremix.data import hardpairs
from avremix.data.datasets import HardPairsDataset
from avremix.data.sources import EFFECT_CLASSES
from avremix.data.store import read_wav
from avremix.errors import UsageError

SR = 16000
CORPORA = {  # name: (categories, easy, pairs, seed)
    "speech": (("speech",), 0.0, 3, 1),
    "music": (("music",), 0.0, 3, 2),
    "effects": (("effects",), 0.0, 4, 3),
    "easy": (hardpairs.CATEGORIES, 1.0, 3, 4),
}


def _config(categories, easy, **kw):
    return hardpairs.HardPairsConfig(duration=4.0, candidates=3, sources="procedural", categories=categories, easy=easy, **kw)


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    """name -> (root, manifest rows) of a few 4 s pairs each."""
    out = {}
    for name, (categories, easy, n, seed) in CORPORA.items():
        root = tmp_path_factory.mktemp(f"hardpairs-{name}")
        summary = hardpairs.build(root, n, seed=seed, config=_config(categories, easy))
        assert summary.examples == n and not summary.failed, summary.failed
        out[name] = (root, [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()])
    return out


def _rows(corpora, *names):
    return [(root, row) for name in names for root, rows in [corpora[name]] for row in rows]


def _corr(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.corrcoef(a, b)[0, 1]) if a.std() > 1e-12 and b.std() > 1e-12 else 0.0


def test_every_category_builds_mixes_and_logs(corpora):
    for name in ("speech", "music", "effects"):
        for root, row in _rows(corpora, name):
            p = row["params"]
            assert p["target_category"] == p["interferer_category"] == name and p["hard"] is True
            assert p["class"] in (EFFECT_CLASSES if name == "effects" else (name,)) and p["interferer_class"] == p["class"]
    for root, row in _rows(corpora, *CORPORA):
        p = row["params"]
        assert -5 <= p["snr_db"] <= 5 and 0.0 <= p["similarity"] <= 1.0 and p["sources"] == "procedural"
        assert p["picture"] == ("face" if p["target_category"] == "speech" else "object")
        assert set(row["files"]) == {"mix", "target", "interferer", "video", "activity"} and list(row["frames"]) == ["frames"]
        mix = read_wav(root / row["files"]["mix"])
        assert mix.shape == (1, 4 * SR)
        np.testing.assert_allclose(read_wav(root / row["files"]["target"]) + read_wav(root / row["files"]["interferer"]), mix, atol=1e-4)
        frames = np.load(root / row["frames"]["frames"])
        activity = np.load(root / row["files"]["activity"])
        assert frames.shape == (40, 64, 64, 3) and activity.shape == (2, len(frames)) and activity.dtype == np.float32
        assert (activity > 0).any(axis=1).all()
    root = corpora["effects"][0]
    item = [x for split in ("train", "val", "test") for x in HardPairsDataset(root, split)][0]
    assert set(item) >= {"mix", "target", "interferer", "frames"} and "activity" not in item
    assert item["frames"].shape == (40, 64, 64, 3)


def test_easy_pairs_cross_categories(corpora):
    rows = sorted((row for _, row in _rows(corpora, "easy")), key=lambda r: r["id"])
    assert [r["params"]["target_category"] for r in rows] == list(hardpairs.CATEGORIES)  # targets take turns
    for row in rows:
        p = row["params"]
        assert p["hard"] is False and p["target_category"] != p["interferer_category"]
        assert {p["target_category"], p["interferer_category"]} <= set(hardpairs.CATEGORIES)


def test_face_mouth_follows_the_target_speech(corpora):
    """The close-up's mouth (dark when open) moves with the target's loudness, not the interferer's."""
    pairs = [(root, row) for root, row in _rows(corpora, "speech", "easy") if row["params"]["target_category"] == "speech"]
    assert len(pairs) >= 3
    corr_t, corr_i = [], []
    for root, row in pairs:
        frames = np.load(root / row["frames"]["frames"]).astype(np.float32)
        activity = np.load(root / row["files"]["activity"])
        h, w = frames.shape[1:3]
        darkness = -frames[:, int(0.6 * h): int(0.76 * h), int(0.4 * w): int(0.6 * w)].mean((1, 2, 3))
        corr_t.append(_corr(darkness, activity[0]))
        corr_i.append(_corr(darkness, activity[1]))
    assert all(t > i for t, i in zip(corr_t, corr_i)), (corr_t, corr_i)
    assert np.mean(corr_t) > 0.6 and np.mean(corr_t) - np.mean(corr_i) > 0.5, (corr_t, corr_i)


def _flash_level(frames: np.ndarray, cuts: list, fps: float) -> np.ndarray:
    """Per frame: the fraction of pixels much brighter than their median over the shot (the object's flash)."""
    lum = frames.astype(np.float32).mean(-1)
    bounds = [0, *(int(round(c * fps)) for c in cuts), len(frames)]
    out = np.zeros(len(frames))
    for a, b in zip(bounds, bounds[1:]):
        out[a:b] = ((lum[a:b] - np.median(lum[a:b], 0)) > 40).reshape(b - a, -1).mean(1)
    return out


def _sound_starts(x: np.ndarray) -> list[float]:
    """Where a track starts to sound after 50 ms of silence (10 ms RMS above 5 % of its peak)."""
    hop = SR // 100
    env = np.sqrt((x[: len(x) // hop * hop].reshape(-1, hop) ** 2).mean(1))
    on = env > 0.05 * env.max()
    return [k / 100 for k in range(len(on)) if on[k] and not on[max(0, k - 5):k].any()]


def _flash_track(onsets, fps: float, n: int) -> np.ndarray:
    t = np.arange(n) / fps
    out = np.zeros(n)
    for o in onsets:
        dt = t - o
        out = np.maximum(out, np.where((dt >= 0) & (dt < 0.3), (1 - dt / 0.3) ** 2, 0.0))
    return out


def test_object_flashes_follow_the_target(corpora):
    """For music and effects targets the object flashes at the target's onsets (notes, events), not the interferer's."""
    pairs = [(root, row) for root, row in _rows(corpora, "music", "effects", "easy") if row["params"]["target_category"] != "speech"]
    assert len(pairs) >= 7
    corr_t, corr_i = [], []
    for root, row in pairs:
        p = row["params"]
        frames = np.load(root / row["frames"]["frames"])
        flash = _flash_level(frames, p["cuts"], row["fps"])
        expected = []
        for key, category in (("target", p["target_category"]), ("interferer", p["interferer_category"])):
            x = read_wav(root / row["files"][key])[0]
            onsets = hardpairs.note_onsets(x, SR) if category == "music" else _sound_starts(x)
            expected.append(_flash_track(onsets, row["fps"], len(frames)))
        corr_t.append(_corr(flash, expected[0]))
        corr_i.append(_corr(flash, expected[1]))
    assert sum(t > i for t, i in zip(corr_t, corr_i)) >= 0.75 * len(pairs), (corr_t, corr_i)
    assert np.mean(corr_t) > 0.4 and np.mean(corr_t) - np.mean(corr_i) > 0.3, (corr_t, corr_i)


def test_same_seed_same_pair(tmp_path):
    config = _config(hardpairs.CATEGORIES, 0.5)
    for d in ("a", "b"):
        hardpairs.build(tmp_path / d, 1, seed=7, config=config)
    hardpairs.build(tmp_path / "c", 1, seed=8, config=config)
    row, other = (json.loads((tmp_path / d / "manifest.jsonl").read_text()) for d in "ac")
    a, b, c = tmp_path / "a" / row["files"]["mix"], tmp_path / "b" / row["files"]["mix"], tmp_path / "c" / other["files"]["mix"]
    # samples, not bytes: libsndfile stamps float WAVs' PEAK chunk with the time of writing
    np.testing.assert_array_equal(read_wav(a), read_wav(b))
    assert not np.array_equal(read_wav(a), read_wav(c))
    np.testing.assert_array_equal(np.load(tmp_path / "a" / row["frames"]["frames"]), np.load(tmp_path / "b" / row["frames"]["frames"]))
    assert json.loads((tmp_path / "b" / "manifest.jsonl").read_text())["params"] == row["params"]


def test_gates_cut_phrases():
    rng = np.random.default_rng(0)
    draws = [hardpairs._gate(rng, 10.0, 1000) for _ in range(300)]
    ungated = [g for g, spans in draws if spans is None]
    assert 0.12 < len(ungated) / len(draws) < 0.28 and all((g == 1).all() for g in ungated)
    starts_open = 0
    for gate, spans in draws:
        if spans is None:
            continue
        assert gate.min() >= 0 and gate.max() <= 1
        starts_open += spans[0][0] == 0
        for k, (a, b) in enumerate(spans):
            assert 0.8 - 1e-3 <= b - a <= 3.0 + 1e-3 or b == 10.0  # the last phrase may run past the end
            if k:
                assert 0.4 - 1e-3 <= a - spans[k - 1][1] <= 2.0 + 1e-3
            i, j = int(round(a * 1000)), int(round(b * 1000))
            assert gate[i + 30: j - 30].min() == 1
            if a > 0:  # 30 ms raised-cosine fades
                ramp = gate[i:i + 30]
                assert gate[i - 1] == 0 and ramp[0] < 0.01 and ramp[-1] > 0.99 and np.all(np.diff(ramp) > 0)
            if b < 10.0:
                ramp = gate[j - 30:j]
                assert gate[j] == 0 and ramp[-1] < 0.01 and ramp[0] > 0.99 and np.all(np.diff(ramp) < 0)
    assert 0.3 < starts_open / (len(draws) - len(ungated)) < 0.7  # open or closed at the start


def test_note_onsets():
    t = np.arange(5 * SR) / SR
    x = np.zeros_like(t)
    notes = [0.3, 0.8, 1.25, 1.7, 2.5, 2.56, 3.3, 4.1]
    for o in notes:
        d = np.clip(t - o, 0, None)
        x += np.where(t >= o, np.sin(2 * np.pi * 330 * (1 + o / 5) * d) * np.exp(-6 * d), 0)
    found = hardpairs.note_onsets(x.astype(np.float32), SR)
    expect = [0.3, 0.8, 1.25, 1.7, 2.5, 3.3, 4.1]  # 2.56 is within 120 ms of 2.5
    assert len(found) == len(expect) and np.abs(np.subtract(found, expect)).max() < 0.02, found
    gate = np.ones(len(x), np.float32)
    gate[int(1.0 * SR): int(2.0 * SR)] = 0
    assert hardpairs.note_onsets(x.astype(np.float32), SR, gate) == [f for f in found if not 1.0 <= f < 2.0]


@pytest.mark.parametrize("kw, message", [
    ({"categories": ("speech", "noise")}, "--categories"),
    ({"categories": ()}, "--categories"),
    ({"easy": 1.5}, "--easy"),
    ({"easy": -0.1}, "--easy"),
])
def test_bad_config_is_a_usage_error(kw, message):
    with pytest.raises(UsageError, match=message):
        hardpairs.plan(1, 0, hardpairs.HardPairsConfig(**kw))


def test_cli_rejects_bad_categories_and_easy(tmp_path):
    from tests.conftest import run_cli

    for args, message in ((["--categories", "speech,noise"], "unknown category 'noise'"), (["--easy", "2"], "--easy must be a probability")):
        proc = run_cli("build-dataset", "hardpairs", "-o", tmp_path / "out", "-n", "1", *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert not (tmp_path / "out").exists()
