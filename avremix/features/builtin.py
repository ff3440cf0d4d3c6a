"""Weights-free visual features: motion, shot changes, face and mouth motion, colour statistics.

:class:`BuiltinVisualEncoder` needs no model file and no network (only OpenCV, whose Haar cascade ships
inside the ``opencv-python-headless`` wheel) and is cheap enough for long videos on one CPU core. It is the
default visual front end; :mod:`avremix.features.clip` is the learned alternative.
"""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np

from avremix.errors import AvremixError
from avremix.features import check_fps, check_frames

__all__ = ["DIM", "FEATURE_NAMES", "BuiltinVisualEncoder", "feature_index"]

WORK_SIZE = 64  # px: frames are resized (squashed) to WORK_SIZE x WORK_SIZE for motion, histograms, colour
GRID = 4  # motion grid is GRID x GRID cells over the working image
HIST_LEVELS = 4  # joint RGB histogram of HIST_LEVELS**3 bins (shot changes)
MOTION_SCALE = 32.0  # 8-bit levels: a mean absolute difference of d levels gives tanh(d / MOTION_SCALE)
EDGE_SCALE = 32.0  # 8-bit levels, same squashing for the mean gradient magnitude
DETECT_MIN_SHORT = 128  # px: frames whose short side is smaller are upscaled to it for face detection
DETECT_MAX_SHORT = 240  # px: larger frames are downscaled to it (speed; faces >= 12 % tall stay >= 28 px)
FACE_MIN_FRAC = 0.12  # smallest face searched for, as a fraction of the frame height
HAAR_MIN_WINDOW = 24  # px: the frontal-face cascade's own window size
DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"

_GRID_NAMES = tuple(f"motion_r{r}c{c}" for r in range(GRID) for c in range(GRID))
#: Name of each feature dimension, in order (see :class:`BuiltinVisualEncoder` for their meaning).
FEATURE_NAMES: tuple[str, ...] = _GRID_NAMES + (
    "motion_global",
    "shot_change",
    "hard_cut",
    "face_present",
    "face_size",
    "face_x",
    "face_y",
    "mouth_motion",
    "face_motion",
    "brightness",
    "contrast",
    "red",
    "green",
    "blue",
    "saturation",
    "edges",
)
DIM = len(FEATURE_NAMES)  # 32


def feature_index(name: str) -> int:
    """Column of the feature called ``name`` (one of :data:`FEATURE_NAMES`)."""
    try:
        return FEATURE_NAMES.index(name)
    except ValueError:
        raise KeyError(f"unknown builtin feature {name!r}; known: {', '.join(FEATURE_NAMES)}") from None


_BLOCK = 256  # frames processed together (the result does not depend on it)
_I = {name: i for i, name in enumerate(FEATURE_NAMES)}
_GRAY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601 luma, as OpenCV


class BuiltinVisualEncoder:
    """Hand-made per-frame visual features, ``dim = 32``, all roughly in [0, 1], float32.

    Frame ``k`` of a video (time ``k / fps``) gives row ``k``; ``fps`` is only recorded (the features are
    computed frame by frame and are at whatever rate the frames come in) except for ``face_hold_s``, which
    is converted to frames with it. Streaming: consecutive ``encode`` calls continue one video (the previous
    frame, its histogram and the face track are kept); ``reset()`` starts a new one. The first frame of a
    video has no predecessor: its motion, shot-change and mouth/face-motion features are 0.

    Working images: each frame is resized (aspect ratio not kept) to 64x64 RGB ("work image", area
    interpolation) and converted to BT.601 grayscale for motion, histograms and colour statistics; for face
    detection the full frame's grayscale is rescaled, keeping its aspect ratio, so that its short side is at
    least 128 px (small frames are upscaled so that the 24 px cascade window still fits their faces) and at
    most 240 px ("detection image").

    Dimensions (``FEATURE_NAMES``; motions are ``tanh(d / 32)`` of a mean absolute difference ``d`` in
    8-bit grey levels between this frame and the previous one: 0 is static, about 0.1 is pixel noise of
    standard deviation 3 levels, 0.5 is a mean change of 18 levels):

    - 0-15 ``motion_r{r}c{c}``: motion energy in cell (row r, column c) of a 4x4 grid over the work image,
      row 0 at the top, column 0 on the left (index ``4 * r + c``).
    - 16 ``motion_global``: the same over the whole work image.
    - 17 ``shot_change``: total-variation distance (0 identical .. 1 disjoint) between the joint RGB
      histograms (4 levels per channel, 64 bins) of the work images of this frame and the previous one.
    - 18 ``hard_cut``: 1.0 where ``shot_change > cut_threshold`` (default 0.4), else 0.0.
    - 19 ``face_present``: 1.0 while a face is tracked: the frontal-face Haar cascade found one (faces at
      least 12 % of the frame height; the largest is kept) in this frame or in one of the previous
      ``max(round(face_hold_s * fps), detect_every - 1)`` frames (hold, so single-frame misses do not
      flicker). A hard cut drops the held face; the cascade always runs on a hard-cut frame.
    - 20 ``face_size``: face box height / frame height (0 when no face).
    - 21, 22 ``face_x``, ``face_y``: face box centre as fractions of the frame width / height, from the left
      / top (0 when no face). During a hold, the last detected box is used.
    - 23 ``mouth_motion``: motion inside the mouth region, the lower third and central 60 % of the width
      of the face box, on the detection image (0 when no face, at a hard cut, or at the first frame).
    - 24 ``face_motion``: motion inside the whole face box (same conditions), a reference for head motion.
    - 25 ``brightness``: mean grey level / 255.
    - 26 ``contrast``: 2 x standard deviation of the grey levels / 255.
    - 27-29 ``red``, ``green``, ``blue``: mean of each channel / 255.
    - 30 ``saturation``: mean HSV saturation ``(max - min) / max`` of the work image's pixels.
    - 31 ``edges``: ``tanh(g / 32)`` of the mean absolute horizontal plus vertical grey-level step ``g``.

    Args:
        fps: frame rate of the frames (and features).
        face_hold_s: how long a face counts as present after its last detection.
        detect_every: run the cascade on every n-th frame of the video only (frames ``0, n, 2n, ...``
            after ``reset()``); a detected face is held in between (the hold is at least ``n - 1`` frames).
            1 = every frame (about half the speed: the cascade dominates the cost).
        cut_threshold: ``shot_change`` above which a frame is flagged as a hard cut.
        min_neighbors: the cascade's ``minNeighbors`` (higher: fewer false faces, more misses).
        cascade: path of another OpenCV Haar cascade XML file (default: OpenCV's frontal-face default).
    """

    def __init__(
        self,
        fps: float = 10.0,
        *,
        face_hold_s: float = 0.5,
        detect_every: int = 2,
        cut_threshold: float = 0.4,
        min_neighbors: int = 3,
        cascade: str | Path | None = None,
    ) -> None:
        fps = check_fps(fps)
        if face_hold_s < 0:
            raise ValueError(f"face_hold_s must be >= 0, got {face_hold_s}")
        if int(detect_every) < 1:
            raise ValueError(f"detect_every must be >= 1, got {detect_every}")
        if not 0 <= cut_threshold <= 1:
            raise ValueError(f"cut_threshold must be in [0, 1], got {cut_threshold}")
        self.fps = float(fps)
        self.dim = DIM
        self.detect_every = int(detect_every)
        self.cut_threshold = float(cut_threshold)
        self.min_neighbors = int(min_neighbors)
        self.hold_frames = max(self.detect_every - 1, round(face_hold_s * self.fps))
        path = Path(cascade) if cascade is not None else Path(cv2.data.haarcascades) / DEFAULT_CASCADE
        if not path.is_file():
            raise AvremixError("Haar cascade file not found", path)
        try:
            self._cascade = cv2.CascadeClassifier(str(path))
        except (cv2.error, SystemError) as exc:
            raise AvremixError(f"not a valid OpenCV Haar cascade file ({exc})", path) from None
        if self._cascade.empty():
            raise AvremixError("not a valid OpenCV Haar cascade file", path)
        self.cascade_path = path
        self.reset()

    def reset(self) -> None:
        self._prev_gray: np.ndarray | None = None  # float32 [WORK, WORK] work image of the previous frame
        self._prev_hist: np.ndarray | None = None  # float64 [HIST_LEVELS**3]
        self._prev_det: np.ndarray | None = None  # uint8 detection image of the previous frame
        self._face: tuple[int, int, int, int] | None = None  # x, y, w, h on the detection image
        self._since_detection = 0  # frames since self._face was last detected
        self._index = 0  # frames seen since reset()

    # ----------------------------------------------------------------------------------------- encode

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB ``[F, H, W, 3]`` -> float32 ``[F, 32]``; continues the video of the previous call."""
        frames = check_frames(frames)
        out = np.zeros((frames.shape[0], DIM), dtype=np.float32)
        for start in range(0, frames.shape[0], _BLOCK):  # bounded temporaries for long inputs
            block = frames[start : start + _BLOCK]
            work = self._work_images(block)  # uint8 [B, WORK, WORK, 3]
            work_f = work.astype(np.float32)
            gray = work_f @ _GRAY_WEIGHTS  # float32 [B, WORK, WORK]
            rows = out[start : start + len(block)]
            self._global_features(rows, work, work_f, gray)
            for k in range(len(block)):
                self._face_features(rows[k], block[k])
                self._index += 1
        return out

    # ------------------------------------------------------------------------------- whole-image features

    @staticmethod
    def _work_images(frames: np.ndarray) -> np.ndarray:
        if frames.shape[1:3] == (WORK_SIZE, WORK_SIZE):
            return frames
        size = (WORK_SIZE, WORK_SIZE)
        return np.stack([cv2.resize(f, size, interpolation=cv2.INTER_AREA) for f in frames])

    def _global_features(self, out: np.ndarray, work: np.ndarray, work_f: np.ndarray, gray: np.ndarray) -> None:
        n = len(work)
        # motion: absolute difference to the previous frame (the first frame of a video is its own predecessor)
        prev = gray[:1] if self._prev_gray is None else self._prev_gray[None]
        diff = np.abs(gray - np.concatenate([prev, gray[:-1]]))
        cell = WORK_SIZE // GRID
        cells = diff.reshape(n, GRID, cell, GRID, cell).mean(axis=(2, 4), dtype=np.float64).reshape(n, GRID * GRID)
        out[:, : GRID * GRID] = np.tanh(cells / MOTION_SCALE)
        out[:, _I["motion_global"]] = np.tanh(diff.mean(axis=(1, 2), dtype=np.float64) / MOTION_SCALE)
        self._prev_gray = gray[-1].copy()

        # shot change: total-variation distance between joint RGB histograms of consecutive frames
        hists = _joint_histograms(work)
        prev_h = hists[:1] if self._prev_hist is None else self._prev_hist[None]
        change = 0.5 * np.abs(hists - np.concatenate([prev_h, hists[:-1]])).sum(axis=1)
        out[:, _I["shot_change"]] = change
        out[:, _I["hard_cut"]] = change > self.cut_threshold
        self._prev_hist = hists[-1].copy()

        # colour statistics
        out[:, _I["brightness"]] = gray.mean(axis=(1, 2), dtype=np.float64) / 255.0
        out[:, _I["contrast"]] = 2.0 * gray.std(axis=(1, 2), dtype=np.float64) / 255.0
        rgb = work_f.mean(axis=(1, 2), dtype=np.float64) / 255.0
        out[:, _I["red"]], out[:, _I["green"]], out[:, _I["blue"]] = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        hi = work.max(axis=3).astype(np.float32)
        lo = work.min(axis=3).astype(np.float32)
        sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1.0), 0.0)
        out[:, _I["saturation"]] = sat.mean(axis=(1, 2), dtype=np.float64)
        gx = np.abs(np.diff(gray, axis=2)).mean(axis=(1, 2), dtype=np.float64)
        gy = np.abs(np.diff(gray, axis=1)).mean(axis=(1, 2), dtype=np.float64)
        out[:, _I["edges"]] = np.tanh((gx + gy) / EDGE_SCALE)

    # --------------------------------------------------------------------------------------- face track

    def _face_features(self, row: np.ndarray, frame: np.ndarray) -> None:
        det = _detection_image(frame)
        prev = self._prev_det
        comparable = prev is not None and prev.shape == det.shape
        cut = bool(row[_I["hard_cut"]])
        if cut or not comparable:  # a new shot (or a new frame size): forget the held face
            self._face = None
        if cut or self._index % self.detect_every == 0:
            box = self._detect(det)
            if box is not None:
                self._face, self._since_detection = box, 0
            else:
                self._since_detection += 1
        else:
            self._since_detection += 1
        if self._face is not None and self._since_detection > self.hold_frames:
            self._face = None
        self._prev_det = det
        if self._face is None:
            return
        x, y, w, h = self._face
        dh, dw = det.shape
        row[_I["face_present"]] = 1.0
        row[_I["face_size"]] = h / dh
        row[_I["face_x"]] = (x + 0.5 * w) / dw
        row[_I["face_y"]] = (y + 0.5 * h) / dh
        if cut or not comparable:
            return
        diff = cv2.absdiff(det[y : y + h, x : x + w], prev[y : y + h, x : x + w])
        mouth = diff[(2 * h) // 3 :, w // 5 : w - w // 5]
        row[_I["face_motion"]] = math.tanh(float(diff.mean()) / MOTION_SCALE) if diff.size else 0.0
        row[_I["mouth_motion"]] = math.tanh(float(mouth.mean()) / MOTION_SCALE) if mouth.size else 0.0

    def _detect(self, det: np.ndarray) -> tuple[int, int, int, int] | None:
        """The largest face on the detection image, ``(x, y, w, h)`` clipped to it, or None."""
        dh, dw = det.shape
        min_side = max(HAAR_MIN_WINDOW, round(FACE_MIN_FRAC * dh))
        if min_side > min(dh, dw):
            return None
        boxes = self._cascade.detectMultiScale(
            det, scaleFactor=1.1, minNeighbors=self.min_neighbors, minSize=(min_side, min_side)
        )
        if len(boxes) == 0:
            return None
        x, y, w, h = (int(v) for v in max(boxes, key=lambda b: int(b[2]) * int(b[3])))
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, dw), min(y + h, dh)
        return (x0, y0, x1 - x0, y1 - y0) if x1 > x0 and y1 > y0 else None


def _joint_histograms(work: np.ndarray) -> np.ndarray:
    """Normalised joint RGB histograms, ``HIST_LEVELS`` levels per channel: float64 ``[F, HIST_LEVELS**3]``."""
    n = len(work)
    shift = 8 - int(math.log2(HIST_LEVELS))
    q = (work >> shift).astype(np.int64)
    idx = (q[..., 0] * HIST_LEVELS + q[..., 1]) * HIST_LEVELS + q[..., 2]
    bins = HIST_LEVELS**3
    idx = idx.reshape(n, -1) + (np.arange(n, dtype=np.int64) * bins)[:, None]
    counts = np.bincount(idx.ravel(), minlength=n * bins).reshape(n, bins)
    return counts / float(WORK_SIZE * WORK_SIZE)


def _detection_image(frame: np.ndarray) -> np.ndarray:
    """Grayscale ``frame`` rescaled (aspect kept) so its short side is in [DETECT_MIN_SHORT, DETECT_MAX_SHORT]."""
    gray = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    h, w = gray.shape
    short = min(h, w)
    if short < DETECT_MIN_SHORT:
        scale, interp = DETECT_MIN_SHORT / short, cv2.INTER_LINEAR
    elif short > DETECT_MAX_SHORT:
        scale, interp = DETECT_MAX_SHORT / short, cv2.INTER_AREA
    else:
        return gray
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    return cv2.resize(gray, size, interpolation=interp)
