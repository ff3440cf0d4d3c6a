import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

from avremix.data import avdnr, hardpairs
from avremix.data.avdnr import AVDnRConfig
from avremix.data.loudness import loudness
from avremix.data.datasets import AVDnRDataset, HardPairsDataset, SynthDataset, open_dataset
from avremix.data.store import read_wav, split_of
from avremix.data.synth import SynthConfig
from avremix.errors import UsageError


def _all_splits(root, cls, **kw):
    return [item for split in ("train", "val", "test") for item in cls(root, split, **kw)]


def test_random_crops_batch_with_aligned_frames(synth_corpus):
    ds = open_dataset(synth_corpus, "train", crop=2.0)
    assert isinstance(ds, SynthDataset)
    ds.rows = SynthDataset(synth_corpus, "train").rows + SynthDataset(synth_corpus, "test").rows + SynthDataset(synth_corpus, "val").rows
    batch = next(iter(DataLoader(ds, batch_size=2)))
    assert batch["mix"].shape == (2, 1, 32000) and batch["target"].shape == (2, 1, 32000)
    assert batch["stems"].shape == (2, 3, 32000) and batch["frames"].shape == (2, 20, 64, 64, 3)
    assert batch["frames"].dtype == torch.uint8


def test_crop_reads_the_right_span(synth_corpus):
    ds = SynthDataset(synth_corpus, "train", crop=1.5, seed=4)
    ds.rows = [r for s in ("train", "val", "test") for r in SynthDataset(synth_corpus, s).rows]
    row = ds.rows[0]
    whole = read_wav(synth_corpus / row["files"]["target"])
    frames = np.load(synth_corpus / row["frames"]["frames"])
    item = ds[0]
    n = item["target"].shape[1]
    starts = [s for s in range(0, whole.shape[1] - n + 1, 1600) if np.array_equal(whole[:, s : s + n], item["target"].numpy())]
    assert len(starts) == 1  # the crop starts on a frame boundary (1600 samples at 10 fps)
    f0 = starts[0] // 1600
    np.testing.assert_array_equal(item["frames"].numpy(), frames[f0 : f0 + 15])
    again = ds[0]
    assert torch.equal(again["target"], item["target"])  # same epoch, same crop
    crops = set()
    for epoch in range(8):  # other epochs, other crops
        ds.set_epoch(epoch)
        crops.add(ds[0]["target"].numpy().tobytes())
    assert len(crops) > 1


def test_splits_follow_sources(synth_corpus):
    rows = [r for s in ("train", "val", "test") for r in SynthDataset(synth_corpus, s).rows]
    assert len(rows) == 4
    for row in rows:
        assert row["split"] == split_of(row["id"])
        assert split_of(row["sources"]["dialogue"]) == row["split"]


def test_wrong_kind_is_a_clear_error(synth_corpus):
    with pytest.raises(UsageError, match="synth dataset, not avdnr"):
        AVDnRDataset(synth_corpus)


def test_avdnr_mixtures(tmp_path):
    summary = avdnr.build(tmp_path, 2, seed=1, config=SynthConfig(duration=3.0, sources="procedural"))
    assert summary.examples == 2 and not summary.failed
    items = _all_splits(tmp_path, AVDnRDataset, crop=2.0)
    assert len(items) == 2
    for item in items:
        assert item["mix"].shape == (1, 32000) and item["stems"].shape == (3, 32000)
        assert item["face"].shape == (20, 64, 64, 3) and item["scene"].shape == (20, 64, 64, 3)
        torch.testing.assert_close(item["stems"].sum(0, keepdim=True), item["mix"], atol=1e-5, rtol=0)
    row = [r for s in ("train", "val", "test") for r in AVDnRDataset(tmp_path, s).rows][0]
    lufs = row["params"]["loudness_lufs"]
    # film levels: dialogue anchored at -27..-24 LUFS, music and effects at DnR's offsets from it (±2 sigma)
    assert -27 <= lufs["dialogue"] <= -24
    assert -11 <= lufs["music"] - lufs["dialogue"] <= -3 and -8 <= lufs["effects"] - lufs["dialogue"] <= 0
    stems = read_wav(tmp_path / row["files"]["stems"])
    measured = [loudness(s, row["sample_rate"]) - 20 * np.log10(row["params"]["peak_scale"]) for s in stems]
    np.testing.assert_allclose(measured, [lufs[k] for k in row["stems"]], atol=0.5)


def test_avdnr_stereo(tmp_path):
    config = AVDnRConfig(duration=3.0, sources="procedural", channels=2)
    summary = avdnr.build(tmp_path, 1, seed=4, config=config)
    assert summary.examples == 1 and not summary.failed
    item = _all_splits(tmp_path, AVDnRDataset)[0]
    assert item["mix"].shape == (2, 48000) and item["stems"].shape == (3, 2, 48000)
    torch.testing.assert_close(item["stems"].sum(0), item["mix"], atol=1e-5, rtol=0)
    with pytest.raises(UsageError, match="--channels"):
        avdnr.plan(1, 0, AVDnRConfig(channels=6))


def test_hard_pairs(tmp_path):
    config = hardpairs.HardPairsConfig(duration=4.0, candidates=4)
    summary = hardpairs.build(tmp_path, 2, seed=2, config=config)
    assert summary.examples == 2 and not summary.failed, summary.failed
    rows = [r for s in ("train", "val", "test") for r in HardPairsDataset(tmp_path, s).rows]
    for row in rows:
        p = row["params"]
        assert 0.0 <= p["similarity"] <= 1.0 and -5 <= p["snr_db"] <= 5
        mix = read_wav(tmp_path / row["files"]["mix"])
        parts = read_wav(tmp_path / row["files"]["target"]) + read_wav(tmp_path / row["files"]["interferer"])
        np.testing.assert_allclose(parts, mix, atol=1e-5)
    item = _all_splits(tmp_path, HardPairsDataset)[0]
    assert item["frames"].shape == (40, 64, 64, 3)
