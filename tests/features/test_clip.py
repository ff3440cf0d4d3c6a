"""open_clip frame and caption embeddings (avremix.features.clip), with a tiny randomly initialised model."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

open_clip = pytest.importorskip("open_clip")
torch = pytest.importorskip("torch")

from avremix.errors import AvremixError  # noqa: E402
from avremix.features import VisualEncoder  # noqa: E402
from avremix.features.clip import (  # noqa: E402
    Caption,
    CaptionEncoder,
    ClipVisualEncoder,
    load_clip,
    read_captions,
)

TINY = "avremix-test-tiny-vit"
OTHER = "avremix-test-tiny-vit-wide"  # same family, different sizes: its weights do not fit TINY
EMBED_DIM = 24


def _config(width: int, embed_dim: int, image_size: int) -> dict:
    return {
        "embed_dim": embed_dim,
        "vision_cfg": {"image_size": image_size, "layers": 2, "width": width, "patch_size": 8, "head_width": 32},
        "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": width, "heads": 2, "layers": 2},
    }


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """Register two tiny model configs and save randomly initialised weights for each."""
    root = tmp_path_factory.mktemp("clip")
    (root / f"{TINY}.json").write_text(json.dumps(_config(64, EMBED_DIM, 32)))
    (root / f"{OTHER}.json").write_text(json.dumps(_config(96, 40, 48)))
    open_clip.add_model_config(root)
    paths = {}
    for name in (TINY, OTHER):
        torch.manual_seed(0)
        model = open_clip.create_model(name)
        paths[name] = root / f"{name}.pt"
        torch.save(model.state_dict(), paths[name])
    return paths


@pytest.fixture(scope="module")
def encoder(weights):
    return ClipVisualEncoder(TINY, weights[TINY], fps=2.0, batch_size=4)


def _images(n: int, h: int = 40, w: int = 56, seed: int = 0) -> np.ndarray:
    """Smooth random images (blurred noise plus gradients), so interpolation details matter little."""
    rng = np.random.default_rng(seed)
    low = rng.random((n, 5, 7, 3))
    ys = np.linspace(0, 4, h)
    xs = np.linspace(0, 6, w)
    y0 = np.minimum(ys.astype(int), 3)
    x0 = np.minimum(xs.astype(int), 5)
    fy = (ys - y0)[:, None, None]
    fx = (xs - x0)[None, :, None]
    img = (
        low[:, y0][:, :, x0] * (1 - fy) * (1 - fx)
        + low[:, y0 + 1][:, :, x0] * fy * (1 - fx)
        + low[:, y0][:, :, x0 + 1] * (1 - fy) * fx
        + low[:, y0 + 1][:, :, x0 + 1] * fy * fx
    )
    return np.clip(img * 255, 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------ images


def test_shapes_and_unit_norm(encoder):
    assert isinstance(encoder, VisualEncoder)
    assert encoder.dim == EMBED_DIM and encoder.fps == 2.0
    feats = encoder.encode(_images(7))
    assert feats.shape == (7, EMBED_DIM) and feats.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(feats, axis=1), 1.0, atol=1e-5)
    assert encoder.encode(np.zeros((0, 10, 10, 3), np.uint8)).shape == (0, EMBED_DIM)


def test_deterministic_and_streaming(encoder, weights):
    frames = _images(11, seed=1)
    whole = encoder.encode(frames)
    np.testing.assert_array_equal(whole, encoder.encode(frames))
    again = ClipVisualEncoder(TINY, weights[TINY], batch_size=32).encode(frames)
    np.testing.assert_allclose(again, whole, atol=1e-5)
    encoder.reset()
    chunks = [encoder.encode(frames[a:b]) for a, b in [(0, 1), (1, 6), (6, 11)]]
    np.testing.assert_allclose(np.concatenate(chunks), whole, atol=1e-5)


def test_different_images_differ(encoder):
    frames = _images(4, seed=2)
    feats = encoder.encode(frames)
    for i in range(4):
        for j in range(i + 1, 4):
            assert np.abs(feats[i] - feats[j]).max() > 1e-3
    # one image's features do not depend on its batch neighbours
    np.testing.assert_allclose(encoder.encode(frames[2:3])[0], feats[2], atol=1e-5)


def test_preprocessing_matches_open_clip(encoder, weights):
    """The torch preprocessing gives what open_clip's own PIL transform gives, up to interpolation rounding."""
    from PIL import Image

    _, _, preprocess = open_clip.create_model_and_transforms(TINY, pretrained=str(weights[TINY]))
    for h, w in [(40, 56), (75, 50), (32, 32), (20, 24)]:
        image = _images(1, h, w, seed=h)[0]
        ours = encoder.preprocess(image[None])[0]
        ref = preprocess(Image.fromarray(image))
        assert ours.shape == ref.shape == (3, 32, 32)
        assert (ours - ref).abs().mean() < 0.01, (h, w)  # PIL rounds to 8 bits after resizing
        feats_ref = encoder.clip.model.encode_image(ref[None]).detach()
        feats_ref = (feats_ref / feats_ref.norm()).numpy()[0]
        assert float(feats_ref @ encoder.encode(image[None])[0]) > 0.99


def test_bad_frames(encoder):
    with pytest.raises(ValueError):
        encoder.encode(np.zeros((2, 8, 8), np.uint8))


def test_missing_weights_file(tmp_path, weights):
    missing = tmp_path / "nowhere.pt"
    with pytest.raises(AvremixError, match="nowhere.pt") as err:
        ClipVisualEncoder(TINY, missing)
    assert "not found" in str(err.value)


def test_weights_of_another_model(weights):
    with pytest.raises(AvremixError, match="do not match") as err:
        ClipVisualEncoder(TINY, weights[OTHER])
    assert str(weights[OTHER].name) in str(err.value) and TINY in str(err.value)


def test_weights_file_that_is_no_checkpoint(tmp_path, weights):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"this is not a torch file")
    with pytest.raises(AvremixError, match="junk.pt"):
        CaptionEncoder(TINY, junk)


def test_unknown_model_name_and_hub_names(weights):
    with pytest.raises(AvremixError, match="unknown open_clip model"):
        load_clip("no-such-model", weights[TINY])
    with pytest.raises(AvremixError, match="local weights"):
        load_clip("hf-hub:someone/something", weights[TINY])


def test_unavailable_device(weights):
    with pytest.raises(AvremixError, match="device"):
        load_clip(TINY, weights[TINY], device="no-such-device")
    if not torch.cuda.is_available():
        with pytest.raises(AvremixError, match="CUDA is not available"):
            load_clip(TINY, weights[TINY], device="cuda")


def test_model_is_shared(weights):
    assert load_clip(TINY, weights[TINY]) is load_clip(TINY, str(weights[TINY]))


# ------------------------------------------------------------------------------------------------ captions


@pytest.fixture(scope="module")
def captions(weights):
    return CaptionEncoder(TINY, weights[TINY], fps=2.0)


def test_captions_from_json_list_map_to_frames(captions, tmp_path):
    path = tmp_path / "caps.json"
    path.write_text(
        json.dumps(
            [
                {"start": 0.5, "end": 2.0, "text": "a dog barks"},
                {"start": 3, "end": 4, "text": "rain on a <i>window</i>", "speaker": "x"},
                {"start": 3.5, "end": 3.9, "text": "thunder"},
            ],
            indent=2,
        )
    )
    caps = captions.load(path)
    assert [c.text for c in caps] == ["a dog barks", "rain on a window", "thunder"]
    assert [c.line for c in caps] == [2, 7, 13]  # where each caption's '{' is
    feats = captions.features(5.0)  # frames at 0, 0.5, ..., 4.5 s
    assert feats.shape == (10, EMBED_DIM) and feats.dtype == np.float32
    dog, rain, thunder = captions.embed(["a dog barks", "rain on a window", "thunder"])
    expected = [None, dog, dog, dog, None, None, rain, thunder, None, None]
    for k, want in enumerate(expected):
        if want is None:
            assert not feats[k].any(), k
        else:
            np.testing.assert_array_equal(feats[k], want)
    np.testing.assert_allclose(np.linalg.norm(dog), 1.0, atol=1e-5)
    assert np.abs(dog - rain).max() > 1e-3
    assert captions.features(5.01).shape == (11, EMBED_DIM)
    assert captions.features(0.0).shape == (0, EMBED_DIM)


def test_captions_keyed_by_second(captions, tmp_path):
    path = tmp_path / "per_second.json"
    path.write_text('{"0": "wind", "2": "a car passes", "3": null, "4": ""}')
    feats = captions.features(3.5, captions=read_captions(path))  # fps 2: 7 frames
    wind, car = captions.embed(["wind", "a car passes"])
    np.testing.assert_array_equal(feats[[0, 1]], [wind, wind])
    np.testing.assert_array_equal(feats[[4, 5]], [car, car])
    assert not feats[[2, 3, 6]].any()


def test_captions_from_srt(captions, tmp_path):
    path = tmp_path / "subs.srt"
    path.write_text(
        "\ufeff1\n00:00:00,000 --> 00:00:01,000\nHello\nthere\n\n2\n00:00:02.500 --> 00:00:03,000 X1:0\nBye\n",
        encoding="utf-8",
    )
    caps = read_captions(path)
    assert caps == [Caption(0.0, 1.0, "Hello there", 2), Caption(2.5, 3.0, "Bye", 7)]
    captions.load(path)
    feats = captions.features(3.0)
    hello, bye = captions.embed(["Hello there", "Bye"])
    np.testing.assert_array_equal(feats[[0, 1, 5]], [hello, hello, bye])
    assert not feats[[2, 3, 4]].any()
    captions.reset()
    assert not captions.features(3.0).any()


@pytest.mark.parametrize(
    ("name", "content", "line", "what"),
    [
        ("syntax.json", '[\n  {"start": 0, "end": 1, "text": "a"},\n  {"start": 1 "end": 2}\n]', 3, "invalid JSON"),
        ("missing.json", '[\n  {"start": 0, "end": 1, "text": "a"},\n\n  {"start": 1, "text": "b"}\n]', 4, "'end'"),
        ("order.json", '[{"start": 0, "end": 1, "text": "a"},\n {"start": 2, "end": 2, "text": "b"}]', 2, "end after"),
        ("type.json", '[\n {"start": "0", "end": 1, "text": "a"}]', 2, "numbers"),
        ("keys.json", '{\n "0": "a",\n "one": "b"\n}', 3, "not a number"),
        ("dup.json", '{\n "0": "a",\n "0.0": "b"\n}', 3, "already has a caption"),
        ("scalar.json", "42", 1, "JSON list"),
        ("bad.srt", "1\n00:00:00,000 --> 00:00:01,000\nok\n\n2\n00:00:05 -> 00:00:06\nno\n", 6, "timing line"),
        ("back.srt", "1\n00:00:03,000 --> 00:00:01,000\nbackwards\n", 2, "end after"),
    ],
)
def test_bad_caption_files(tmp_path, name, content, line, what):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(AvremixError) as err:
        read_captions(path)
    message = str(err.value)
    assert name in message and f"line {line}:" in message and what in message, message


def test_caption_file_missing_or_unknown(tmp_path):
    with pytest.raises(AvremixError, match="gone.srt"):
        read_captions(tmp_path / "gone.srt")
    odd = tmp_path / "notes.txt"
    odd.write_text("just some words")
    with pytest.raises(AvremixError, match="notes.txt"):
        read_captions(odd)
