"""Media layer: probe, streaming audio decode, frame sampling, writing and remuxing."""

from avremix.media.audio import AudioDecoder, read_audio
from avremix.media.probe import MediaInfo, StreamInfo, probe
from avremix.media.video import FrameSampler
from avremix.media.writer import AudioCodec, MediaWriter, check_output_path, choose_audio_codec, write_audio

__all__ = [
    "AudioCodec", "AudioDecoder", "FrameSampler", "MediaInfo", "MediaWriter", "StreamInfo",
    "check_output_path", "choose_audio_codec", "probe", "read_audio", "write_audio",
]
