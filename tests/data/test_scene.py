"""Synthetic scenes (avremix.data.scene): shot lists, rendered frames tied to the sound, director's gains."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from avremix.data.scene import (
    FACE_HEIGHT,
    MIN_COLOR_DISTANCE,
    MixRules,
    Shot,
    director_gains,
    frame_activity,
    random_shots,
    render_frames,
)

SR = 16000
FPS = 25
SIZE = (160, 120)  # (W, H)


def make_shot(start: float, end: float, face: str | None = "close", visible: bool = True, **kw) -> Shot:
    fields = dict(
        face_x=0.38, face_y=0.5, object_x=0.8, object_y=0.5, background=(90, 120, 160), pattern=1
    ) | kw
    return Shot(start=start, end=end, face=face, object_visible=visible, **fields)


def render(shots, activity=None, events=(), seed=0, size=SIZE, fps=FPS) -> np.ndarray:
    if activity is None:
        activity = np.zeros(int(shots[-1].end * SR))
    return np.stack(list(render_frames(shots, fps, size, activity, list(events), SR, rng=np.random.default_rng(seed))))


def mouth_box(shot: Shot, size=SIZE) -> tuple[slice, slice]:
    """Window around the mouth, with room for the head sway."""
    w, h = size
    ry = 0.5 * FACE_HEIGHT[shot.face] * h
    cx, my = shot.face_x * w, shot.face_y * h + 0.5 * ry
    return slice(int(my - 0.3 * ry), int(my + 0.3 * ry)), slice(int(cx - 0.4 * ry), int(cx + 0.4 * ry))


# ------------------------------------------------------------------------------------------- shot lists


@pytest.mark.parametrize("duration", [0.7, 2.0, 7.3, 10.0, 61.5])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shots_tile_the_duration(duration, seed):
    shots = random_shots(np.random.default_rng(seed), duration)
    assert shots[0].start == 0.0
    assert shots[-1].end == duration
    for a, b in zip(shots, shots[1:]):
        assert a.end == b.start
    lengths = [s.end - s.start for s in shots]
    assert all(length > 0 for length in lengths)
    if duration >= 2.0:
        assert min(lengths) >= 2.0 - 1e-9 and max(lengths) <= 5.0 + 1e-9


def test_consecutive_shots_differ():
    shots = random_shots(np.random.default_rng(5), 120.0, p_face=0.5, p_object=0.5)
    assert len(shots) > 20
    for a, b in zip(shots, shots[1:]):
        assert a.pattern != b.pattern
        assert np.linalg.norm(np.subtract(a.background, b.background)) >= MIN_COLOR_DISTANCE
    assert {s.face for s in shots} == {None, "close", "medium", "wide"}
    assert {s.object_visible for s in shots} == {True, False}


def test_cuts_are_visible_in_the_frames():
    shots = random_shots(np.random.default_rng(11), 12.0)
    frames = render(shots, seed=3).astype(np.float32)
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    cut_frames = {math.ceil(s.start * FPS) for s in shots[1:]}
    cuts = [step[k - 1] for k in cut_frames]
    within = [step[k - 1] for k in range(1, len(frames)) if k not in cut_frames]
    assert min(cuts) > 5 * max(within), (min(cuts), max(within))


def test_shot_validation():
    with pytest.raises(ValueError):
        make_shot(1.0, 1.0)
    with pytest.raises(ValueError):
        make_shot(0.0, 1.0, face="extreme")
    with pytest.raises(ValueError):
        random_shots(np.random.default_rng(0), 0.0)


# ------------------------------------------------------------------------------------------- rendering


def test_frame_count_shape_dtype():
    shots = [make_shot(0.0, 1.0), make_shot(1.0, 2.01, face="wide", pattern=3, background=(200, 60, 40))]
    frames = list(render_frames(shots, 10, (96, 64), np.zeros(SR), [], SR))
    assert len(frames) == math.ceil(2.01 * 10) == 21
    for f in frames:
        assert f.shape == (64, 96, 3) and f.dtype == np.uint8


def test_render_is_deterministic():
    shots = random_shots(np.random.default_rng(2), 4.0)
    activity = np.random.default_rng(0).random(4 * SR)
    events = [(0.5, 0.3, True), (2.2, 0.1, False)]
    a = render(shots, activity, events, seed=7)
    b = render(shots, activity, events, seed=7)
    c = render(shots, activity, events, seed=8)
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c.astype(int)).mean() > 1.0


def test_frames_carry_noise_and_camera_drift():
    shots = [make_shot(0.0, 4.0, face=None, visible=False, pattern=0)]
    frames = render(shots).astype(np.float32)
    step = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    assert step.min() > 1.0  # per-frame noise
    assert np.abs(frames[:10].mean(0) - frames[-10:].mean(0)).mean() > 1.0  # the background moved


def test_mouth_follows_speech_activity():
    """Pixel change around the mouth between frames tracks the change of activity."""
    shot = make_shot(0.0, 8.0, face="close", visible=False)
    rng = np.random.default_rng(4)
    levels = rng.random(8 * FPS // 4).repeat(4)  # a new activity level every 4 frames
    levels[rng.random(levels.size) < 0.3] = 0.0  # with pauses
    activity = levels.repeat(SR // FPS)
    frames = render([shot], activity).astype(np.float32)
    rows, cols = mouth_box(shot)
    mad = np.abs(np.diff(frames[:, rows, cols], axis=0)).mean(axis=(1, 2, 3))
    d_act = np.abs(np.diff(frame_activity(activity, SR, FPS, len(frames))))
    r = np.corrcoef(mad, d_act)[0, 1]
    assert r > 0.9, r


@pytest.mark.parametrize("face", ["close", "medium", "wide"])
def test_open_mouth_is_darker(face):
    shot = make_shot(0.0, 2.0, face=face, visible=False)
    activity = np.concatenate([np.zeros(SR), np.ones(SR)])
    frames = render([shot], activity).astype(np.float32)
    rows, cols = mouth_box(shot)
    closed = frames[5:20, rows, cols].mean()
    open_ = frames[30:45, rows, cols].mean()
    assert closed - open_ > 15, (closed, open_)


def test_onscreen_event_moves_object_pixels():
    shot = make_shot(0.0, 3.0, face="medium", visible=True)
    onset = 1.03
    base = render([shot]).astype(int)
    hit = render([shot], events=[(onset, 0.2, True)]).astype(int)
    k = math.ceil(onset * FPS)
    np.testing.assert_array_equal(base[:k], hit[:k])  # nothing before the onset
    w, h = SIZE
    obj = (slice(int(0.3 * h), int(0.7 * h)), slice(int(0.65 * w), int(0.95 * w)))
    assert np.abs(hit[k][obj] - base[k][obj]).mean() > 20
    assert hit[k][obj].mean() > base[k][obj].mean() + 20  # a bright flash
    face = (slice(0, h), slice(0, int(0.55 * w)))
    np.testing.assert_array_equal(base[:, face[0], face[1]], hit[:, face[0], face[1]])  # only the object
    decay = [np.abs(hit[j][obj] - base[j][obj]).mean() for j in range(k, k + 12)]
    assert decay[0] > decay[5] and decay[-1] < 0.05 * decay[0]
    np.testing.assert_array_equal(base[k + 15 :], hit[k + 15 :])  # over after ~0.3 s


def test_offscreen_event_changes_nothing():
    shots = [make_shot(0.0, 1.5, visible=True), make_shot(1.5, 3.0, face=None, visible=False, pattern=4)]
    base = render(shots)
    offscreen = render(shots, events=[(0.5, 0.5, False), (1.0, 1.0, False)])
    np.testing.assert_array_equal(base, offscreen)
    hidden_object = render(shots, events=[(2.0, 0.4, True)])  # on-screen event, but object not in shot
    np.testing.assert_array_equal(base, hidden_object)


def test_render_speed():
    shots = random_shots(np.random.default_rng(0), 10.0, p_face=1.0, p_object=1.0)
    activity = np.random.default_rng(1).random(10 * SR)
    events = [(t, 0.2, True) for t in np.arange(0.3, 10, 0.7)]
    start = time.perf_counter()
    frames = list(render_frames(shots, FPS, SIZE, activity, events, SR))
    elapsed = time.perf_counter() - start
    assert len(frames) == 250
    assert elapsed < 1.5, elapsed  # ~0.1 s on one core; generous for loaded CI machines


def test_frame_activity_means_each_frame_span():
    activity = np.concatenate([np.zeros(100), np.ones(100), np.full(50, 0.5)])
    np.testing.assert_allclose(frame_activity(activity, 1000, 10, 4), [0.0, 1.0, 0.25, 0.0])
    assert frame_activity(activity, 1000, 10, 4).dtype == np.float32


# ------------------------------------------------------------------------------------------- gains


def db(x: np.ndarray) -> np.ndarray:
    return 20 * np.log10(x)


def test_gain_curves_shape_and_keys():
    shots = random_shots(np.random.default_rng(0), 6.0)
    gains = director_gains(shots, np.zeros(6 * SR), [], SR, 6 * SR + 17)
    assert set(gains) == {"dialogue", "music", "effects_onscreen", "effects_offscreen"}
    for g in gains.values():
        assert g.shape == (6 * SR + 17,) and g.dtype == np.float32 and np.all(g > 0)
    np.testing.assert_allclose(db(gains["effects_offscreen"]), MixRules().effects_offscreen, atol=1e-4)


def test_dialogue_louder_in_close_up_than_off_screen():
    shots = [
        make_shot(0.0, 2.0, face="close"),
        make_shot(2.0, 4.0, face="medium"),
        make_shot(4.0, 6.0, face="wide"),
        make_shot(6.0, 8.0, face=None),
    ]
    g = db(director_gains(shots, np.zeros(8 * SR), [], SR, 8 * SR)["dialogue"])
    at = {t: g[int(t * SR)] for t in (1.0, 3.0, 5.0, 7.0)}
    rules = MixRules()
    assert at[1.0] == pytest.approx(rules.dialogue_close, abs=1e-3)
    assert at[3.0] == pytest.approx(rules.dialogue_medium, abs=1e-3)
    assert at[5.0] == pytest.approx(rules.dialogue_wide, abs=1e-3)
    assert at[7.0] == pytest.approx(rules.dialogue_offscreen, abs=1e-3)
    assert at[1.0] > at[3.0] > at[5.0] > at[7.0]


def test_music_ducks_under_speech_when_face_on_screen():
    shots = [make_shot(0.0, 4.0, face="medium"), make_shot(4.0, 8.0, face=None)]
    activity = np.zeros(8 * SR)
    activity[int(1.0 * SR) : int(2.0 * SR)] = 0.8  # talking with the face on screen
    activity[int(5.0 * SR) : int(6.0 * SR)] = 0.8  # talking off screen
    g = db(director_gains(shots, activity, [], SR, 8 * SR)["music"])
    rules = MixRules()
    assert g[int(1.5 * SR)] == pytest.approx(rules.music_under_speech, abs=1e-3)
    assert g[int(2.1 * SR)] == pytest.approx(rules.music_under_speech, abs=1e-3)  # held after speech
    assert g[int(3.2 * SR)] == pytest.approx(rules.music_face_silent, abs=1e-3)
    assert g[int(0.5 * SR)] == pytest.approx(rules.music_face_silent, abs=1e-3)
    assert g[int(5.5 * SR)] == pytest.approx(rules.music_nobody, abs=1e-3)  # nobody on screen: no ducking


def test_onscreen_effects_follow_object_visibility():
    shots = [make_shot(0.0, 2.0, visible=True), make_shot(2.0, 4.0, visible=False)]
    events = [(0.5, 0.2, True), (2.5, 0.2, True), (1.0, 0.3, False)]
    g = director_gains(shots, np.zeros(4 * SR), events, SR, 4 * SR)
    rules = MixRules()
    assert db(g["effects_onscreen"][int(0.5 * SR)]) == pytest.approx(rules.effects_onscreen, abs=1e-3)
    assert db(g["effects_onscreen"][int(2.5 * SR)]) == pytest.approx(rules.effects_offscreen, abs=1e-3)
    assert db(g["effects_offscreen"][int(1.0 * SR)]) == pytest.approx(rules.effects_offscreen, abs=1e-3)


def test_gains_glide_at_cuts():
    shots = [make_shot(0.0, 2.0, face="close"), make_shot(2.0, 4.0, face=None)]
    g = db(director_gains(shots, np.zeros(4 * SR), [], SR, 4 * SR)["dialogue"])
    assert np.abs(np.diff(g)).max() < 0.01  # no jump: 12 dB spread over 0.25 s
    assert -11.0 < g[2 * SR] < -1.0  # half way through the glide at the cut
    assert g[int(1.8 * SR)] == pytest.approx(0.0, abs=1e-3)  # the glide is 0.25 s wide
    hard = db(director_gains(shots, np.zeros(4 * SR), [], SR, 4 * SR, MixRules(smoothing=0.0))["dialogue"])
    assert hard[int(1.98 * SR)] == pytest.approx(0.0, abs=1e-3) and hard[int(2.02 * SR)] < -11.9


def test_same_audio_different_shots_gives_different_mix():
    activity = (np.random.default_rng(0).random(10 * SR // 160).repeat(160) > 0.5).astype(np.float32)
    events = [(1.0, 0.3, True), (4.0, 0.3, True), (7.0, 0.5, False)]
    a = director_gains(random_shots(np.random.default_rng(1), 10.0), activity, events, SR, 10 * SR)
    b = director_gains(random_shots(np.random.default_rng(2), 10.0), activity, events, SR, 10 * SR)
    for key in ("dialogue", "music", "effects_onscreen"):
        assert np.abs(db(a[key]) - db(b[key])).mean() > 1.0, key
    np.testing.assert_array_equal(a["effects_offscreen"], b["effects_offscreen"])
