import json
import math
import subprocess

import numpy as np
import pytest
import torch

from avremix.data import muddy
from avremix.data.loudness import loudness
from avremix.data.store import read_wav
from avremix.media.ffmpeg import ffmpeg_exe
from avremix.samples import make_clip

SR = 16000


@pytest.mark.parametrize("mode", ["discrete", "continuous"])
def test_stem_loudness_changes_match_recorded_gains(synth_corpus, tmp_path, mode):
    out = tmp_path / mode
    specs, _ = muddy.plan(out, synth_dir=synth_corpus, config=muddy.MuddyConfig(window=4.0, mode=mode), seed=1)
    summary = muddy.build(out, specs, jobs=1)
    assert not summary.failed and summary.examples == 4
    for line in (out / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        p = row["params"]
        stems, adjusted = read_wav(out / row["files"]["stems"]), read_wav(out / row["files"]["input_stems"])
        np.testing.assert_allclose(adjusted.sum(0), read_wav(out / row["files"]["input"])[0], atol=1e-5)
        np.testing.assert_allclose(stems.sum(0), read_wav(out / row["files"]["target"])[0], atol=1e-5)
        roles = p["roles"]
        assert list(roles.values()).count("suppress") == 1
        for k, name in enumerate(muddy.STEMS):
            before, after = loudness(stems[k], SR), loudness(adjusted[k], SR)
            if roles[name] == "silent":
                continue
            assert after - before == pytest.approx(p["gains_db"][name] + p["normalize_db"], abs=0.5)
            if mode == "discrete":
                assert abs(p["gains_db"][name]) in (6.0, 9.0, 12.0)
            else:
                assert 6.0 <= abs(p["gains_db"][name]) <= 12.0
            assert (p["gains_db"][name] < 0) == (roles[name] == "suppress")


def test_timevarying_gains_change_every_second(synth_corpus, tmp_path):
    specs, _ = muddy.plan(tmp_path, synth_dir=synth_corpus, config=muddy.MuddyConfig(window=4.0, mode="timevarying"), seed=2)
    muddy.build(tmp_path, specs[:1])
    row = json.loads((tmp_path / "manifest.jsonl").read_text().splitlines()[0])
    stems, adjusted = read_wav(tmp_path / row["files"]["stems"]), read_wav(tmp_path / row["files"]["input_stems"])
    for k, name in enumerate(muddy.STEMS):
        per_second = row["params"]["gains_db"][name]
        if row["params"]["roles"][name] == "silent":
            continue
        assert len(per_second) == 4
        for s, db in enumerate(per_second):  # inside each second, away from the 50 ms glides
            a, b = stems[k, s * SR + 1600 : (s + 1) * SR - 1600], adjusted[k, s * SR + 1600 : (s + 1) * SR - 1600]
            if np.abs(a).max() > 1e-4:
                ratio_db = 20 * math.log10(np.abs(b).max() / np.abs(a).max())
                assert ratio_db == pytest.approx(db + row["params"]["normalize_db"], abs=0.2)


def test_same_seed_same_dataset(synth_corpus, tmp_path):
    for name in ("a", "b"):
        specs, _ = muddy.plan(tmp_path / name, synth_dir=synth_corpus, config=muddy.MuddyConfig(window=4.0), seed=7)
        muddy.build(tmp_path / name, specs[:2])
    rows = [[json.loads(x)["params"] for x in (tmp_path / n / "manifest.jsonl").read_text().splitlines()] for n in "ab"]
    assert sorted(map(json.dumps, rows[0])) == sorted(map(json.dumps, rows[1]))


@pytest.fixture(scope="module")
def htdemucs_checkpoint(tmp_path_factory):
    """A randomly initialised small HTDemucs saved in the demucs package's checkpoint format."""
    from demucs.htdemucs import HTDemucs

    torch.manual_seed(0)
    model = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=4, depth=2, t_layers=1, nfft=512,
                     samplerate=16000, segment=2, t_heads=2, dconv_comp=2)
    args, kwargs = model._init_args_kwargs
    path = tmp_path_factory.mktemp("sep") / "htdemucs_tiny.th"
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": model.state_dict(), "training_args": {}}, path)
    return path


def test_videos_with_a_separator_skip_broken_and_silent(tmp_path, htdemucs_checkpoint):
    movies = tmp_path / "movies"
    movies.mkdir()
    make_clip(movies / "a.mp4", duration=9, sample_rate=44100)  # two 4 s windows (the tail is dropped)
    make_clip(movies / "b.mkv", duration=5, sample_rate=48000, channels=1)
    (movies / "broken.mp4").write_text("not a movie")
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "testsrc2=size=64x48:rate=10", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=stereo", "-t", "5", "-c:v", "libx264", "-c:a", "aac", str(movies / "silent.mp4")], check=True)
    out = tmp_path / "muddy"
    cfg = muddy.MuddyConfig(window=4.0, separator=f"htdemucs:{htdemucs_checkpoint}")
    specs, _ = muddy.plan(out, videos=movies, config=cfg, seed=0)
    summary = muddy.build(out, specs, jobs=2)
    assert [f["source"].split("/")[-1] for f in summary.failed] == ["broken.mp4"]
    assert "not a media file" in summary.failed[0]["error"]
    assert any("silent" in d["reason"] for d in summary.dropped)
    rows = [json.loads(x) for x in (out / "manifest.jsonl").read_text().splitlines()]
    assert sorted(r["id"] for r in rows) == ["muddy-a-w0000", "muddy-a-w0001", "muddy-b-w0000"]
    for row in rows:
        stems, target = read_wav(out / row["files"]["stems"]), read_wav(out / row["files"]["target"])[0]
        assert stems.shape == (3, 4 * SR)
        np.testing.assert_allclose(stems.sum(0), target, atol=1e-5)  # residual folded into effects
        assert np.load(out / row["frames"]["frames"]).shape == (40, 64, 64, 3)
        assert row["separator"].startswith("htdemucs:")
    a_rows = [r for r in rows if r["id"].startswith("muddy-a")]
    assert len({r["split"] for r in a_rows}) == 1  # one movie, one split


def test_cmd_csv_failures_are_listed_not_fatal(tmp_path, htdemucs_checkpoint):
    csv_path = tmp_path / "clips.csv"
    csv_path.write_text("videoid,clip_name\nabc123def45,Some clip\n")
    specs, failed = muddy.plan(tmp_path / "out", cmd_csv=csv_path, config=muddy.MuddyConfig(separator=f"htdemucs:{htdemucs_checkpoint}"))
    assert specs == [] and failed and failed[0]["source"] == "abc123def45"


def test_missing_separator_fails_once_before_building(tmp_path):
    from avremix.errors import UsageError

    (tmp_path / "movies").mkdir()
    make_clip(tmp_path / "movies" / "a.mp4", duration=1)
    with pytest.raises(UsageError, match="separator checkpoint not found"):
        muddy.plan(tmp_path / "out", videos=tmp_path / "movies", config=muddy.MuddyConfig(separator="htdemucs:/missing/model.th"))


def test_glide_is_the_raised_cosine_smoothing_of_the_steps():
    """The fast (overlap-add) glide equals the direct convolution it replaces, edges included."""
    per_second = np.array([6.0, -12.0, 9.0, 0.0, 12.0])
    T, n = 4 * SR + 123, int(0.05 * SR)
    window = np.hanning(2 * n + 1)[: n + 1]
    kernel = np.concatenate([window, window[::-1][1:]])
    steps = np.repeat(10 ** (per_second / 20), SR)[:T]
    direct = np.convolve(np.pad(steps, (n, n), mode="edge"), kernel / kernel.sum(), mode="valid")[:T]
    glide = muddy._glide(per_second, SR, T)
    assert glide.shape == (T,) and np.abs(glide - direct).max() < 1e-5
    assert glide[SR // 2] == pytest.approx(10 ** (6 / 20)) and glide[SR + SR // 2] == pytest.approx(10 ** (-12 / 20))


@pytest.mark.parametrize("peak_normalize", [False, True])
def test_input_is_the_linear_remix_unless_peak_normalised(synth_corpus, tmp_path, peak_normalize):
    """The seed's recipe: the input is the plain sum of the adjusted stems, so its level is as wrong as a
    real mis-mix's; ``peak_normalize`` (avremix <= 0.4) scales it to the target's peak instead."""
    out = tmp_path / "m"
    specs, _ = muddy.plan(out, synth_dir=synth_corpus, config=muddy.MuddyConfig(window=4.0, peak_normalize=peak_normalize), seed=2)
    assert not muddy.build(out, specs, jobs=1).failed
    for line in (out / "manifest.jsonl").read_text().splitlines():
        row = json.loads(line)
        p = row["params"]
        stems, x = read_wav(out / row["files"]["stems"]), read_wav(out / row["files"]["input"])[0]
        target = read_wav(out / row["files"]["target"])[0]
        gains = np.array([10 ** (p["gains_db"][s] / 20) for s in muddy.STEMS], np.float32)[:, None]
        linear = (stems * gains).sum(0)
        assert p["peak_normalize"] is peak_normalize
        if peak_normalize:
            assert np.abs(x).max() == pytest.approx(np.abs(target).max(), rel=1e-4)
            np.testing.assert_allclose(x, linear * 10 ** (p["normalize_db"] / 20), atol=1e-4)
        else:
            assert p["normalize_db"] == 0.0
            np.testing.assert_allclose(x, linear, atol=1e-5)


def test_videos_with_the_projects_own_separator(tmp_path):
    """``--separator separate-cass``: the shipped separator, through the engine, with the window's frames."""
    movies = tmp_path / "movies"
    movies.mkdir()
    make_clip(movies / "a.mp4", duration=4.5, sample_rate=48000)
    out = tmp_path / "muddy"
    specs, _ = muddy.plan(out, videos=movies, config=muddy.MuddyConfig(window=4.0, separator="separate-cass"), seed=0)
    summary = muddy.build(out, specs, jobs=1)
    assert not summary.failed and summary.examples == 1
    row = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert row["separator"] == "separate-cass"
    stems, target = read_wav(out / row["files"]["stems"]), read_wav(out / row["files"]["target"])[0]
    np.testing.assert_allclose(stems.sum(0), target, atol=1e-5)
    assert all(np.sqrt(np.mean(s ** 2)) > 1e-4 for s in stems[:2])  # it did split something off


def test_a_highlighter_is_refused_as_separator(tmp_path):
    from avremix.errors import UsageError

    (tmp_path / "movies").mkdir()
    make_clip(tmp_path / "movies" / "a.mp4", duration=1)
    with pytest.raises(UsageError, match="not a separator"):
        muddy.plan(tmp_path / "out", videos=tmp_path / "movies", config=muddy.MuddyConfig(separator="highlight-cfm"))
