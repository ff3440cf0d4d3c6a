"""Synthetic scenes whose picture is causally tied to the soundtrack, and the director's mix they imply.

Part of the offline audio-visual training corpus: a *shot list* (hard cuts, camera distance of the
speaker's face, whether the effects' source object is in frame) is rendered to small RGB frames in pure
numpy, and the same shot list decides the "director's mix" gains that are the training target. The same
audio under a different shot list gives a different target, so a model must look at the video.

    random_shots(rng, duration) ──► [Shot, ...] ──┬─► render_frames(...)   uint8 [H, W, 3] frames
    speech activity [T], effect events ───────────┴─► director_gains(...)  linear gains [n_samples]

What the picture shows:

- **face** (``Shot.face`` = ``"close"`` / ``"medium"`` / ``"wide"``): a skin-coloured ellipse about 70 % /
  40 % / 18 % of the frame height with hair, a torso, two eyes that blink now and then, and a mouth whose
  opening follows the speech activity averaged over the frame's time span (a thin closed line at 0, wide
  open with a dark cavity at 1). The head sways slowly, so lip motion is measurable from pixels.
- **object** (``Shot.object_visible``): a coloured disc or box, one size per shot, that flashes bright
  (decaying over ``FLASH_DECAY`` seconds, with a glow for the rest of a long event) and jumps/shakes with a
  decaying displacement at each *on-screen* effect event. Off-screen events never touch a pixel.
- **background**: a per-shot base colour and texture (``PATTERNS``), a slow camera drift within the shot
  (the camera tracks the subject, so only the background moves) and a little per-frame noise. Consecutive
  shots always differ in colour and texture, so every shot change is a visible hard cut.

Everything is deterministic given a ``numpy.random.Generator``; the renderer draws all its randomness per
shot up front, so adding or removing effect events never changes any other pixel.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = [
    "EffectEvent",
    "FACE_DISTANCES",
    "FACE_HEIGHT",
    "MixRules",
    "PATTERNS",
    "Shot",
    "director_gains",
    "frame_activity",
    "random_shots",
    "render_frames",
]

#: ``(onset_seconds, duration_seconds, on_screen)``: one sound effect; ``on_screen`` says its source is the
#: visible object (when the shot shows it), otherwise the sound comes from somewhere out of frame.
EffectEvent = tuple[float, float, bool]

FACE_DISTANCES = ("close", "medium", "wide")
#: Face ellipse height as a fraction of the frame height, by camera distance.
FACE_HEIGHT = {"close": 0.70, "medium": 0.40, "wide": 0.18}
#: Background texture ids are indices into this tuple.
PATTERNS = ("gradient", "stripes", "checker", "blotches", "rings", "diagonal")

FLASH_DECAY = 0.3  # s: an on-screen event's flash and shake fade to zero over this long
GLOW_LEVEL = 0.2  # flash level held for the rest of an event longer than FLASH_DECAY
SHAKE_HZ = 11.0  # oscillation of the object's shake
BLINK_RATE = 0.3  # blinks per second
BLINK_LEN = 0.12  # s
NOISE_STD = 3.0  # per-frame pixel noise, in 8-bit levels
MIN_COLOR_DISTANCE = 110.0  # Euclidean RGB distance between the backgrounds of consecutive shots

GAIN_RATE = 100.0  # Hz: control rate at which director_gains evaluates its rules
SPEECH_THRESHOLD = 0.1  # frame activity above which the speaker counts as talking
SPEECH_HOLD = 0.3  # s: talking is held this long after the activity drops

_SKIN_TONES = ((241, 194, 167), (224, 172, 138), (198, 134, 96), (160, 104, 70), (110, 72, 50))
_HAIR = ((30, 22, 18), (70, 45, 25), (140, 100, 50), (200, 170, 110), (90, 90, 95))
_OBJECT_COLORS = ((225, 55, 40), (40, 90, 225), (240, 205, 30), (55, 195, 80), (205, 60, 205), (30, 205, 215))
_LIPS = (160, 55, 65)
_CAVITY = (45, 12, 18)
_EYE_WHITE = (240, 240, 235)
_PUPIL = (25, 20, 20)
_HALO = (255, 244, 190)


# --------------------------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class Shot:
    """One shot between two hard cuts; positions are fractions of the frame (0..1)."""

    start: float  # seconds
    end: float  # seconds
    face: str | None  # None (speaker off screen) | "close" | "medium" | "wide" (camera distance)
    face_x: float  # face centre
    face_y: float
    object_visible: bool  # the effects' source object is on screen
    object_x: float  # object centre
    object_y: float
    background: tuple[int, int, int]  # base RGB colour
    pattern: int  # background texture id, an index into PATTERNS

    def __post_init__(self) -> None:
        if not self.end > self.start:
            raise ValueError(f"shot must end after it starts, got [{self.start}, {self.end}]")
        if self.face is not None and self.face not in FACE_HEIGHT:
            raise ValueError(f"face must be None or one of {FACE_DISTANCES}, got {self.face!r}")
        if not 0 <= self.pattern < len(PATTERNS):
            raise ValueError(f"pattern must be in [0, {len(PATTERNS)}), got {self.pattern}")


def random_shots(
    rng: np.random.Generator,
    duration: float,
    min_len: float = 2.0,
    max_len: float = 5.0,
    p_face: float = 0.65,
    p_object: float = 0.6,
) -> list[Shot]:
    """A random shot list tiling ``[0, duration]`` exactly, every cut a visible change of background.

    Shot lengths are drawn in ``[min_len, max_len]``; a clip shorter than ``min_len`` is one shot, and
    when ``max_len < 2 * min_len`` the last two shots may be shorter than ``min_len``. Each shot shows the
    speaker's face with probability ``p_face`` (camera distance drawn among ``FACE_DISTANCES``) and the
    effects' object with probability ``p_object``, placed on the other side of the frame from the face.
    """
    if not duration > 0:
        raise ValueError(f"duration must be > 0, got {duration}")
    if not 0 < min_len <= max_len:
        raise ValueError(f"need 0 < min_len <= max_len, got {min_len}, {max_len}")
    shots: list[Shot] = []
    for start, end in _shot_bounds(rng, float(duration), min_len, max_len):
        prev = shots[-1] if shots else None
        background, pattern = _random_background(rng, prev)
        face, face_x, face_y, side = _random_face(rng, p_face)
        object_x, object_y = _random_object_position(rng, face is not None, side)
        shots.append(
            Shot(
                start=start,
                end=end,
                face=face,
                face_x=face_x,
                face_y=face_y,
                object_visible=bool(rng.random() < p_object),
                object_x=object_x,
                object_y=object_y,
                background=background,
                pattern=pattern,
            )
        )
    return shots


def _shot_bounds(rng: np.random.Generator, duration: float, min_len: float, max_len: float) -> list[tuple]:
    """``(start, end)`` pairs, each start the previous end (same float), the last end exactly ``duration``."""
    bounds = []
    t = 0.0
    while duration - t > max_len:
        remaining = duration - t
        if remaining >= 2 * min_len:
            length = rng.uniform(min_len, min(max_len, remaining - min_len))
        else:
            length = remaining / 2
        end = t + length
        bounds.append((t, end))
        t = end
    bounds.append((t, duration))
    return bounds


def _random_background(rng: np.random.Generator, prev: Shot | None) -> tuple[tuple[int, int, int], int]:
    """A base colour far from the previous shot's and a different texture id."""
    while True:
        color = rng.integers(35, 221, size=3)
        if prev is None or np.linalg.norm(color - np.asarray(prev.background)) >= MIN_COLOR_DISTANCE:
            break
    choices = [p for p in range(len(PATTERNS)) if prev is None or p != prev.pattern]
    pattern = int(choices[rng.integers(len(choices))])
    return (int(color[0]), int(color[1]), int(color[2])), pattern


def _random_face(rng: np.random.Generator, p_face: float) -> tuple[str | None, float, float, int]:
    """Camera distance (or None), face centre and the side of the frame (-1 left, +1 right) it is on."""
    side = -1 if rng.random() < 0.5 else 1
    if rng.random() >= p_face:
        return None, 0.5, 0.45, side
    face = FACE_DISTANCES[int(rng.choice(3, p=[0.35, 0.4, 0.25]))]
    offset, y_range = {
        "close": ((0.08, 0.15), (0.46, 0.54)),
        "medium": ((0.10, 0.22), (0.36, 0.50)),
        "wide": ((0.10, 0.30), (0.35, 0.60)),
    }[face]
    face_x = 0.5 + side * rng.uniform(*offset)
    return face, float(face_x), float(rng.uniform(*y_range)), side


def _random_object_position(rng: np.random.Generator, has_face: bool, side: int) -> tuple[float, float]:
    """Object centre; opposite the face when there is one, so the two do not overlap."""
    x = 0.5 - side * rng.uniform(0.27, 0.36) if has_face else rng.uniform(0.2, 0.8)
    return float(x), float(rng.uniform(0.3, 0.75))


def _shot_index(shots: Sequence[Shot], times: np.ndarray) -> np.ndarray:
    """Index of the shot showing each time (times past the end map to the last shot)."""
    starts = np.array([s.start for s in shots])
    return np.clip(np.searchsorted(starts, times, side="right") - 1, 0, len(shots) - 1)


def _check_shots(shots: Sequence[Shot]) -> None:
    if not shots:
        raise ValueError("empty shot list")
    for a, b in zip(shots, shots[1:]):
        if not math.isclose(a.end, b.start, abs_tol=1e-9):
            raise ValueError(f"shots must be contiguous: one ends at {a.end}, the next starts at {b.start}")


def _check_events(effect_onsets: Sequence[EffectEvent]) -> list[EffectEvent]:
    events = []
    for onset, length, on_screen in effect_onsets:
        if length < 0:
            raise ValueError(f"effect duration must be >= 0, got {length}")
        events.append((float(onset), float(length), bool(on_screen)))
    return events


# --------------------------------------------------------------------------------------------- activity


def frame_activity(speech_activity: np.ndarray, sr: int, fps: float, n_frames: int) -> np.ndarray:
    """Mean of ``speech_activity`` over each frame's span ``[k / fps, (k + 1) / fps)``: float32 ``[n_frames]``.

    Samples past the end of ``speech_activity`` count as silence (0); a span shorter than one sample takes
    the sample at its start.
    """
    activity = np.clip(np.asarray(speech_activity, dtype=np.float64), 0.0, 1.0)
    if activity.ndim != 1:
        raise ValueError(f"speech_activity must be 1-D, got shape {activity.shape}")
    csum = np.concatenate([[0.0], np.cumsum(activity)])
    edges = np.floor(np.arange(n_frames + 1) * (sr / fps) + 1e-9).astype(np.int64)
    lo = edges[:-1]
    hi = np.maximum(edges[1:], lo + 1)
    n = activity.size
    sums = csum[np.minimum(hi, n)] - csum[np.minimum(lo, n)]
    return (sums / (hi - lo)).astype(np.float32)


# --------------------------------------------------------------------------------------------- rendering


def render_frames(
    shots: Sequence[Shot],
    fps: float,
    size: tuple[int, int],
    speech_activity: np.ndarray,
    effect_onsets: Sequence[EffectEvent],
    sr: int,
    rng: np.random.Generator | None = None,
) -> Iterator[np.ndarray]:
    """Frames of the scene: ``ceil(duration * fps)`` uint8 RGB arrays ``[H, W, 3]`` for ``size = (W, H)``.

    Frame ``k`` shows time ``k / fps``; the duration is the last shot's end. ``speech_activity`` (``[T]`` in
    [0, 1] at ``sr``) opens the mouth, on-screen ``effect_onsets`` flash and shake the object. ``rng``
    (default: a fixed seed) draws appearance, blinks, drift and noise; the same generator state gives the
    same frames. Arguments are checked at the call, the frames are made as they are consumed.
    """
    _check_shots(shots)
    events = _check_events(effect_onsets)
    width, height = int(size[0]), int(size[1])
    if width < 8 or height < 8:
        raise ValueError(f"size must be at least 8x8, got {size}")
    if not fps > 0:
        raise ValueError(f"fps must be > 0, got {fps}")
    n_frames = math.ceil(shots[-1].end * fps - 1e-9)
    mouth = frame_activity(speech_activity, sr, fps, n_frames)
    flash, shake_x, shake_y = _event_tracks(events, fps, n_frames)
    base_seed = int((rng if rng is not None else np.random.default_rng(0)).integers(2**62))
    return _frames(shots, fps, width, height, n_frames, mouth, flash, shake_x, shake_y, base_seed)


def _frames(
    shots: Sequence[Shot],
    fps: float,
    width: int,
    height: int,
    n_frames: int,
    mouth: np.ndarray,
    flash: np.ndarray,
    shake_x: np.ndarray,
    shake_y: np.ndarray,
    base_seed: int,
) -> Iterator[np.ndarray]:
    canvas = _Canvas(width, height)
    speaker = _Speaker.random(np.random.default_rng([base_seed, 0]))
    noise_rng = np.random.default_rng([base_seed, 1])
    noise = _noise_pool(noise_rng, width, height)
    steps = noise_rng.integers(1, len(noise), size=n_frames)  # never the same noise twice in a row
    noise_index = np.cumsum(steps) % len(noise)
    times = np.arange(n_frames) / fps
    shot_of_frame = _shot_index(shots, times)
    painter: _ShotPainter | None = None
    for k in range(n_frames):
        i = int(shot_of_frame[k])
        if painter is None or painter.index != i:
            painter = _ShotPainter(i, shots[i], canvas, speaker, np.random.default_rng([base_seed, 2, i]))
        frame = painter.paint(float(times[k]), float(mouth[k]), float(flash[k]), shake_x[k], shake_y[k])
        frame += noise[noise_index[k]]
        np.clip(frame, 0, 255, out=frame)
        yield frame.astype(np.uint8)


def _event_tracks(events: Sequence[EffectEvent], fps: float, n_frames: int) -> tuple[np.ndarray, ...]:
    """Per-frame flash level in [0, 1] and shake displacement (units of the object radius) of on-screen events."""
    flash = np.zeros(n_frames)
    shake_x = np.zeros(n_frames)
    shake_y = np.zeros(n_frames)
    for onset, length, on_screen in events:
        if not on_screen:
            continue
        k0 = max(0, math.ceil(onset * fps - 1e-9))
        k1 = min(n_frames, math.floor((onset + max(length, FLASH_DECAY)) * fps) + 1)
        if k0 >= k1:
            continue
        dt = np.arange(k0, k1) / fps - onset
        burst = np.clip(1.0 - dt / FLASH_DECAY, 0.0, 1.0) ** 2
        glow = np.where(dt < length, GLOW_LEVEL, 0.0)
        flash[k0:k1] = np.maximum(flash[k0:k1], np.maximum(burst, glow))
        phase = 2 * np.pi * SHAKE_HZ * dt
        shake_x[k0:k1] += burst * np.sin(phase)
        shake_y[k0:k1] += burst * (0.4 * np.cos(phase) - 1.0)  # jumps up, rattles, settles back
    return flash, np.clip(shake_x, -2, 2), np.clip(shake_y, -2, 2)


def _noise_pool(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A few frames of small Gaussian pixel noise (int16) that the frames draw from at random."""
    count = int(np.clip(20_000_000 // (width * height * 3), 2, 16))
    noise = np.rint(rng.normal(0.0, NOISE_STD, size=(count, height, width, 3)))
    return np.clip(noise, -3 * NOISE_STD, 3 * NOISE_STD).astype(np.int16)


class _Canvas:
    """Frame size and pixel-centre coordinates, computed once; fills shapes inside their bounding box only."""

    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.height = height
        self.xs = np.arange(width, dtype=np.float32) + 0.5
        self.ys = np.arange(height, dtype=np.float32) + 0.5

    def _box(self, cx: float, cy: float, rx: float, ry: float) -> tuple[int, int, int, int] | None:
        x0, x1 = max(int(cx - rx), 0), min(int(math.ceil(cx + rx)) + 1, self.width)
        y0, y1 = max(int(cy - ry), 0), min(int(math.ceil(cy + ry)) + 1, self.height)
        return (x0, x1, y0, y1) if x0 < x1 and y0 < y1 else None

    def _ellipse_mask(self, cx: float, cy: float, rx: float, ry: float):
        box = self._box(cx, cy, rx, ry)
        if box is None or rx <= 0 or ry <= 0:
            return None, None
        x0, x1, y0, y1 = box
        dx = ((self.xs[x0:x1] - cx) / rx) ** 2
        dy = ((self.ys[y0:y1] - cy) / ry) ** 2
        return (slice(y0, y1), slice(x0, x1)), dy[:, None] + dx[None, :] <= 1.0

    def ellipse(self, img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color) -> None:
        window, mask = self._ellipse_mask(cx, cy, rx, ry)
        if window is not None:
            img[window][mask] = color

    def blend_ellipse(self, img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color, alpha: float) -> None:
        window, mask = self._ellipse_mask(cx, cy, rx, ry)
        if window is not None:
            region = img[window]
            region[mask] = (region[mask] * (1.0 - alpha) + np.asarray(color) * alpha).astype(np.int16)

    def box(self, img: np.ndarray, cx: float, cy: float, rx: float, ry: float, color) -> None:
        box = self._box(cx, cy, rx - 0.5, ry - 0.5)
        if box is not None:
            x0, x1, y0, y1 = box
            img[y0:y1, x0:x1] = color


@dataclass(frozen=True)
class _Speaker:
    """The one speaker of a clip: same look in every shot."""

    skin: tuple[int, int, int]
    hair: tuple[int, int, int]
    clothes: tuple[int, int, int]

    @classmethod
    def random(cls, rng: np.random.Generator) -> _Speaker:
        skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))]
        hair = _HAIR[rng.integers(len(_HAIR))]
        clothes = tuple(int(c) for c in rng.integers(20, 200, size=3))
        return cls(skin, hair, clothes)


class _ShotPainter:
    """Everything random about one shot, drawn once; ``paint`` makes the int16 frame at a given time."""

    def __init__(self, index: int, shot: Shot, canvas: _Canvas, speaker: _Speaker, rng: np.random.Generator) -> None:
        self.index = index
        self.shot = shot
        self.canvas = canvas
        self.speaker = speaker
        w, h = canvas.width, canvas.height
        self.margin = max(2, round(0.04 * max(w, h)))
        self.texture = _background_texture(rng, shot.background, shot.pattern, h + 2 * self.margin, w + 2 * self.margin)
        self.drift_from = rng.uniform(0, 2 * self.margin, size=2)
        self.drift_to = rng.uniform(0, 2 * self.margin, size=2)
        n_blinks = rng.poisson(BLINK_RATE * (shot.end - shot.start))
        self.blinks = np.sort(rng.uniform(shot.start, shot.end, size=n_blinks))
        self.sway = (rng.uniform(0.15, 0.4), rng.uniform(0.1, 0.3), rng.uniform(0, 2 * np.pi, size=2))
        self.object_radius = rng.uniform(0.07, 0.12) * h
        self.object_is_disc = bool(rng.random() < 0.5)
        self.object_color = _object_color(rng, shot.background)

    def paint(self, t: float, activity: float, flash: float, shake_x: float, shake_y: float) -> np.ndarray:
        img = self._background(t)
        if self.shot.face is not None:
            self._face(img, t, activity)
        if self.shot.object_visible:
            self._object(img, flash, shake_x, shake_y)
        return img

    def _background(self, t: float) -> np.ndarray:
        """The texture cropped at the camera's drifted position (a copy: the caller draws on it)."""
        frac = (t - self.shot.start) / (self.shot.end - self.shot.start)
        ox, oy = np.rint(self.drift_from + frac * (self.drift_to - self.drift_from)).astype(int)
        return self.texture[oy : oy + self.canvas.height, ox : ox + self.canvas.width].copy()

    def _face(self, img: np.ndarray, t: float, activity: float) -> None:
        c, sp = self.canvas, self.speaker
        ry = 0.5 * FACE_HEIGHT[self.shot.face] * c.height
        rx = 0.78 * ry
        fx, fy, (px, py) = self.sway
        cx = self.shot.face_x * c.width + 0.05 * ry * math.sin(2 * math.pi * fx * t + px)
        cy = self.shot.face_y * c.height + 0.025 * ry * math.sin(2 * math.pi * fy * t + py)
        c.ellipse(img, cx, cy + 1.75 * ry, 1.7 * rx, 0.95 * ry, sp.clothes)  # torso
        c.ellipse(img, cx, cy - 0.1 * ry, 1.08 * rx, 1.0 * ry, sp.hair)
        c.ellipse(img, cx, cy, rx, ry, sp.skin)
        self._eyes(img, cx, cy - 0.18 * ry, rx, ry, self._blinking(t))
        self._mouth(img, cx, cy + 0.5 * ry, rx, ry, activity)

    def _blinking(self, t: float) -> bool:
        i = np.searchsorted(self.blinks, t, side="right") - 1
        return bool(i >= 0 and t - self.blinks[i] < BLINK_LEN)

    def _eyes(self, img: np.ndarray, cx: float, ey: float, rx: float, ry: float, closed: bool) -> None:
        c = self.canvas
        for ex in (cx - 0.38 * rx, cx + 0.38 * rx):
            if closed:
                c.ellipse(img, ex, ey, 0.17 * rx, max(0.6, 0.015 * ry), _PUPIL)
            else:
                c.ellipse(img, ex, ey, 0.17 * rx, max(0.6, 0.1 * ry), _EYE_WHITE)
                c.ellipse(img, ex, ey, max(0.6, 0.08 * rx), max(0.6, 0.08 * ry), _PUPIL)

    def _mouth(self, img: np.ndarray, cx: float, my: float, rx: float, ry: float, activity: float) -> None:
        """Lips around a dark cavity whose half-height grows with the speech activity (a line at 0)."""
        c = self.canvas
        half_width = 0.36 * rx
        lip = max(0.7, 0.045 * ry)
        opening = activity * 0.17 * ry
        c.ellipse(img, cx, my, half_width, lip + opening, _LIPS)
        if opening >= 0.5:
            c.ellipse(img, cx, my, 0.82 * half_width, opening, _CAVITY)

    def _object(self, img: np.ndarray, flash: float, shake_x: float, shake_y: float) -> None:
        c = self.canvas
        r = self.object_radius
        cx = self.shot.object_x * c.width + 0.35 * r * shake_x
        cy = self.shot.object_y * c.height + 0.5 * r * shake_y
        if flash > 0.02:
            c.blend_ellipse(img, cx, cy, 1.8 * r, 1.8 * r, _HALO, 0.6 * flash)
        color = np.asarray(self.object_color, dtype=np.float64)
        color = np.rint(color + (255.0 - color) * 0.85 * flash).astype(np.int16)
        if self.object_is_disc:
            c.ellipse(img, cx, cy, r, r, color)
        else:
            c.box(img, cx, cy, r, r, color)


def _object_color(rng: np.random.Generator, background: tuple[int, int, int]) -> tuple[int, int, int]:
    """A saturated colour that stands out from the background."""
    far = [col for col in _OBJECT_COLORS if np.linalg.norm(np.subtract(col, background)) > 120]
    palette = far or list(_OBJECT_COLORS)
    return palette[rng.integers(len(palette))]


def _background_texture(rng: np.random.Generator, color, pattern: int, h: int, w: int) -> np.ndarray:
    """``color`` modulated by texture ``PATTERNS[pattern]`` (tinted, random scale/angle): int16 ``[h, w, 3]``."""
    ys = ((np.arange(h, dtype=np.float32) + 0.5) / h)[:, None]
    xs = ((np.arange(w, dtype=np.float32) + 0.5) / h)[None, :]  # units of height: square cells, round rings
    period = rng.uniform(0.1, 0.3)
    name = PATTERNS[pattern]
    if name == "gradient":
        angle = rng.uniform(0, 2 * np.pi)
        mod = 2.0 * (np.cos(angle) * (xs - xs.mean()) + np.sin(angle) * (ys - 0.5))
    elif name == "stripes":
        coord = xs if rng.random() < 0.5 else ys
        mod = np.tanh(3.0 * np.sin(2 * np.pi * coord / period))
    elif name == "checker":
        mod = ((np.floor(xs / period) + np.floor(ys / period)) % 2) * 2.0 - 1.0
    elif name == "blotches":
        mod = _upsample(rng.standard_normal((5, max(2, round(5 * w / h)))), h, w)
        mod = mod / (np.abs(mod).max() + 1e-6)
    elif name == "rings":
        cx, cy = rng.uniform(0, w / h), rng.uniform(0, 1)
        mod = np.cos(2 * np.pi * np.hypot(xs - cx, ys - cy) / period)
    else:  # diagonal
        sign = 1.0 if rng.random() < 0.5 else -1.0
        mod = np.sin(2 * np.pi * (xs + sign * ys) / period)
    mod = np.broadcast_to(mod, (h, w))
    tint = 0.6 + 0.4 * rng.random(3)
    texture = np.asarray(color, np.float32) + rng.uniform(25, 45) * mod[:, :, None] * tint
    return np.clip(np.rint(texture), 12, 243).astype(np.int16)


def _upsample(low: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a small 2-D array to ``[h, w]``."""

    def weights(n_out: int, n_in: int) -> np.ndarray:
        pos = np.linspace(0, n_in - 1, n_out)
        i0 = np.minimum(np.floor(pos).astype(int), n_in - 2)
        frac = pos - i0
        m = np.zeros((n_out, n_in))
        m[np.arange(n_out), i0] = 1 - frac
        m[np.arange(n_out), i0 + 1] = frac
        return m

    return weights(h, low.shape[0]) @ low @ weights(w, low.shape[1]).T


# --------------------------------------------------------------------------------------------- director's mix


@dataclass(frozen=True)
class MixRules:
    """The director's rules, in dB, for turning the picture into stem gains.

    Dialogue (the speaker is the face on screen, when there is one):
        ``dialogue_close`` / ``dialogue_medium`` / ``dialogue_wide``: the face is on screen at that camera
        distance: closer camera, more present voice. ``dialogue_offscreen``: no face on screen (a voice
        from out of frame sits back).
    Effects:
        ``effects_onscreen``: an effect whose source is the object, while the object is in the shot.
        ``effects_offscreen``: an effect whose object is not in the shot, and every off-screen effect.
    Music:
        ``music_nobody``: no face on screen, music carries the scene. ``music_under_speech``: a face on
        screen and the speaker talking (frame activity > ``SPEECH_THRESHOLD``, held ``SPEECH_HOLD`` s):
        music ducks under the dialogue. ``music_face_silent``: a face on screen, not talking.
    ``smoothing``: seconds; every gain glides through a raised-cosine (Hann) window this wide, centred on
        the change (so it starts half a window before a cut), instead of jumping. 0 disables it.
    """

    dialogue_close: float = 0.0
    dialogue_medium: float = -3.0
    dialogue_wide: float = -6.0
    dialogue_offscreen: float = -12.0
    effects_onscreen: float = 0.0
    effects_offscreen: float = -12.0
    music_nobody: float = 0.0
    music_under_speech: float = -15.0
    music_face_silent: float = -8.0
    smoothing: float = 0.25

    def dialogue_db(self, face: str | None) -> float:
        """Dialogue gain for a shot whose speaker's face is ``face`` (None: off screen)."""
        return {
            None: self.dialogue_offscreen,
            "close": self.dialogue_close,
            "medium": self.dialogue_medium,
            "wide": self.dialogue_wide,
        }[face]


def director_gains(
    shots: Sequence[Shot],
    speech_activity: np.ndarray,
    effect_onsets: Sequence[EffectEvent],
    sr: int,
    n_samples: int,
    rules: MixRules = MixRules(),
) -> dict[str, np.ndarray]:
    """Linear gain curves (float32 ``[n_samples]``) of the director's mix for the stems of the scene.

    Keys: ``"dialogue"``, ``"music"``, ``"effects_onscreen"`` (for the stem of effects whose source is the
    object, i.e. events with ``on_screen=True``) and ``"effects_offscreen"`` (events with
    ``on_screen=False``). The rules (see ``MixRules``) are evaluated at ``GAIN_RATE`` Hz, smoothed in dB,
    and interpolated to the sample rate. The on-screen effects' gain follows the object's visibility at
    every instant, so it holds for each on-screen event whatever its onset; ``effect_onsets`` is only
    checked here. Times past the last shot keep the last shot's rules.
    """
    _check_shots(shots)
    _check_events(effect_onsets)
    if rules.smoothing < 0:
        raise ValueError(f"smoothing must be >= 0, got {rules.smoothing}")
    n_ctrl = math.ceil(n_samples / sr * GAIN_RATE) + 1
    t_ctrl = np.arange(n_ctrl) / GAIN_RATE
    shot_at = _shot_index(shots, t_ctrl)
    face_on = np.array([s.face is not None for s in shots])[shot_at]
    visible = np.array([s.object_visible for s in shots])[shot_at]
    talking = _hold(frame_activity(speech_activity, sr, GAIN_RATE, n_ctrl) > SPEECH_THRESHOLD, SPEECH_HOLD)
    music_when_face = np.where(talking, rules.music_under_speech, rules.music_face_silent)
    curves_db = {
        "dialogue": np.array([rules.dialogue_db(s.face) for s in shots])[shot_at],
        "music": np.where(face_on, music_when_face, rules.music_nobody),
        "effects_onscreen": np.where(visible, rules.effects_onscreen, rules.effects_offscreen),
        "effects_offscreen": np.full(n_ctrl, rules.effects_offscreen),
    }
    t_samples = np.arange(n_samples) / sr
    width = round(rules.smoothing * GAIN_RATE)
    return {
        key: np.interp(t_samples, t_ctrl, 10.0 ** (_smooth(db, width) / 20.0)).astype(np.float32)
        for key, db in curves_db.items()
    }


def _hold(active: np.ndarray, seconds: float) -> np.ndarray:
    """True wherever ``active`` was True within the last ``seconds`` (at ``GAIN_RATE``)."""
    n = max(1, round(seconds * GAIN_RATE))
    csum = np.concatenate([[0], np.cumsum(active, dtype=np.int64)])
    idx = np.arange(1, active.size + 1)
    return csum[idx] - csum[np.maximum(idx - n, 0)] > 0


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    """Convolution with a unit-sum raised-cosine window ``width`` points wide, edges held."""
    if width < 2:
        return x.astype(np.float64)
    kernel = np.hanning(width + 2)[1:-1]
    kernel /= kernel.sum()
    padded = np.pad(x.astype(np.float64), (width // 2, width - 1 - width // 2), mode="edge")
    return np.convolve(padded, kernel, mode="valid")
