"""``avremix separate``: stems that sum to the input, exact lengths, seams, muxed tracks, bad input."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from avremix import checkpoint
from avremix.engine import Engine, EngineConfig, stem_weights
from avremix.errors import UsageError
from avremix.media import AudioDecoder, probe
from avremix.nets.cass import CASSConfig, CASSSeparator
from avremix.samples import make_clip
from avremix.separate import separate_file
from tests.conftest import run_cli

SR = 48000


def decoded(path, audio_stream=None) -> np.ndarray:
    return np.concatenate(list(AudioDecoder(path, audio_stream=audio_stream)), axis=1)  # [C, T]


class ConvSeparator(torch.nn.Module):
    """Three stems from a local convolution (receptive field 1 + 2 * 3 * (4 + 8) = 73 samples) at 16 kHz."""

    stems = ("dialogue", "music", "effects")
    sample_rate, fps, generative = 16000, None, False
    receptive_field = 73

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.net = torch.nn.Sequential(torch.nn.Conv1d(1, 8, 7, dilation=4, padding=12), torch.nn.Tanh(),
                                       torch.nn.Conv1d(8, 3, 7, dilation=8, padding=24))

    def forward(self, audio, visual=None, noise=None):
        return self.net(audio)  # [B, 3, T]


@pytest.fixture(scope="module")
def tiny_cass(tmp_path_factory) -> Path:
    """A small CASS separator saved from a (perturbed) random init: the real network, no training needed."""
    torch.manual_seed(1)
    model = CASSSeparator(CASSConfig(hidden=32, blocks=1, mask_channels=4, mask_layers=1, visual_dim=16))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return checkpoint.save(model, tmp_path_factory.mktemp("models") / "tiny-cass")


def test_stems_sum_to_the_input_and_seams_match_one_pass():
    x = (np.random.default_rng(0).standard_normal((2, 7 * SR + 321)) * 0.1).astype(np.float32)
    model = ConvSeparator()
    ctx = 0.2  # covers the receptive field and the weights' smoothing
    chunked = Engine(model, SR, EngineConfig(segment=2.0, overlap=0.5, context=ctx, batch_size=3, device="cpu")).process(x)
    whole = Engine(model, SR, EngineConfig(segment=60.0, overlap=0.5, context=ctx, device="cpu")).process(x)
    assert chunked.shape == (3, 2, x.shape[1])
    assert np.abs(chunked.sum(0) - x).max() < 1e-4  # mixture consistency: within -80 dBFS
    for seam in (1.5, 3.0, 4.5, 6.0):  # every chunk boundary (hop 1.5 s), ±0.5 s
        a, b = int((seam - 0.5) * SR), int((seam + 0.5) * SR)
        for k in range(3):
            ref, err = whole[k, :, a:b], chunked[k, :, a:b] - whole[k, :, a:b]
            assert (ref ** 2).sum() > 1e4 * (err ** 2).sum()  # SNR above 40 dB


def test_stem_weights_share_out_the_top_octave():
    t = np.arange(16000) / 16000
    hiss = torch.from_numpy(np.random.default_rng(1).standard_normal(16000) * 0.1)
    low = torch.from_numpy(np.sin(2 * np.pi * 200 * t))
    y = torch.stack([hiss, low, 0 * low])[None].float()  # dialogue has the highs, music only lows, effects silent
    w = stem_weights(y, 16000, 48000)
    assert w.shape == (1, 3, 48000) and torch.allclose(w.sum(1), torch.ones(1, 48000, dtype=w.dtype), atol=1e-6)
    assert w[0, 0].mean() > 0.95


@pytest.mark.parametrize("name,kw", [
    ("stereo.mp4", dict(sample_rate=44100, channels=2)),
    ("surround.mkv", dict(sample_rate=48000, channels=6, audio_codec="ac3")),
    ("mono.mov", dict(sample_rate=48000, channels=1)),
    ("flac.mp4", dict(sample_rate=44100, channels=2, audio_codec="flac")),
    ("opus.mkv", dict(sample_rate=48000, channels=2, audio_codec="libopus")),
])
def test_separate_files_of_every_kind(tiny_cass, tmp_path, name, kw):
    src = make_clip(tmp_path / name, duration=3, **kw)
    result = separate_file(src, tmp_path / "out", checkpoint.load(str(tiny_cass)), config=EngineConfig(segment=1.0, overlap=0.2, context=0.3, device="cpu"))
    x = decoded(src)
    stems = {k: decoded(v) for k, v in result.outputs.items()}
    assert set(stems) == {"dialogue", "effects", "music"}
    for stem in stems.values():
        assert stem.shape == x.shape  # the input's channels and length, to the sample
        assert probe(result.outputs["dialogue"]).audio_streams[0].sample_rate == kw["sample_rate"]
    assert np.abs(sum(stems.values()) - x).max() < 1e-4  # 24-bit stems still sum to the input within -80 dBFS
    assert oct(os.stat(Path(result.output)).st_mode & 0o777) != oct(0o700)


def test_mux_keeps_every_stream_and_titles_the_stems(tiny_cass, mkv_flac, tmp_path):
    proc = run_cli("separate", mkv_flac, "-o", tmp_path, "-m", tiny_cass, "--mux", "--json", check=True)
    result = json.loads(proc.stdout)
    info, src = probe(result["output"]), probe(mkv_flac)
    assert [s.type for s in info.streams] == [s.type for s in src.streams] + ["audio"] * 3
    new = info.streams[len(src.streams):]
    assert [s.title for s in new] == ["Dialogue", "Effects", "Music"]
    processed = next(s for s in src.streams if s.type == "audio" and s.default)
    assert all(s.language == processed.language for s in new)
    audio_index = sum(s.type == "audio" for s in src.streams)  # the stems come after the input's audio tracks
    stems = [decoded(result["output"], audio_stream=audio_index + k) for k in range(3)]
    assert np.abs(sum(stems) - decoded(mkv_flac)).max() < 1e-4


def test_fewer_stems_do_not_change_their_content(tiny_cass, tmp_path):
    src = make_clip(tmp_path / "a.mp4", duration=2)
    run_cli("separate", src, "-o", tmp_path / "all", "-m", tiny_cass, check=True)
    run_cli("separate", src, "-o", tmp_path / "one", "-m", tiny_cass, "--stems", "mx", "--format", "wav", check=True)
    assert sorted(os.listdir(tmp_path / "one" / "a")) == ["music.wav"]
    run_cli("separate", src, "-o", tmp_path / "two", "-m", tiny_cass, "--stems", "dx", "mx", check=True)  # as the shell splits it
    assert sorted(os.listdir(tmp_path / "two" / "a")) == ["dialogue.flac", "music.flac"]
    np.testing.assert_allclose(decoded(tmp_path / "one/a/music.wav"), decoded(tmp_path / "all/a/music.flac"), atol=1e-6)


def test_a_users_htdemucs_checkpoint(tmp_path):
    from demucs.htdemucs import HTDemucs

    net = HTDemucs(sources=["drums", "bass", "other", "vocals"], channels=4, depth=2, t_layers=1, nfft=512,
                   samplerate=22050, segment=2, t_heads=2, dconv_comp=2)
    args, kwargs = net._init_args_kwargs
    path = tmp_path / "mine.th"
    torch.save({"klass": HTDemucs, "args": args, "kwargs": kwargs, "state": net.state_dict()}, path)
    src = make_clip(tmp_path / "a.mp4", duration=3)
    proc = run_cli("separate", src, "-o", tmp_path / "out", "-m", f"htdemucs:{path}", "--json", check=True)
    outputs = json.loads(proc.stdout)["outputs"]
    assert np.abs(sum(decoded(p) for p in outputs.values()) - decoded(src)).max() < 1e-4


def test_bad_input_is_one_line_and_leaves_nothing(tiny_cass, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("not a video")
    out = tmp_path / "out"
    proc = run_cli("separate", bad, "-o", out, "-m", tiny_cass)
    assert proc.returncode == 1 and "broken.mp4" in proc.stderr and "Traceback" not in proc.stderr
    assert len([ln for ln in proc.stderr.splitlines() if "error" in ln]) == 1
    assert not out.exists() or not any(out.iterdir())  # no stems folder, no hidden temporary one
    proc = run_cli("separate", bad, "-o", out, "-m", tiny_cass, "--stems", "vocals")
    assert proc.returncode == 2 and "--stems" in proc.stderr
    movie = make_clip(tmp_path / "movie.mkv", duration=1)
    before = movie.read_bytes()
    proc = run_cli("separate", movie, "-o", tmp_path, "-m", tiny_cass, "--mux", "--overwrite")
    assert proc.returncode == 2 and "is the input" in proc.stderr and movie.read_bytes() == before


def test_help_explains_every_option():
    proc = run_cli("separate", "--help", check=True)
    for opt in ("--output", "--stems", "--model", "--query", "--mux", "--format", "--audio-stream", "--segment", "--overlap",
                "--context", "--batch-size", "--device", "--precision", "--overwrite", "--json", "--quiet"):
        assert opt in proc.stdout


def in_every_split(root: Path) -> Path:
    """Put every example of the dataset at ``root`` in the train, val and test splits alike (tiny data)."""
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    with open(root / "manifest.jsonl", "w") as f:
        for split in ("train", "val", "test"):
            for row in rows:
                f.write(json.dumps({**row, "split": split}) + "\n")
    return root


@pytest.fixture(scope="module")
def avdnr_corpus(tmp_path_factory) -> Path:
    """A tiny procedural AV-CASS corpus whose clips are in every split (tiny data)."""
    from avremix.data import avdnr

    root = tmp_path_factory.mktemp("avdnr")
    summary = avdnr.build(root, 3, seed=5, config=avdnr.AVDnRConfig(duration=3.0, sources="procedural"))
    assert not summary.failed
    return in_every_split(root)


@pytest.mark.parametrize("name,sets", [
    ("cass", ["model.hidden=32", "model.blocks=1", "model.mask_channels=4", "model.mask_layers=1", "model.visual_dim=16"]),
    ("htdemucs", ["model.channels=8", "model.depth=2", "model.nfft=512", "model.t_layers=1"]),
])
def test_train_and_evaluate_a_separator(avdnr_corpus, tmp_path, name, sets):
    from avremix.evaluate import evaluate_separation
    from avremix.train import TrainConfig, apply_overrides, model_config_for, train

    config = TrainConfig(model=name, steps=3, batch_size=2, crop=1.0, val_every=3, checkpoint_every=3, log_every=1, val_examples=2, lr=1e-3)
    model_config = model_config_for(name)
    apply_overrides(config, model_config, sets)
    last, _ = train(avdnr_corpus, tmp_path / "run", config, model_config)
    assert last["step"] == 3 and np.isfinite(last["loss"]) and "val_model_SI-SDRi" in last
    model = checkpoint.load(str(tmp_path / "run" / "model"))
    assert model.stems == ("dialogue", "music", "effects")
    result = evaluate_separation(model, avdnr_corpus, "test")
    rows = result["rows"]
    assert result["examples"] == 3 and rows["mixture"]["SI-SDRi_mean"] == pytest.approx(0.0, abs=1e-6)
    assert rows["ideal ratio masks"]["SI-SDRi_dialogue"] > 5  # the ceiling of a magnitude mask is far above the mixture
    assert ("model, video shuffled" in rows) == (name == "cass")  # only a model that takes the picture
    for key in ("SDR_dialogue", "SI-SDR_music", "SI-SDRi_effects"):
        assert np.isfinite(rows["model"][key])
    if name == "cass":  # a compared separator gets its own row: the same model at the same precision scores the same
        rows = evaluate_separation(model, avdnr_corpus, "test", compare={"compare: again": model}, precision="fp32")["rows"]
        assert rows["compare: again"] == pytest.approx(rows["model"])
        proc = run_cli("evaluate", "--model", tmp_path / "run" / "model", "--data", avdnr_corpus, "--compare", "highlight-visah")
        assert proc.returncode == 2 and "--compare highlight-visah: one model is a separator" in proc.stderr
        proc = run_cli("evaluate", "--model", tmp_path / "run" / "model", "--data", avdnr_corpus, "--precision", "int8")
        assert proc.returncode == 2 and "--precision" in proc.stderr
        proc = run_cli("evaluate", "--model", tmp_path / "run" / "model", "--data", avdnr_corpus, "--no-shuffle-video", "--json", check=True)
        assert "model, video shuffled" not in json.loads(proc.stdout)["rows"]


def test_dynamic_mixing_keeps_each_picture_with_its_sound(avdnr_corpus):
    from avremix.train import SeparationSet

    plain = SeparationSet(avdnr_corpus, "train", 1.0, augment=False, seed=0)
    mixed = SeparationSet(avdnr_corpus, "train", 1.0, augment=True, seed=0, dynamic_mix=1.0)
    clips = [plain[i] for i in range(len(plain))]
    swapped = 0
    for _ in range(6):
        item = mixed[0]
        torch.testing.assert_close(item["input"][0], item["target"].sum(0))  # the mixture is the sum of its stems
        # the dialogue and its face stay those of clip 0 (up to the fresh stem gain) ...
        assert torch.equal(item["frames"][:, 0], clips[0]["frames"][:, 0])
        gain = item["target"][0].norm() / clips[0]["target"][0].norm()
        torch.testing.assert_close(item["target"][0], clips[0]["target"][0] * gain, atol=1e-4, rtol=1e-3)
        # ... and the effects come with the scene stream of the clip they were taken from
        j = next(j for j, c in enumerate(clips) if torch.equal(item["frames"][:, 1], c["frames"][:, 1]))
        g = item["target"][2].norm() / clips[j]["target"][2].norm()
        torch.testing.assert_close(item["target"][2], clips[j]["target"][2] * g, atol=1e-4, rtol=1e-3)
        swapped += j != 0
    assert swapped  # with 3 clips, six draws that all pick clip 0 again would be a broken sampler
    with pytest.raises(UsageError, match="dynamic_mix"):
        SeparationSet(avdnr_corpus, "train", 1.0, augment=True, seed=0, dynamic_mix=1.5)


def test_wrong_pictures_keep_the_sound(avdnr_corpus):
    from avremix.train import SeparationSet

    plain = SeparationSet(avdnr_corpus, "train", 1.0, augment=False, seed=0)
    wrong = SeparationSet(avdnr_corpus, "train", 1.0, augment=True, seed=0, wrong_picture=1.0)
    clips = [plain[i] for i in range(len(plain))]
    others = 0
    for _ in range(6):
        item = wrong[0]
        # the sound is clip 0's (up to the fresh stem gains) ...
        for k in range(3):
            g = item["target"][k].norm() / clips[0]["target"][k].norm()
            torch.testing.assert_close(item["target"][k], clips[0]["target"][k] * g, atol=1e-4, rtol=1e-3)
        # ... and both picture streams come from one clip, together
        j = next(j for j, c in enumerate(clips) if torch.equal(item["frames"][:, 0], c["frames"][:, 0]))
        assert torch.equal(item["frames"][:, 1], clips[j]["frames"][:, 1])
        others += j != 0
    assert others
    with pytest.raises(UsageError, match="wrong_picture"):
        SeparationSet(avdnr_corpus, "train", 1.0, augment=True, seed=0, wrong_picture=-0.1)


def test_init_grows_a_separator_with_conditioning_blocks(avdnr_corpus, tmp_path):
    from avremix.train import TrainConfig, apply_overrides, model_config_for, train

    sets = ["model.hidden=32", "model.blocks=1", "model.mask_channels=4", "model.mask_layers=1", "model.visual_dim=16"]
    config = TrainConfig(model="cass", steps=1, batch_size=2, crop=1.0, val_every=10, checkpoint_every=1, log_every=1, val_examples=2)
    model_config = model_config_for("cass")
    apply_overrides(config, model_config, sets)
    train(avdnr_corpus, tmp_path / "a", config, model_config)
    small = checkpoint.load(str(tmp_path / "a" / "model")).eval()
    config.steps, config.init = 0, str(tmp_path / "a" / "model")
    model_config.cond_blocks = 2
    _, grown = train(avdnr_corpus, tmp_path / "b", config, model_config)
    assert len(grown.cond_blocks) == 2
    audio, frames = torch.randn(1, 1, 16000) * 0.1, torch.randint(0, 255, (1, 10, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():  # the new blocks start as identities: the grown model separates exactly as the saved one
        torch.testing.assert_close(grown.eval()(audio, frames), small(audio, frames), atol=1e-5, rtol=1e-4)
    model_config.hidden = 48
    with pytest.raises(UsageError, match="do not fit"):
        train(avdnr_corpus, tmp_path / "c", config, model_config)


# -- on-screen separation (--stems on off) -------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_onscreen(tmp_path_factory) -> Path:
    """A small on-screen separator saved from a (perturbed) random init."""
    from avremix.nets.onscreen import OnScreenConfig, OnScreenSeparator

    torch.manual_seed(2)
    model = OnScreenSeparator(OnScreenConfig(hidden=32, blocks=1, cond_blocks=1, mask_channels=4, mask_layers=1, visual_dim=16, guidance=2.0))
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    return checkpoint.save(model, tmp_path_factory.mktemp("models") / "tiny-onscreen")


def test_on_and_off_stems_sum_to_the_input_and_mux_as_titled_tracks(tiny_onscreen, mkv_flac, tmp_path):
    proc = run_cli("separate", mkv_flac, "-o", tmp_path / "files", "-m", tiny_onscreen, "--stems", "on", "off", "--json", check=True)
    outputs = json.loads(proc.stdout)["outputs"]
    assert sorted(outputs) == ["off", "on"]
    x = decoded(mkv_flac)
    on, off = decoded(outputs["on"]), decoded(outputs["off"])
    assert on.shape == off.shape == x.shape and np.abs(on + off - x).max() < 1e-4
    assert np.abs(on).max() > 1e-3 and np.abs(off).max() > 1e-3  # both carry sound
    proc = run_cli("separate", mkv_flac, "-o", tmp_path / "muxed", "-m", tiny_onscreen, "--mux", "--json", check=True)  # default: both stems
    info, src = probe(json.loads(proc.stdout)["output"]), probe(mkv_flac)
    assert [s.title for s in info.streams[len(src.streams):]] == ["On screen", "Off screen"]
    assert [s.type for s in info.streams] == [s.type for s in src.streams] + ["audio"] * 2


def test_query_takes_the_picture_from_another_video(tiny_onscreen, tmp_path):
    import soundfile as sf

    from avremix.checkpoint import DEFAULT_ONSCREEN, DEFAULT_SEPARATOR
    from avremix.separate import default_separator

    video = make_clip(tmp_path / "scene.mp4", duration=3, sample_rate=48000, channels=2)
    audio = tmp_path / "mixture.wav"
    sf.write(audio, decoded(video).T, 48000, subtype="FLOAT")
    proc = run_cli("separate", audio, "-o", tmp_path / "out", "-m", tiny_onscreen, "--stems", "on")
    assert proc.returncode == 1 and "mixture.wav" in proc.stderr and "--query" in proc.stderr  # no picture: say where to get one
    run_cli("separate", audio, "-o", tmp_path / "q", "-m", tiny_onscreen, "--query", video, check=True)
    run_cli("separate", video, "-o", tmp_path / "v", "-m", tiny_onscreen, check=True)
    on_q, on_v = decoded(tmp_path / "q/mixture/on.flac"), decoded(tmp_path / "v/scene/on.flac")
    np.testing.assert_allclose(on_q, on_v, atol=1e-4)  # the same audio and the same picture: the same stem
    proc = run_cli("separate", video, "-o", tmp_path / "bad", "-m", tiny_onscreen, "--query", audio)
    assert proc.returncode == 1 and "mixture.wav" in proc.stderr and "no video stream" in proc.stderr
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())
    assert default_separator(["on", "off"]) == DEFAULT_ONSCREEN and default_separator(["on", "dx"]) == DEFAULT_SEPARATOR
    assert default_separator([]) == DEFAULT_SEPARATOR


def test_on_off_stems_of_another_separator_are_a_clear_error(tiny_cass, tmp_path):
    src = make_clip(tmp_path / "a.mp4", duration=1)
    proc = run_cli("separate", src, "-o", tmp_path / "out", "-m", tiny_cass, "--stems", "on", "off")
    assert proc.returncode == 2 and "no on stem" in proc.stderr and "separate-onscreen" in proc.stderr
    proc = run_cli("separate", src, "-o", tmp_path / "out", "-m", "htdemucs:" + str(tmp_path / "none.th"), "--query", src)
    assert proc.returncode in (1, 2) and "Traceback" not in proc.stderr


@pytest.fixture(scope="module")
def pairs_corpus(tmp_path_factory) -> Path:
    """A tiny procedural hard-pairs corpus (one pair per category) whose pairs are in every split."""
    from avremix.data import hardpairs

    root = tmp_path_factory.mktemp("hardpairs")
    config = hardpairs.HardPairsConfig(duration=3.0, candidates=3, sources="procedural", easy=0.0)
    summary = hardpairs.build(root, 3, seed=4, config=config)
    assert not summary.failed
    return in_every_split(root)


@pytest.mark.parametrize("query,visual", [("aligned", "frames"), ("pooled", "frames"), ("none", "frames"), ("aligned", "builtin")])
def test_train_and_evaluate_the_onscreen_separator(pairs_corpus, tmp_path, query, visual):
    from avremix.evaluate import evaluate_separation
    from avremix.train import TrainConfig, apply_overrides, model_config_for, train

    config = TrainConfig(model="onscreen", steps=3, batch_size=2, crop=1.0, val_every=3, checkpoint_every=3, log_every=1,
                         val_examples=2, lr=1e-3, dynamic_mix=0.5, picture_augment=0.5)
    model_config = model_config_for("onscreen")
    apply_overrides(config, model_config, ["model.hidden=32", "model.blocks=1", "model.cond_blocks=1", "model.mask_channels=4",
                                           "model.mask_layers=1", "model.visual_dim=16", f"model.query={query}"])
    model_config.visual = (visual,)
    if visual != "frames":
        config.picture_augment = 0.0  # feature streams have no pixels to restyle
    last, _ = train(pairs_corpus, tmp_path / "run", config, model_config)
    assert last["step"] == 3 and np.isfinite(last["loss"]) and "val_model_SI-SDR_on" in last
    model = checkpoint.load(str(tmp_path / "run" / "model"))
    assert model.stems == ("on", "off") and (model.fps is None) == (query == "none")
    result = evaluate_separation(model, pairs_corpus, "test")
    rows = result["rows"]
    assert result["stems"] == ["on", "off"] and rows["mixture"]["SI-SDRi_on"] == pytest.approx(0.0, abs=1e-6)
    assert rows["ideal ratio masks"]["SI-SDRi_on"] > 5 and rows["ideal ratio masks"]["T_A-V"] >= 66
    assert ("model, video shuffled" in rows) == (query != "none")
    assert 0.0 <= rows["model"]["T_A-V"] <= 100.0 and np.isfinite(rows["model"]["MAG_on"])
    if visual == "builtin":  # compared with a model that sees the picture another way, each gets its own
        frames_model = checkpoint.load("separate-onscreen") if (checkpoint.models_dir() / "separate-onscreen").exists() else None
        if frames_model is not None:
            rows = evaluate_separation(model, pairs_corpus, "test", compare={"frames": frames_model})["rows"]
            assert np.isfinite(rows["frames"]["SI-SDRi_on"])
        src = make_clip(tmp_path / "clip.mp4", duration=2)
        result = separate_file(src, tmp_path / "out", model, config=EngineConfig(device="cpu"))  # feature streams from the file's frames
        on, off = decoded(result.outputs["on"]), decoded(result.outputs["off"])
        assert np.abs(on + off - decoded(src)).max() < 1e-4


def test_onscreen_crops_keep_the_picture_with_the_target(pairs_corpus):
    from avremix.train import OnScreenSet

    plain = OnScreenSet(pairs_corpus, "train", 1.0, augment=False, seed=0)
    mixed = OnScreenSet(pairs_corpus, "train", 1.0, augment=True, seed=0, dynamic_mix=1.0)
    clips = [plain[i] for i in range(len(plain))]
    for _ in range(4):
        item = mixed[0]
        torch.testing.assert_close(item["input"][0], item["target"].sum(0))  # the mixture is the sum of its stems
        assert torch.equal(item["frames"], clips[0]["frames"])  # the picture is the one the target caused ...
        g = item["target"][0].norm() / clips[0]["target"][0].norm()
        torch.testing.assert_close(item["target"][0], clips[0]["target"][0] * g, atol=1e-4, rtol=1e-3)  # ... of this target
        # the off-screen sound is another pair's on-screen target
        assert any(float(torch.nn.functional.cosine_similarity(item["target"][1], c["target"][0], dim=0)) > 0.999 for c in clips[1:])
    with pytest.raises(UsageError, match="picture_augment"):
        OnScreenSet(pairs_corpus, "train", 1.0, augment=True, seed=0, picture_augment=2.0)


def test_activity_follows_tells_which_timing_an_estimate_has():
    from avremix.evaluate import activity_follows

    rng = np.random.default_rng(0)
    gate = np.repeat(rng.random(30) < 0.5, 1600).astype(np.float32)  # 3 s at 16 kHz, 0.1 s frames
    on = torch.from_numpy(rng.standard_normal(gate.size).astype(np.float32) * gate)
    off = torch.from_numpy(rng.standard_normal(gate.size).astype(np.float32) * (1 - gate))
    assert activity_follows(on + 0.3 * off, on, off, 16000) == 1.0
    assert activity_follows(off + 0.3 * on, on, off, 16000) == 0.0
