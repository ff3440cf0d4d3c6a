"""Weights-free visual features (avremix.features.builtin)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from avremix.data import scene
from avremix.errors import AvremixError
from avremix.features import VisualEncoder
from avremix.features.builtin import DIM, FEATURE_NAMES, BuiltinVisualEncoder, feature_index

FPS = 10.0
SR = 1000
GRID = [feature_index(f"motion_r{r}c{c}") for r in range(4) for c in range(4)]
CUT, CHANGE = feature_index("hard_cut"), feature_index("shot_change")
FACE, MOUTH = feature_index("face_present"), feature_index("mouth_motion")


def render(seed: int, size=(160, 120), duration=20.0, face: str | None = "close", flip_every=0.25):
    """Frames of a synthetic scene whose every shot shows the speaker's face at ``face`` distance.

    Returns ``(frames, shots of each frame, frame speech activity)``; the activity flips at random every
    ``flip_every`` seconds, so the mouth opens and closes.
    """
    rng = np.random.default_rng(seed)
    shots = scene.random_shots(rng, duration, p_face=1.0 if face else 0.0)
    if face:
        shots = [dataclasses.replace(s, face=face) for s in shots]
    n_flips = int(duration / flip_every)
    activity = np.repeat(rng.random(n_flips) > 0.5, int(flip_every * SR)).astype(np.float32)
    frames = np.stack(list(scene.render_frames(shots, FPS, size, activity, [], SR, rng=np.random.default_rng(seed))))
    shot_of = scene._shot_index(shots, np.arange(len(frames)) / FPS)
    return frames, [shots[i] for i in shot_of], scene.frame_activity(activity, SR, FPS, len(frames))


@pytest.fixture(scope="module")
def close_up():
    return render(seed=4, duration=10.0)


def test_protocol_and_names():
    enc = BuiltinVisualEncoder(fps=12.5)
    assert isinstance(enc, VisualEncoder)
    assert enc.fps == 12.5 and enc.dim == DIM == len(FEATURE_NAMES) == 32
    assert len(set(FEATURE_NAMES)) == DIM
    with pytest.raises(KeyError):
        feature_index("nope")


def test_shape_dtype_range(close_up):
    frames = close_up[0]
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, size=(5, 37, 53, 3), dtype=np.uint8)
    for clip in (frames, noise):
        feats = BuiltinVisualEncoder(FPS).encode(clip)
        assert feats.shape == (len(clip), DIM) and feats.dtype == np.float32
        assert np.isfinite(feats).all()
        assert feats.min() >= 0.0 and feats.max() <= 1.0 + 1e-6
    assert BuiltinVisualEncoder().encode(np.zeros((0, 64, 64, 3), np.uint8)).shape == (0, DIM)


def test_bad_frames_and_cascade(tmp_path):
    enc = BuiltinVisualEncoder()
    with pytest.raises(ValueError, match="uint8"):
        enc.encode(np.zeros((2, 8, 8, 3), np.float32))
    with pytest.raises(ValueError, match="RGB"):
        enc.encode(np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(AvremixError, match="missing.xml"):
        BuiltinVisualEncoder(cascade=tmp_path / "missing.xml")
    bad = tmp_path / "bad.xml"
    bad.write_text("<opencv_storage></opencv_storage>")
    with pytest.raises(AvremixError, match="bad.xml"):
        BuiltinVisualEncoder(cascade=bad)
    with pytest.raises(ValueError):
        BuiltinVisualEncoder(fps=0)


def test_deterministic(close_up):
    frames = close_up[0][:40]
    a = BuiltinVisualEncoder(FPS).encode(frames)
    b = BuiltinVisualEncoder(FPS).encode(frames)
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("detect_every", [1, 3])
def test_streaming_chunks_equal_whole(close_up, detect_every):
    frames = close_up[0]
    whole = BuiltinVisualEncoder(FPS, detect_every=detect_every).encode(frames)
    assert whole[:, FACE].any(), "the face track must matter for this test"
    enc = BuiltinVisualEncoder(FPS, detect_every=detect_every)
    bounds = [0, 1, 8, 9, 30, 31, 77, len(frames)]
    chunks = [enc.encode(frames[a:b]) for a, b in zip(bounds, bounds[1:])]
    np.testing.assert_array_equal(np.concatenate(chunks), whole)


def test_reset_forgets_previous_video(close_up):
    frames = close_up[0]
    enc = BuiltinVisualEncoder(FPS)
    enc.encode(frames[:40])
    enc.reset()
    np.testing.assert_array_equal(enc.encode(frames[50:]), BuiltinVisualEncoder(FPS).encode(frames[50:]))


def test_static_video_has_no_motion():
    rng = np.random.default_rng(1)
    frame = rng.integers(0, 256, size=(48, 80, 3), dtype=np.uint8)
    feats = BuiltinVisualEncoder().encode(np.repeat(frame[None], 12, axis=0))
    assert np.all(feats[:, GRID] == 0) and np.all(feats[:, feature_index("motion_global")] == 0)
    assert np.all(feats[:, CHANGE] == 0) and np.all(feats[:, CUT] == 0)
    assert np.all(feats[:, MOUTH] == 0)


@pytest.mark.parametrize("scale", [1, 2])
def test_moving_square_moves_in_its_grid_cells(scale):
    """A square sliding along the top of the frame, left half: motion in cells r0c0 and r0c1 only."""
    n, size = 12, 64 * scale
    frames = np.full((n, size, size, 3), 40, np.uint8)
    for k in range(n):
        x = (2 + 2 * k) * scale
        frames[k, 4 * scale : 12 * scale, x : x + 6 * scale] = 230
    feats = BuiltinVisualEncoder().encode(frames)
    grid = feats[1:, GRID].reshape(n - 1, 4, 4)
    assert np.all(grid[:, 0, 0] + grid[:, 0, 1] > 0.01)
    assert np.all(grid[:, 1:, :] == 0) and np.all(grid[:, :, 2:] == 0)
    assert np.all(feats[1:, feature_index("motion_global")] > 0)
    assert np.all(feats[0, GRID] == 0)  # first frame: nothing to compare with
    assert not feats[:, CUT].any()


def test_hard_cut_between_two_backgrounds():
    rng = np.random.default_rng(2)
    noise = rng.normal(0, 4, size=(20, 48, 64, 3))
    base = np.where(np.arange(20)[:, None, None, None] < 10, [[[[200, 60, 50]]]], [[[[40, 90, 210]]]])
    frames = np.clip(base + noise, 0, 255).astype(np.uint8)
    feats = BuiltinVisualEncoder().encode(frames)
    assert np.flatnonzero(feats[:, CUT]).tolist() == [10]
    assert feats[10, CHANGE] > 0.9
    assert np.delete(feats[:, CHANGE], 10).max() < 0.2


@pytest.mark.parametrize("seed", [0, 1])
def test_hard_cuts_at_rendered_shot_changes(seed):
    rng = np.random.default_rng(seed)
    shots = scene.random_shots(rng, 20.0)
    events = [(t, 0.4, True) for t in np.arange(0.3, 20.0, 1.1)]  # flashes within shots are no cuts
    activity = rng.random(20 * SR).astype(np.float32)
    frames = np.stack(list(scene.render_frames(shots, FPS, (64, 64), activity, events, SR, rng=rng)))
    shot_of = scene._shot_index(shots, np.arange(len(frames)) / FPS)
    expected = np.flatnonzero(np.diff(shot_of)) + 1
    feats = BuiltinVisualEncoder(FPS).encode(frames)
    assert len(expected) >= 3
    assert np.flatnonzero(feats[:, CUT]).tolist() == expected.tolist()


def test_face_found_where_the_cartoon_face_is(close_up):
    """Haar fires on (some) rendered close-ups; where it does, the box sits on the drawn face."""
    frames, shots, _ = close_up
    feats = BuiltinVisualEncoder(FPS).encode(frames)
    present = feats[:, FACE] > 0
    assert present.mean() > 0.3, f"face tracked on only {present.mean():.0%} of close-up frames"
    fx = np.array([s.face_x for s in shots])
    fy = np.array([s.face_y for s in shots])
    assert np.abs(feats[present, feature_index("face_x")] - fx[present]).max() < 0.1
    assert np.abs(feats[present, feature_index("face_y")] - fy[present]).max() < 0.1
    size = feats[present, feature_index("face_size")]
    assert np.all(np.abs(size - scene.FACE_HEIGHT["close"]) < 0.25)
    assert np.all(feats[~present, feature_index("face_size")] == 0)


def test_no_face_without_a_face():
    frames, _, _ = render(seed=5, face=None)
    feats = BuiltinVisualEncoder(FPS).encode(frames)
    assert feats[:, FACE].mean() < 0.05


@pytest.mark.parametrize(("seed", "size"), [(4, (160, 120)), (6, (64, 64))])
def test_mouth_motion_follows_speech_changes(seed, size):
    frames, _, activity = render(seed=seed, size=size, duration=12.0)
    feats = BuiltinVisualEncoder(FPS).encode(frames)
    tracked = (feats[:, FACE] > 0) & (feats[:, CUT] == 0)
    tracked[0] = False
    if tracked.sum() < 10:
        pytest.skip(f"Haar found the cartoon face on only {tracked.sum()} frames: nothing to correlate")
    change = np.abs(np.diff(activity, prepend=activity[0]))
    mouth = feats[tracked, MOUTH]
    assert np.corrcoef(mouth, change[tracked])[0, 1] > 0.7
    # the mouth moves when the speech activity changes, not otherwise
    still = tracked & (change == 0)
    moving = tracked & (change > 0.5)
    assert feats[moving, MOUTH].mean() > 4 * feats[still, MOUTH].mean()
