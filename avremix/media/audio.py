"""Streaming audio decoding: one audio stream as float32 blocks ``[C, n]``, never the whole file in memory."""

from __future__ import annotations

import os
from collections.abc import Iterator

import av
import numpy as np

from avremix.errors import MediaError
from avremix.media.probe import MediaInfo, StreamInfo, open_container, probe

# Decoded audio may be shorter than the container says by this much before the file counts as truncated
# (encoder priming, rounding of the last frame, a demuxer's estimate).
_TRUNCATION_SLACK_S = 0.5
_TRUNCATION_SLACK_FRACTION = 0.02


class AudioDecoder:
    """Decode one audio stream of a file in blocks of float32 samples ``[C, n]``.

    The native sample rate and channels are kept unless ``sample_rate`` asks for another rate (ffmpeg's
    resampler, run streaming). Iterating yields blocks of about ``block_size`` frames; memory does not
    grow with the file's length. When iteration ends, the decoded length is checked against the length
    the container announces, and a truncated file raises :class:`MediaError` instead of passing as short.

    ``start`` is the time (seconds, container clock) of the first decoded sample.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        audio_stream: int | None = None,
        sample_rate: int | None = None,
        block_size: int = 65536,
        info: MediaInfo | None = None,
    ):
        self.path = os.fspath(path)
        self.info = info or probe(self.path)
        self.stream_info: StreamInfo = self.info.audio_stream(audio_stream)
        self.channels = int(self.stream_info.channels or 0)
        self.layout = self.stream_info.layout or f"{self.channels}c"
        self.native_rate = int(self.stream_info.sample_rate or 0)
        if not self.channels or not self.native_rate:
            raise MediaError("audio stream has no sample rate or channel count (damaged header?)", self.path)
        self.sample_rate = int(sample_rate or self.native_rate)
        self.block_size = int(block_size)
        self.samples_read = 0  # frames yielded so far, at ``sample_rate``
        self.start = self._first_timestamp()

    @property
    def expected_duration(self) -> float | None:
        """Length in seconds the container announces for this stream (or the file)."""
        return self.stream_info.duration or self.info.duration

    def _first_timestamp(self) -> float:
        with open_container(self.path) as c:
            stream = c.streams[self.stream_info.index]
            try:
                for frame in c.decode(stream):
                    if frame.pts is not None and frame.time_base is not None:
                        return float(frame.pts * frame.time_base)
                    return 0.0
            except av.error.FFmpegError as e:
                raise MediaError(f"cannot decode audio: {e.strerror or e}", self.path) from None
        raise MediaError("audio stream contains no decodable audio", self.path)

    def _frames(self) -> Iterator[np.ndarray]:
        """Decoded (and resampled) frames as float32 ``[C, n]`` arrays."""
        with open_container(self.path) as c:
            stream = c.streams[self.stream_info.index]
            resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout, rate=self.sample_rate)
            try:
                for frame in c.decode(stream):
                    frame.pts = None  # resample by sample count; gaps in timestamps are not ours to fill
                    for out in resampler.resample(frame):
                        yield out.to_ndarray()
                for out in resampler.resample(None):
                    yield out.to_ndarray()
            except av.error.FFmpegError as e:
                raise MediaError(f"audio decoding failed (damaged or truncated file): {e.strerror or e}", self.path) from None

    def __iter__(self) -> Iterator[np.ndarray]:
        self.samples_read = 0
        pending: list[np.ndarray] = []
        n_pending = 0
        for arr in self._frames():
            pending.append(arr)
            n_pending += arr.shape[-1]
            if n_pending >= self.block_size:
                block = np.concatenate(pending, axis=-1)
                pending, n_pending = [], 0
                self.samples_read += block.shape[-1]
                yield np.ascontiguousarray(block, dtype=np.float32)
        if n_pending:
            block = np.concatenate(pending, axis=-1)
            self.samples_read += block.shape[-1]
            yield np.ascontiguousarray(block, dtype=np.float32)
        self._check_complete()

    def _check_complete(self) -> None:
        expected = self.expected_duration
        decoded = self.samples_read / self.sample_rate
        if self.samples_read == 0:
            raise MediaError("audio stream contains no decodable audio", self.path)
        if expected and decoded < expected - _TRUNCATION_SLACK_S - _TRUNCATION_SLACK_FRACTION * expected:
            raise MediaError(
                f"is truncated or damaged: decoded {decoded:.2f} s of audio, the container announces {expected:.2f} s",
                self.path,
            )


def read_audio(path: str | os.PathLike, audio_stream: int | None = None, sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Whole stream as float32 ``[C, T]`` plus its rate. For short files and tests; commands stream."""
    dec = AudioDecoder(path, audio_stream=audio_stream, sample_rate=sample_rate)
    blocks = list(dec)
    return np.concatenate(blocks, axis=-1), dec.sample_rate
