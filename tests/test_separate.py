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
    for opt in ("--output", "--stems", "--model", "--mux", "--format", "--audio-stream", "--segment", "--overlap",
                "--context", "--batch-size", "--device", "--precision", "--overwrite", "--json", "--quiet"):
        assert opt in proc.stdout


@pytest.fixture(scope="module")
def avdnr_corpus(tmp_path_factory) -> Path:
    """A tiny procedural AV-CASS corpus whose clips are in every split (tiny data)."""
    from avremix.data import avdnr

    root = tmp_path_factory.mktemp("avdnr")
    summary = avdnr.build(root, 3, seed=5, config=avdnr.AVDnRConfig(duration=3.0, sources="procedural"))
    assert not summary.failed
    rows = [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
    with open(root / "manifest.jsonl", "w") as f:
        for split in ("train", "val", "test"):
            for row in rows:
                f.write(json.dumps({**row, "split": split}) + "\n")
    return root


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
