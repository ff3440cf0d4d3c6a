"""Checkpoints (safetensors + JSON sidecar) and `highlight --model` on a real file."""

import json

import numpy as np
import pytest
import torch

from avremix import checkpoint
from avremix.errors import UsageError
from avremix.media import probe, read_audio
from avremix.nets.cfm import CFMConfig, CFMHighlighter
from avremix.samples import make_clip
from tests.conftest import framemd5, run_cli


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    model = CFMHighlighter(CFMConfig(hidden=32, blocks=2, attn_layers=1, heads=2, visual_dim=16))
    for p in model.out.parameters():  # make it do something: the output layer starts at zero
        p.data.normal_(0, 0.05)
    folder = tmp_path_factory.mktemp("models") / "tiny-cfm"
    checkpoint.save(model, folder, notes={"summary": "test model"})
    return folder


def test_round_trip(tiny_model_dir):
    meta = json.loads((tiny_model_dir / "model.json").read_text())
    assert meta["model"] == "cfm" and meta["sample_rate"] == 16000 and meta["fps"] == 10.0 and meta["config"]["hidden"] == 32
    model = checkpoint.load(str(tiny_model_dir))
    again = checkpoint.load(str(tiny_model_dir))
    x, noise = torch.randn(1, 1, 16000) * 0.1, torch.randn(1, 1, 16000)
    frames = torch.randint(0, 255, (1, 10, 64, 64, 3), dtype=torch.uint8)
    with torch.no_grad():
        torch.testing.assert_close(model(x, frames, noise), again(x, frames, noise))
        assert not torch.allclose(model(x, frames, noise), x, atol=1e-3)
    assert (tiny_model_dir / "model.safetensors").stat().st_size < 2 * sum(p.numel() for p in model.parameters()) + 10000  # fp16


def test_unknown_model_is_a_clear_error(tmp_path):
    with pytest.raises(UsageError, match="no model 'nope'"):
        checkpoint.load("nope")
    (tmp_path / "x").mkdir()
    with pytest.raises(UsageError, match="no model.json"):
        checkpoint.load(str(tmp_path / "x"))


def test_models_lists_shipped(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("AVREMIX_MODELS", str(tiny_model_dir.parent))
    proc = run_cli("models", "--json", check=True)
    found = json.loads(proc.stdout)
    assert [m["name"] for m in found] == ["tiny-cfm"] and found[0]["summary"] == "test model"


def test_highlight_with_a_model_on_a_real_file(tiny_model_dir, tmp_path):
    src = make_clip(tmp_path / "in.mp4", duration=5, sample_rate=44100, channels=2)
    out = tmp_path / "out.mp4"
    proc = run_cli("highlight", src, "-o", out, "--model", tiny_model_dir, "--steps", "2", "--segment", "2", "--json")
    assert proc.returncode == 0, proc.stderr
    assert framemd5(out) == framemd5(src)
    a = probe(out).audio_stream()
    assert (a.channels, a.sample_rate) == (2, 44100)
    x, y = read_audio(src)[0], read_audio(out)[0]
    n = min(x.shape[1], y.shape[1])
    assert np.sqrt(np.mean((x[:, :n] - y[:, :n]) ** 2)) > 1e-3  # the model changed the audio
    for name, seed in (("s0", 5), ("s1", 5), ("s2", 6)):  # sampled remixes: --noise above 0
        run_cli("highlight", src, "-o", tmp_path / f"{name}.wav", "--model", tiny_model_dir, "--steps", "2", "--noise", "1", "--seed", seed, check=True)
    s0, s1, s2 = (read_audio(tmp_path / f"s{i}.wav")[0] for i in range(3))
    assert np.array_equal(s0, s1) and not np.array_equal(s0, s2)  # same seed, same output; another seed, another


@pytest.mark.parametrize(("sample_rate", "size"), [(48000, (854, 480)), (44100, (202, 360))])
def test_shipped_default_runs_on_real_format_clips(tmp_path, sample_rate, size):
    """The shipped default model, from the repository, on stereo AAC at film rates and any frame size."""
    src = make_clip(tmp_path / "in.mp4", duration=3, sample_rate=sample_rate, channels=2, size=size, fps=24)
    out = tmp_path / "out.mp4"
    proc = run_cli("highlight", src, "-o", out, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["ok"] and result["sample_rate"] == sample_rate and result["channels"] == 2
    assert framemd5(out) == framemd5(src)
    y = read_audio(out)[0]
    assert np.isfinite(y).all() and 0 < np.abs(y).max() <= 1.0


def test_clip_options_a_frames_model_cannot_use_are_flagged(tiny_model_dir, tmp_path):
    src = make_clip(tmp_path / "in.mp4", duration=2)
    proc = run_cli("highlight", src, "-o", tmp_path / "out.mp4", "--model", tiny_model_dir, "--clip-weights", tmp_path / "none.pt", "-q")
    assert proc.returncode == 0, proc.stderr
    assert "--clip-weights ignored" in proc.stderr and (tmp_path / "out.mp4").exists()
