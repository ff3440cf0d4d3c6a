import json

import numpy as np
import pytest

from avremix.data import synth
from avremix.data.store import read_wav
from avremix.media import probe
from tests.conftest import run_cli


def test_corpus_layout(synth_corpus):
    rows = [json.loads(line) for line in (synth_corpus / "manifest.jsonl").read_text().splitlines()]
    assert len(rows) == 4 and len({r["id"] for r in rows}) == 4
    for row in rows:
        info = probe(synth_corpus / row["files"]["video"])
        assert info.has_video and info.audio_streams and info.duration == pytest.approx(4.0, abs=0.1)
        frames = np.load(synth_corpus / row["frames"]["frames"])
        assert frames.shape == (40, 64, 64, 3) and frames.dtype == np.uint8
        stems, target_stems = read_wav(synth_corpus / row["files"]["stems"]), read_wav(synth_corpus / row["files"]["target_stems"])
        assert stems.shape == target_stems.shape == (3, 64000)
        np.testing.assert_allclose(target_stems.sum(0), read_wav(synth_corpus / row["files"]["target"])[0], atol=1e-5)
        np.testing.assert_allclose(stems.sum(0), read_wav(synth_corpus / row["files"]["mix"])[0], atol=1e-5)
        assert row["split"] in ("train", "val", "test")
        assert set(row["sources"]) == {"dialogue", "music", "effects"}
    summary = json.loads((synth_corpus / "summary.json").read_text())
    assert summary["examples"] == 4 and summary["failed"] == []


def test_rebuild_skips_finished_items(synth_corpus):
    summary = synth.build(synth_corpus, n_clips=4, seed=3, config=synth.SynthConfig(duration=4.0, sources="procedural"))
    assert summary.built == 0 and summary.skipped == 4 and summary.examples == 4


def test_directors_mix_depends_on_the_video(tmp_path):
    """Same audio (seed, index), another picture (scene variant): same stems, different target."""
    config = synth.SynthConfig(duration=4.0, sources="procedural")
    spec = synth.plan(1, seed=5, config=config)[0]
    outs = []
    for variant in (0, 1):
        out = tmp_path / f"v{variant}"
        out.mkdir()
        synth.build_item({**spec, "scene": variant}, out)
        outs.append(out)
    np.testing.assert_array_equal(read_wav(outs[0] / "stems.wav")[0], read_wav(outs[1] / "stems.wav")[0])  # same dialogue
    t0, t1 = read_wav(outs[0] / "target.wav")[0], read_wav(outs[1] / "target.wav")[0]
    assert np.sqrt(np.mean((t0 - t1) ** 2)) > 0.1 * np.sqrt(np.mean(t0**2))
    assert not np.array_equal(np.load(outs[0] / "frames.npy"), np.load(outs[1] / "frames.npy"))


def test_same_seed_same_clip(tmp_path):
    config = synth.SynthConfig(duration=2.0, sources="procedural")
    spec = synth.plan(1, seed=9, config=config)[0]
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        synth.build_item(spec, tmp_path / name)
    np.testing.assert_array_equal(read_wav(tmp_path / "a" / "target.wav"), read_wav(tmp_path / "b" / "target.wav"))


def test_cli_builds_and_reports(tmp_path):
    out = tmp_path / "corpus"
    proc = run_cli("build-dataset", "synth", "-o", out, "--clips", "2", "--duration", "2", "--sources", "procedural", "-j", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["built"] == 2 and summary["examples"] == 2
    bad = run_cli("build-dataset", "synth", "-o", out, "--sources", "nope")
    assert bad.returncode == 2 and "--sources" in bad.stderr and "Traceback" not in bad.stderr
