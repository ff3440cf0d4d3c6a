"""Writing media: audio files, and remuxing a container with one audio stream replaced.

Both go through one ffmpeg process fed raw float32 audio on its standard input, so new audio is encoded
and muxed while it is produced (nothing grows with the media's length). When a source container is
given, every one of its streams is mapped in order and copied without re-encoding (video, other audio
tracks, subtitles, attachments), except the replaced audio stream, which is encoded from the pipe;
global and stream metadata, dispositions and chapters are kept.

The output is written to a hidden temporary file in the output's folder and renamed over the output only
when ffmpeg succeeded, so a failed or interrupted run leaves nothing at the output path.
"""

from __future__ import annotations

import os
import queue
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from avremix.atomic import publish
from avremix.errors import MediaError, UsageError, signal_name
from avremix.media.ffmpeg import ffmpeg_exe
from avremix.media.probe import AUDIO_EXTENSIONS, VIDEO_EXTENSIONS, MediaInfo, StreamInfo

#: Codecs whose decoded samples an encoder of the same codec reproduces exactly.
LOSSLESS_CODECS = {"flac", "alac", "wavpack", "tta", "truehd", "mlp"} | {
    f"pcm_{s}" for s in ("s16le", "s16be", "s24le", "s24be", "s32le", "s32be", "f32le", "f32be", "f64le", "u8", "s8")
}
# Codecs we re-encode with the same encoder when the input used them (lossy, but keeps the user's choice).
_SAME_CODEC_ENCODERS = {"aac": "aac", "opus": "libopus", "vorbis": "libvorbis", "mp3": "libmp3lame", "ac3": "ac3", "eac3": "eac3", "mp2": "mp2"}
_TS_CODECS = {"aac", "mp2", "mp3", "ac3", "eac3"}  # what MPEG-TS players expect
COVER_ART_EXTENSIONS = {".mp3", ".m4a", ".flac"}  # audio files that carry a cover picture, kept from the source
_LOSSLESS_ENCODERS = {"truehd": "flac", "mlp": "flac", "wavpack": "flac", "tta": "flac"}  # no encoder in ffmpeg: FLAC keeps it lossless


@dataclass(frozen=True)
class AudioCodec:
    """An ffmpeg audio encoder and its options."""

    encoder: str
    options: tuple[str, ...] = ()  # name/value pairs without stream specifier, e.g. ("-b", "192k")

    @property
    def lossless(self) -> bool:
        return self.encoder in LOSSLESS_CODECS


def _bitrate(stream: StreamInfo | None, channels: int) -> str:
    """The input's bit rate, at least 96 kb/s per channel (a re-encode needs headroom), at most 320 kb/s per channel."""
    rate = max((stream.bit_rate or 0) if stream is not None else 0, 96_000 * channels)
    return f"{min(rate, 320_000 * channels) // 1000}k"


def _pcm_for(stream: StreamInfo | None) -> str:
    fmt = (stream.sample_format if stream else None) or "s16"
    return {"s16": "pcm_s16le", "s16p": "pcm_s16le", "s32": "pcm_s24le", "s32p": "pcm_s24le", "flt": "pcm_f32le", "fltp": "pcm_f32le"}.get(fmt, "pcm_s16le")


def _flac_for(stream: StreamInfo | None) -> AudioCodec:
    fmt = (stream.sample_format if stream else None) or "s16"
    # FLAC carries 16 or 24 bits; 32-bit and float sources are stored at 24 bits
    return AudioCodec("flac", ("-sample_fmt", "s16" if fmt in ("s16", "s16p", "u8", "u8p") else "s32"))


def choose_audio_codec(output: str | os.PathLike, source: StreamInfo | None, channels: int) -> AudioCodec:
    """Encoder for the new audio in ``output``, chosen by the output container and the source stream.

    - lossless source codec: the same codec where the container holds it (bit-exact round trips);
    - ``.mp4/.m4v/.mov/.m4a``: AAC (ALAC/FLAC/PCM kept when the source was lossless);
    - ``.mkv``: the source's codec when ffmpeg can encode it, else AAC;
    - ``.webm``: Opus (Vorbis when the source was Vorbis);
    - ``.ts/.m2ts/.mts``: the source's codec when it is MP2, AAC, MP3, AC-3 or E-AC-3, else AAC;
    - ``.wav``: PCM at the source's bit depth; ``.flac``: FLAC; ``.mp3``: MP3; ``.ogg/.opus``: Opus.
    """
    ext = Path(output).suffix.lower()
    codec = source.codec if source else None
    if ext == ".wav":
        return AudioCodec(codec if codec and codec.startswith("pcm_") else _pcm_for(source))
    if ext == ".flac":
        return _flac_for(source)
    if ext == ".mp3":
        return AudioCodec("libmp3lame", ("-b", "320k" if channels <= 2 else _bitrate(source, channels)))
    if ext in (".ogg", ".opus"):
        return AudioCodec("libopus", ("-b", _bitrate(source, channels)))
    if ext == ".webm":
        if codec == "vorbis":
            return AudioCodec("libvorbis", ("-b", _bitrate(source, channels)))
        return AudioCodec("libopus", ("-b", _bitrate(source, channels)))
    if ext in (".ts", ".m2ts", ".mts"):  # broadcast: the source's codec when TS carries it (MP2, AAC, AC-3), else AAC
        encoder = _SAME_CODEC_ENCODERS[codec] if codec in _TS_CODECS else "aac"
        return AudioCodec(encoder, ("-b", _bitrate(source, channels)))
    if ext == ".m4a":  # the iPod/M4A muxer holds AAC and ALAC
        return AudioCodec("alac") if codec in LOSSLESS_CODECS else AudioCodec("aac", ("-b", _bitrate(source, channels)))
    if codec in LOSSLESS_CODECS:
        if codec == "flac" or codec in _LOSSLESS_ENCODERS:
            return _flac_for(source)
        if codec == "alac" or ext == ".mkv" or ext == ".mov":
            return AudioCodec(codec)
        return AudioCodec("alac")  # pcm in .mp4/.m4a: ALAC is lossless and plays everywhere mp4 does
    if ext == ".mkv" and codec in _SAME_CODEC_ENCODERS:
        return AudioCodec(_SAME_CODEC_ENCODERS[codec], ("-b", _bitrate(source, channels)))
    return AudioCodec("aac", ("-b", _bitrate(source, channels)))


def check_output_path(input_path: str | os.PathLike | None, output: str | os.PathLike, overwrite: bool = False) -> None:
    """Refuse to write over the input, into a missing folder, or over an existing file without ``overwrite``."""
    out = Path(output)
    if out.suffix.lower() not in AUDIO_EXTENSIONS | VIDEO_EXTENSIONS:
        known = " ".join(sorted(AUDIO_EXTENSIONS | VIDEO_EXTENSIONS))
        raise UsageError(f"unsupported output extension {out.suffix or '(none)'!r}; use one of {known}", out)
    if input_path is not None and os.path.exists(input_path):
        same = out.exists() and os.path.samefile(out, input_path)
        if same or out.resolve() == Path(input_path).resolve():
            raise UsageError("output path is the input file; choose another output (avremix never writes over its input)", out)
    if out.is_dir():
        raise UsageError("output path is a folder; give a file name", out)
    if out.exists() and not overwrite:
        raise UsageError("output exists; pass --overwrite to replace it", out)
    if not out.parent.exists():
        raise UsageError(f"output folder {out.parent} does not exist", out)


class MediaWriter:
    """Encode float32 audio blocks ``[C, n]`` into ``output``, optionally remuxed into ``source``'s container.

    Use as a context manager: on a clean exit the file is finalised and renamed into place; on an
    exception the ffmpeg process is stopped and the temporary file removed.

    Blocks go to ffmpeg's stdin from a feeder thread, up to ``QUEUE`` blocks behind :meth:`write`, so
    the caller (the model) goes on while ffmpeg encodes; a failure of ffmpeg is raised by the next
    ``write`` or by ``close``.

    Args:
        output: file to write (its extension picks the container).
        sample_rate, channels, layout: format of the blocks passed to :meth:`write`.
        source: probed source container. Given, all its streams are kept and ``replace`` is substituted;
            without it (or for an audio-only ``output``), only the new audio is written.
        replace: the source audio stream whose place the new audio takes.
        offset: seconds by which the new audio starts after the source's first timestamp (keeps sync).
    """

    def __init__(
        self,
        output: str | os.PathLike,
        sample_rate: int,
        channels: int,
        layout: str | None = None,
        source: MediaInfo | None = None,
        replace: StreamInfo | None = None,
        offset: float = 0.0,
        codec: AudioCodec | None = None,
    ):
        self.output = Path(output)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.layout = layout or {1: "mono", 2: "stereo", 6: "5.1"}.get(self.channels, f"{self.channels}c")
        self.source = source
        self.replace = replace
        self.offset = float(offset)
        self.codec = codec or choose_audio_codec(self.output, replace, self.channels)
        self.samples_written = 0
        self._proc: subprocess.Popen | None = None
        self._tmp: str | None = None
        self._log = None
        self._queue: queue.Queue | None = None
        self._feeder: threading.Thread | None = None
        self._broken = False  # the feeder found the pipe closed: ffmpeg stopped

    QUEUE = 4  # blocks waiting for ffmpeg (10 s blocks of 48 kHz stereo: 15 MB)

    # -- command line -------------------------------------------------------------------------------
    def _stream_maps(self) -> tuple[list[str], int]:
        """``-map`` arguments keeping the source's stream order; returns them and the new audio's output index."""
        audio_only_output = self.output.suffix.lower() in AUDIO_EXTENSIONS
        if self.source is None or audio_only_output:
            args = ["-map", "1:a:0" if self.source is not None else "0:a:0"]
            if self.source is not None and self.output.suffix.lower() in COVER_ART_EXTENSIONS:  # cover art stays
                for cover in (s for s in self.source.streams if s.attached_pic):
                    args += ["-map", f"0:{cover.index}", "-c:v", "copy", "-disposition:v", "attached_pic"]
            return args, 0
        args: list[str] = []
        new_index = -1
        for out_index, s in enumerate(self.source.streams):
            replaced = self.replace is not None and s.index == self.replace.index
            args += ["-map", "1:a:0" if replaced else f"0:{s.index}"]
            # stream metadata (language, title...) of the source stream in the same place, the new audio's too
            args += [f"-map_metadata:s:{out_index}", f"0:s:{s.index}"]
            if replaced:
                new_index = out_index
        if new_index < 0:  # source has no stream to replace: add the new audio after the others
            args += ["-map", "1:a:0"]
            new_index = len(self.source.streams)
        return args, new_index

    def _subtitle_conversions(self) -> list[str]:
        """Text subtitles the output container cannot hold as they are: mov_text in mp4/mov, WebVTT in webm."""
        target = {".mp4": "mov_text", ".m4v": "mov_text", ".mov": "mov_text", ".webm": "webvtt"}.get(self.output.suffix.lower())
        if target is None or self.source is None:
            return []
        args = []
        for out_index, s in enumerate(self.source.streams):
            if s.type == "subtitle" and s.codec != target:
                args += [f"-c:{out_index}", target]
        return args

    def command(self, tmp_path: str) -> list[str]:
        raw = ["-f", "f32le", "-sample_rate", str(self.sample_rate), "-ch_layout", self.layout]
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y"]
        if self.source is not None:
            cmd += ["-i", self.source.path]
        cmd += [*raw, "-i", "pipe:0"]
        maps, k = self._stream_maps()
        cmd += maps
        if self.source is not None:
            cmd += ["-map_metadata", "0"]
            if self.replace is not None and self.output.suffix.lower() in AUDIO_EXTENSIONS:
                cmd += ["-map_metadata:s:0", f"0:s:{self.replace.index}"]
            if self.output.suffix.lower() not in AUDIO_EXTENSIONS:
                cmd += ["-c", "copy", "-map_chapters", "0"]
                if self.replace is not None:
                    cmd += [f"-disposition:{k}", "default" if self.replace.default else "0"]
                cmd += self._subtitle_conversions()
        if self.offset and self.output.suffix.lower() not in AUDIO_EXTENSIONS:
            # the new audio starts where the source's did (audio that starts after the picture); -itsoffset
            # on a raw input that is encoded is not applied by ffmpeg 7-9, a timestamp filter is
            cmd += [f"-filter:{k}", f"asetpts=PTS+{self.offset:.6f}/TB"]
        cmd += [f"-c:{k}", self.codec.encoder]
        for name, value in zip(self.codec.options[::2], self.codec.options[1::2]):
            cmd += [f"{name}:{k}", value]  # per-stream option, e.g. -b:1 192k
        cmd += ["-f", _muxer_for(self.output), tmp_path]
        return cmd

    # -- lifecycle ------------------------------------------------------------------------------------
    def __enter__(self) -> "MediaWriter":
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.output.stem}.", suffix=f".part{self.output.suffix}", dir=self.output.parent)
        os.close(fd)
        self._log = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(self.command(self._tmp), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._log)
        self._queue, self._broken = queue.Queue(maxsize=self.QUEUE), False
        self._feeder = threading.Thread(target=self._feed, name="avremix-writer", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        """The feeder thread: queued bytes → ffmpeg's stdin, until ``None``; stops at a closed pipe."""
        assert self._queue is not None and self._proc is not None and self._proc.stdin is not None
        while True:
            data = self._queue.get()
            if data is None:
                return
            if self._broken:
                continue  # drain: the caller learns of it at its next write
            try:
                self._proc.stdin.write(data)
            except (BrokenPipeError, ValueError, OSError):  # ffmpeg exited (or was killed by abort)
                self._broken = True

    def _put(self, item) -> None:
        assert self._queue is not None and self._feeder is not None
        while True:
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                if not self._feeder.is_alive():
                    return

    def _stop_feeder(self) -> None:
        if self._feeder is not None:
            self._put(None)
            self._feeder.join()
            self._feeder = None

    def _raise_broken(self) -> None:
        self._stop_feeder()
        self._proc.wait()
        message = _explain(self._ffmpeg_error())
        self._cleanup()  # no partial file, whether write or close found it
        raise MediaError(f"ffmpeg stopped while writing: {message}", self.output) from None

    def write(self, block: np.ndarray) -> None:
        """Append float32 audio ``[C, n]`` (C = ``channels``)."""
        if block.ndim != 2 or block.shape[0] != self.channels:
            raise ValueError(f"expected [{self.channels}, n] audio, got {tuple(block.shape)}")
        assert self._proc is not None and self._proc.stdin is not None and self._feeder is not None, "writer is not open"
        if self._broken:
            self._raise_broken()
        self._put(np.ascontiguousarray(block.T, dtype="<f4").tobytes())  # [n, C] interleaved
        self.samples_written += block.shape[1]

    def close(self) -> None:
        assert self._proc is not None and self._proc.stdin is not None, "writer is not open"
        self._stop_feeder()
        if self._broken:
            self._raise_broken()
        try:
            self._proc.stdin.close()
        except BrokenPipeError:
            pass
        rc = self._proc.wait()
        if rc != 0:
            message = self._ffmpeg_error()
            self._cleanup()
            raise MediaError(f"ffmpeg could not write the output: {_explain(message)}", self.output)
        publish(self._tmp, self.output)
        self._tmp = None
        self._cleanup()

    def abort(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        self._stop_feeder()  # its pending writes fail on the dead pipe; it drains and stops
        self._cleanup()

    def _cleanup(self) -> None:
        if self._proc is not None and self._proc.stdin is not None and not self._proc.stdin.closed:
            try:
                self._proc.stdin.close()
            except BrokenPipeError:
                pass
        if self._tmp is not None and os.path.exists(self._tmp):
            os.unlink(self._tmp)
        self._tmp = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def _ffmpeg_error(self) -> str:
        import signal

        if self._proc is not None and self._proc.returncode == -signal.SIGXFSZ:  # killed at the file-size limit
            return "File too large"
        if self._proc is not None and self._proc.returncode is not None and self._proc.returncode < 0:  # the encoder crashed
            return f"the encoder crashed ({signal_name(self._proc.returncode)})"
        if self._log is None:
            return "unknown error"
        self._log.seek(0)
        lines = [ln.strip() for ln in self._log.read().decode(errors="replace").splitlines() if ln.strip()]
        return lines[0] if lines else "unknown error"  # ffmpeg's first complaint names the cause


def _explain(message: str) -> str:
    """ffmpeg's complaint, with what to do where the cause is the disk."""
    low = message.lower()
    if "no space left" in low or "disk quota" in low:
        return f"{message} (the disk is full; free some space and rerun with --skip-existing)"
    if "file too large" in low:
        return f"{message} (the output exceeds the file-size limit: ulimit -f, or the file system's)"
    return message


def _muxer_for(path: Path) -> str:
    return {
        ".mp4": "mp4", ".m4v": "mp4", ".m4a": "ipod", ".mov": "mov", ".mkv": "matroska", ".webm": "webm",
        ".wav": "wav", ".flac": "flac", ".mp3": "mp3", ".ogg": "ogg", ".opus": "opus", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts",
    }[path.suffix.lower()]


def mux_tracks(source: MediaInfo, processed: StreamInfo | None, tracks: list[tuple[Path, str]], output: Path,
               offset: float = 0.0) -> None:
    """Every stream of ``source`` copied as it is, plus one audio track per ``(file, title)`` after them,
    with the language of the ``processed`` stream, into the Matroska file ``output`` (written in place:
    callers pass a temporary path). Subtitles Matroska cannot hold as they are (mov_text) become SRT."""
    n = len(source.streams)
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-i", source.path]
    for path, _ in tracks:
        cmd += (["-itsoffset", f"{offset:.6f}"] if offset else []) + ["-i", str(path)]
    cmd += ["-map", "0", *(a for k in range(len(tracks)) for a in ("-map", f"{k + 1}:a:0"))]
    cmd += ["-map_metadata", "0", "-map_chapters", "0", "-c", "copy"]
    for s in source.streams:
        if s.type == "subtitle" and s.codec == "mov_text":
            cmd += [f"-c:{s.index}", "srt"]
    language = (processed.language if processed is not None else None) or "und"
    for k, (_, title) in enumerate(tracks):
        cmd += [f"-metadata:s:{n + k}", f"title={title}", f"-metadata:s:{n + k}", f"language={language}", f"-disposition:{n + k}", "0"]
    cmd += ["-f", "matroska", str(output)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        raise MediaError(f"ffmpeg could not mux the stems: {lines[0] if lines else proc.returncode}", source.path)


def write_audio(path: str | os.PathLike, audio: np.ndarray, sample_rate: int, codec: AudioCodec | None = None) -> None:
    """Write float32 ``[C, T]`` audio to an audio file (wav/flac/mp3/m4a/ogg), atomically."""
    with MediaWriter(path, sample_rate, audio.shape[0], codec=codec) as w:
        w.write(audio)


def encode_video(
    path: str | os.PathLike,
    frames: Iterable[np.ndarray],
    fps: float,
    size: tuple[int, int],
    audio: np.ndarray | None = None,
    sample_rate: int | None = None,
) -> None:
    """Encode RGB frames ``[H, W, 3]`` (H.264, yuv420p) with optional audio ``[C, T]`` (AAC) into an mp4,
    streaming the frames through ffmpeg's stdin; written to a temporary file and renamed when complete."""
    out = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=f".part{out.suffix}", dir=out.parent)
    os.close(fd)
    audio_tmp = None
    cmd = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y",
           "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{size[0]}x{size[1]}", "-r", f"{fps}", "-i", "pipe:0"]
    try:
        if audio is not None:
            fd, audio_tmp = tempfile.mkstemp(suffix=".f32", dir=out.parent)
            with os.fdopen(fd, "wb") as f:
                f.write(np.ascontiguousarray(np.atleast_2d(audio).T, dtype="<f4").tobytes())
            channels = np.atleast_2d(audio).shape[0]
            cmd += ["-f", "f32le", "-sample_rate", str(sample_rate), "-ch_layout", {1: "mono", 2: "stereo"}.get(channels, f"{channels}c"), "-i", audio_tmp]
            cmd += ["-c:a", "aac", "-b:a", f"{64 * channels}k"]
        cmd += ["-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p", "-f", "mp4", tmp]
        with tempfile.TemporaryFile() as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=log)
            try:
                for frame in frames:
                    proc.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
            except BrokenPipeError:
                pass
            finally:
                proc.stdin.close()
            if proc.wait() != 0:
                log.seek(0)
                first = (log.read().decode(errors="replace").strip().splitlines() or ["unknown error"])[0]
                raise MediaError(f"ffmpeg could not encode the video: {first}", out)
        publish(tmp, out)
    finally:
        for p in (tmp, audio_tmp):
            if p is not None and os.path.exists(p):
                os.unlink(p)
