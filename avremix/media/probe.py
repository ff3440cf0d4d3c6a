"""Probe a media file: container, streams and which audio stream avremix processes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import av

from avremix.errors import MediaError

#: Extensions of audio-only containers avremix reads and writes.
AUDIO_EXTENSIONS = {".wav", ".flac", ".mp3", ".m4a", ".ogg", ".opus"}
#: Extensions of video containers avremix reads and writes.
VIDEO_EXTENSIONS = {".mp4", ".mkv", ".mov", ".webm", ".m4v", ".ts", ".m2ts", ".mts"}  # the last three: MPEG transport streams (broadcast captures, AVCHD)


@dataclass(frozen=True)
class StreamInfo:
    """One stream of a container, as far as avremix cares."""

    index: int  # index in the container (ffmpeg's 0:N)
    type: str  # "audio" | "video" | "subtitle" | "attachment" | "data"
    codec: str | None
    language: str | None = None
    title: str | None = None
    default: bool = False
    duration: float | None = None  # seconds, when the container says
    start: float | None = None  # first timestamp of the stream (seconds, container clock), when the container says
    end: float | None = None  # where the container says the stream ends (seconds, container clock)
    # audio
    sample_rate: int | None = None
    channels: int | None = None
    layout: str | None = None  # ffmpeg channel layout name, e.g. "stereo", "5.1(side)"
    sample_format: str | None = None  # e.g. "fltp", "s16", "s32"
    bit_rate: int | None = None
    # video
    fps: float | None = None
    width: int | None = None
    height: int | None = None
    attached_pic: bool = False  # cover art, not a moving picture


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` finds in a file."""

    path: str
    container: str  # ffmpeg demuxer name, e.g. "matroska,webm"
    duration: float | None  # seconds
    streams: list[StreamInfo] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)
    chapters: int = 0
    start_time: float = 0.0  # first timestamp of the container, seconds (ffmpeg shifts it to 0 when remuxing)

    @property
    def audio_streams(self) -> list[StreamInfo]:
        return [s for s in self.streams if s.type == "audio"]

    @property
    def video_streams(self) -> list[StreamInfo]:
        """Moving-picture video streams (cover art excluded)."""
        return [s for s in self.streams if s.type == "video" and not s.attached_pic]

    @property
    def has_video(self) -> bool:
        return bool(self.video_streams)

    def audio_stream(self, n: int | None = None) -> StreamInfo:
        """The audio stream to process: the ``n``-th audio stream (0-based, like ffmpeg's ``a:N``), or by
        default the stream flagged default, else the first one."""
        audio = self.audio_streams
        if not audio:
            raise MediaError("has no audio stream", self.path)
        if n is None:
            return next((s for s in audio if s.default), audio[0])
        if not 0 <= n < len(audio):
            raise MediaError(
                f"has {len(audio)} audio stream(s); --audio-stream {n} does not exist "
                f"(use 0..{len(audio) - 1})",
                self.path,
            )
        return audio[n]


def open_container(path: str | os.PathLike) -> av.container.InputContainer:
    """Open ``path`` with PyAV, turning its errors into one-line :class:`MediaError` s."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise MediaError("no such file", path)
    if os.path.isdir(path):
        raise MediaError("is a folder, not a media file", path)
    try:
        return av.open(path, metadata_errors="ignore")
    except av.error.PermissionError:
        raise MediaError("permission denied", path) from None
    except (av.error.InvalidDataError, av.error.EOFError, av.error.DemuxerNotFoundError):
        raise MediaError("is not a media file ffmpeg can read (unknown format or damaged header)", path) from None
    except av.error.FFmpegError as e:
        raise MediaError(f"cannot be opened: {e.strerror or e}", path) from None


def _fps(stream) -> float | None:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    return float(rate) if rate else None


def _parse_clock(text: str) -> float | None:
    try:
        h, m, sec = text.split(":")
        return int(h) * 3600 + int(m) * 60 + float(sec)
    except ValueError:
        return None


def _codec_name(stream) -> str | None:
    """The codec (e.g. ``mp3``), not the decoder that reads it (``mp3float``)."""
    cc = stream.codec_context
    if cc is None:
        return None
    return getattr(cc.codec, "canonical_name", None) or cc.name


def _stream_info(stream) -> StreamInfo:
    meta = {k.lower(): v for k, v in stream.metadata.items()}
    duration = end = None
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None and stream.time_base is not None else None
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
        end = (start or 0.0) + duration
    elif "duration" in meta:  # Matroska keeps per-stream lengths as a tag, e.g. "00:00:05.000000000"
        # ffmpeg's muxer writes the stream's end time there (5.5 for audio from 1.5 to 5.5 s); read as the
        # end, it never calls a stream that starts late short
        duration = end = _parse_clock(meta["duration"])
    disposition = int(stream.disposition)
    common = dict(
        index=stream.index,
        type=stream.type,
        codec=_codec_name(stream),
        language=meta.get("language"),
        title=meta.get("title"),
        default=bool(disposition & int(av.stream.Disposition.default)),
        duration=duration,
        start=start,
        end=end,
    )
    if stream.type == "audio":
        cc = stream.codec_context
        return StreamInfo(
            **common,
            sample_rate=cc.sample_rate or None,
            channels=cc.layout.nb_channels or None,
            layout=cc.layout.name,
            sample_format=cc.format.name if cc.format is not None else None,
            bit_rate=stream.bit_rate or cc.bit_rate or None,
        )
    if stream.type == "video":
        return StreamInfo(
            **common,
            fps=_fps(stream),
            width=stream.codec_context.width or None,
            height=stream.codec_context.height or None,
            attached_pic=bool(disposition & int(av.stream.Disposition.attached_pic)),
        )
    return StreamInfo(**common)


def probe(path: str | os.PathLike) -> MediaInfo:
    """Describe the container and streams of ``path``.

    Raises :class:`MediaError` for a missing file, a file that is not media, or a damaged header.
    """
    with open_container(path) as container:
        streams = [_stream_info(s) for s in container.streams]
        if not streams:
            raise MediaError("contains no streams", path)
        duration = container.duration / av.time_base if container.duration else None
        if duration is None:
            known = [s.duration for s in streams if s.duration]
            duration = max(known) if known else None
        try:
            chapters = len(container.chapters())
        except (AttributeError, av.error.FFmpegError):  # older PyAV
            chapters = 0
        return MediaInfo(
            path=os.fspath(path),
            container=container.format.name,
            duration=duration,
            streams=streams,
            metadata=dict(container.metadata),
            chapters=chapters,
            start_time=container.start_time / av.time_base if container.start_time is not None else 0.0,
        )


def is_audio_only_path(path: str | os.PathLike) -> bool:
    """Whether ``path``'s extension names an audio-only container."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS
