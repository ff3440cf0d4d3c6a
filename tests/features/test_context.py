"""Visual context streams of a highlighter (avremix.features.context): builtin, CLIP and caption features,
streamed in blocks, and wired through `avremix train` and `avremix highlight` with a local CLIP model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from avremix.errors import UsageError  # noqa: E402
from avremix.features.context import ContextFeatures, check_streams  # noqa: E402
from tests.conftest import run_cli  # noqa: E402

EMBED = 24


@pytest.fixture(scope="module")
def clip_files(tmp_path_factory):
    """A tiny open_clip architecture as a model-config JSON file, and randomly initialised weights for it."""
    root = tmp_path_factory.mktemp("ctxclip")
    config = root / "avremix-ctx-tiny.json"
    config.write_text(json.dumps({
        "embed_dim": EMBED,
        "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
    }))
    open_clip.add_model_config(config)
    torch.manual_seed(0)
    weights = root / "tiny.pt"
    torch.save(open_clip.create_model("avremix-ctx-tiny").state_dict(), weights)
    return config, weights


def _frames(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 255, (1, 48, 64, 3))
    drift = np.cumsum(rng.integers(-9, 10, (n, 1, 1, 3)), axis=0)
    return np.clip(base + drift, 0, 255).astype(np.uint8)  # [n, 48, 64, 3], slowly changing


def test_streams_are_checked():
    assert check_streams(["clip", "builtin"]) == ("builtin", "clip")
    for bad in (["frames", "builtin"], ["faces"], []):
        with pytest.raises(UsageError):
            check_streams(bad)
    with pytest.raises(UsageError, match="--clip-weights"):
        ContextFeatures(["builtin", "clip"], fps=10)


def test_streaming_blocks_equal_one_pass(clip_files, tmp_path):
    config, weights = clip_files
    captions = tmp_path / "c.srt"
    captions.write_text("1\n00:00:00,500 --> 00:00:01,200\nA door slams.\n\n2\n00:00:01,900 --> 00:00:03,000\nThey talk.\n")
    ctx = ContextFeatures(["builtin", "clip", "captions"], fps=10, clip_model=str(config), clip_weights=weights)
    assert ctx.dim == 32 + 2 * EMBED
    frames = _frames(30)
    ctx.start(captions)
    whole = ctx.encode(frames, 0)
    ctx.start(captions)
    streamed = torch.stack(list(ctx.stream(iter(frames), block=7))).numpy()
    assert whole.shape == streamed.shape == (30, ctx.dim)
    np.testing.assert_allclose(streamed, whole, atol=1e-5)
    text = whole[:, 32 + EMBED :]
    shown = np.abs(text).sum(axis=1) > 0  # rows 5-11 and 19-29 (time k / 10 s)
    assert shown.tolist() == [5 <= k < 12 or 19 <= k < 30 for k in range(30)]
    np.testing.assert_allclose(text[5], text[11])
    assert not np.allclose(text[5], text[19])


def test_train_and_highlight_with_feature_streams(muddy_corpus, clip_files, mp4_30s, tmp_path):
    """A model trained on builtin + CLIP + caption features runs on a real video with the user's CLIP weights."""
    config, weights = clip_files
    run = tmp_path / "run"
    tiny = ["steps=2", "batch_size=2", "crop=1.0", "val_every=2", "checkpoint_every=2", "val_examples=2",
            "model.hidden=16", "model.blocks=1", "model.attn_layers=1", "model.heads=2", "model.visual_dim=8"]
    sets = [a for s in tiny for a in ("--set", s)]
    proc = run_cli("train", "--data", muddy_corpus, "-o", run, "--visual", "builtin,clip,captions",
                   "--clip-model", config, "--clip-weights", weights, "-q", *sets)
    assert proc.returncode == 0, proc.stderr
    meta = json.loads((run / "model" / "model.json").read_text())
    assert meta["config"]["visual"] == ["builtin", "clip", "captions"]
    assert meta["config"]["visual_in"] == 32 + 2 * EMBED
    assert meta["config"]["clip_model"] == "avremix-ctx-tiny"  # recorded by name, not by this machine's path

    clip = tmp_path / "clip.mp4"
    proc = run_cli("highlight", mp4_30s, "-o", clip, "--strength", "0", "-q")  # a copy to put captions beside
    sidecar = clip.with_suffix(".srt")
    sidecar.write_text("1\n00:00:01,000 --> 00:00:04,000\nA man speaks.\n")
    out = tmp_path / "out.mp4"
    proc = run_cli("highlight", clip, "-o", out, "-m", run / "model", "--clip-model", config, "--clip-weights", weights, "-q")
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0

    missing = tmp_path / "missing.mp4"
    proc = run_cli("highlight", clip, "-o", missing, "-m", run / "model", "-q")
    assert proc.returncode == 2 and "--clip-weights" in proc.stderr and "Traceback" not in proc.stderr
    assert not missing.exists()
