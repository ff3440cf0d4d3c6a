"""Streaming frame sampling at a fixed rate and size, aligned to the audio clock."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from avremix.errors import MediaError
from avremix.media.probe import MediaInfo, open_container, probe


class FrameSampler:
    """Frames of the first moving-picture video stream at ``fps``, resized to ``size`` (width, height).

    Frame ``k`` is the picture on screen at ``start + k / fps`` seconds (``start`` is normally the first
    audio sample's time, so frame ``k`` lines up with audio sample ``k * sample_rate / fps``). Before the
    first picture the first one is shown; after the last one it is held, so the sampler yields exactly
    ``n_frames`` frames when asked for them. Yields uint8 arrays ``[H, W, 3]`` (RGB); memory does not grow
    with the video's length.

    ``nearest_reference``: non-reference pictures (most B-frames) are not decoded even where a target time
    shows one; the picture before it is emitted instead. In the usual H.264 layouts (B-pyramid) that one is
    one source frame older than the exact one, for about a fifth less decoding of 25 fps H.264 High sampled at 10 fps (13.0 →
    10.3 CPU-s on 2 min of 1080p; a third of the frames differ, by 0.9 of 255 on the mean). Where an
    emitted picture is more than two source frames older than its target time (two or more non-reference
    pictures in a row, as without B-pyramid), the sampler goes back to decoding every picture it shows for the rest of the
    stream. Off by default: the frames change.
    """

    EPS = 1e-3  # a picture due within a millisecond of a target time counts as on screen (rounding)

    def __init__(
        self,
        path: str | os.PathLike,
        fps: float,
        size: tuple[int, int],
        start: float = 0.0,
        n_frames: int | None = None,
        info: MediaInfo | None = None,
        nearest_reference: bool = False,
    ):
        self.path = os.fspath(path)
        self.nearest_reference = nearest_reference
        self._period = 0.0  # the stream's nominal frame duration (s), set once it is open
        self.info = info or probe(self.path)
        if not self.info.has_video:
            raise MediaError("has no video stream", self.path)
        self.stream_index = self.info.video_streams[0].index
        self.fps = float(fps)
        self.size = (int(size[0]), int(size[1]))
        self.start = float(start)
        self.n_frames = n_frames
        # one scaler for the whole stream: ``VideoFrame.to_ndarray(width=, height=)`` builds a new one per
        # frame, which costs ten times the scaling itself (2.4 against 0.25 ms a 480p frame); same pixels
        self._scaler = VideoReformatter()

    def _pictures(self) -> Iterator[tuple[float, av.VideoFrame]]:
        """(time in seconds, decoded frame) of the pictures, in presentation order.

        Non-reference pictures (most B-frames) that no target time will show are not decoded at all
        (``skip_frame`` set per packet): the sampler only ever emits the picture on screen at a target
        time, and nothing else depends on a non-reference picture, so the frames yielded to the model are
        the same, at a quarter less decoding for 25 fps H.264 High sampled at 10 fps (more for 50/60 fps).
        A picture counts as shown until its packet's duration ends: in a variable-rate stream with a gap
        after a skipped picture, the target times inside the gap get the reference picture before it."""
        with open_container(self.path) as c:
            stream = c.streams[self.stream_index]
            stream.thread_type = "AUTO"
            ctx = stream.codec_context
            tb = float(stream.time_base) if stream.time_base else None
            nominal = 1.0 / float(stream.average_rate) if stream.average_rate else 0.0
            self._period = nominal
            try:
                for packet in c.demux(stream):
                    if tb is not None and packet.pts is not None:
                        shown = self._shown(packet.pts * tb, (packet.duration or 0) * tb or nominal)
                        ctx.skip_frame = "DEFAULT" if shown and not self._nearest else "NONREF"
                    for frame in packet.decode():
                        if frame.pts is not None:
                            yield float(frame.pts * frame.time_base), frame
            except av.error.FFmpegError as e:
                raise MediaError(f"video decoding failed (damaged or truncated file): {e.strerror or e}", self.path) from None
            except GeneratorExit:
                # dropped before the end (the caller has its frames): let the frame-threaded decoder finish
                # the pictures it holds before the container frees it; freeing it with worker threads
                # mid-picture hung the test suite once in a while
                _drain(ctx)
                raise

    def _shown(self, t: float, duration: float) -> bool:
        """Whether a picture due at ``t`` for ``duration`` seconds is on screen at a target time (see
        ``__iter__``: at ``tau`` the picture shown is the last one due by ``tau + eps``). Unknown
        durations and the picture before the first target count as shown."""
        if duration <= 0 or t <= self.start:
            return True
        eps = self.EPS
        k = math.ceil((t - eps - self.start) * self.fps - 1e-9)  # first target time at or after the picture
        if self.n_frames is not None and k >= self.n_frames:
            return False
        return self.start + k / self.fps < t + duration - eps

    def _rgb(self, frame: av.VideoFrame) -> np.ndarray:
        width, height = self.size
        return self._scaler.reformat(frame, width=width, height=height, format="rgb24").to_ndarray()  # [H, W, 3]

    def __iter__(self) -> Iterator[np.ndarray]:
        k = 0
        held: av.VideoFrame | None = None  # the picture on screen at the next target time
        held_t = 0.0
        held_rgb: np.ndarray | None = None  # converted only when it is emitted (most pictures are skipped)
        eps = self.EPS
        self._nearest = self.nearest_reference
        pictures, picture = self._pictures(), None
        try:
            for t, picture in pictures:
                # emit every target time that comes before this picture is due: the held one was on screen then
                while held is not None and self.start + k / self.fps < t - eps:
                    if self.n_frames is not None and k >= self.n_frames:
                        return
                    # the exact picture is due within one frame before the target time: more than two frames
                    # since the held one means two or more were skipped in a row; show every picture from here on
                    if self._nearest and self._period and self.start + k / self.fps - held_t > 2 * self._period + eps:
                        self._nearest = False
                    if held_rgb is None:
                        held_rgb = self._rgb(held)
                    yield held_rgb
                    k += 1
                held, held_t, held_rgb = picture, t, None
            picture = None
        finally:
            if picture is not None:  # left early: the decoder's buffers go back to it before it is freed
                held = picture = None
                pictures.close()
        if held is None:
            raise MediaError("video stream contains no decodable pictures", self.path)
        held_rgb = self._rgb(held)
        while self.n_frames is None and self.start + k / self.fps < self._end() or (
            self.n_frames is not None and k < self.n_frames
        ):
            yield held_rgb
            k += 1

    def _end(self) -> float:
        s = self.info.video_streams[0]
        return self.start + (s.duration or self.info.duration or 0.0)


def _drain(ctx) -> None:
    """Decode what a (frame-threaded) decoder still holds and drop it, so that no worker thread is
    mid-picture when the decoder is freed."""
    try:
        ctx.skip_frame = "DEFAULT"
        for _ in ctx.decode(None):
            pass
    except (av.error.FFmpegError, ValueError):
        pass
