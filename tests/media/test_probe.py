import pytest

from avremix.errors import MediaError
from avremix.media import probe
from avremix.samples import make_clip

CASES = [
    # extension, kwargs, expected container substring, expected audio codec
    (".mp4", {}, "mp4", "aac"),
    (".mkv", {"extra_audio": True, "subtitles": True}, "matroska", "flac"),
    (".mov", {"channels": 6}, "mov", "aac"),
    (".webm", {"size": (64, 48)}, "webm", "opus"),
    (".wav", {"video": False, "channels": 1}, "wav", "pcm_s16le"),
    (".flac", {"video": False, "sample_rate": 44100}, "flac", "flac"),
    (".mp3", {"video": False}, "mp3", "mp3"),
    (".m4a", {"video": False}, "mp4", "aac"),
]


@pytest.mark.parametrize("ext,kwargs,container,codec", CASES, ids=[c[0] for c in CASES])
def test_probe_each_container(tmp_path, ext, kwargs, container, codec):
    path = make_clip(tmp_path / f"x{ext}", duration=2, **kwargs)
    info = probe(path)
    assert container in info.container
    assert info.duration == pytest.approx(2.0, abs=0.1)
    a = info.audio_stream()
    assert a.codec == codec
    assert a.sample_rate == kwargs.get("sample_rate", 48000)
    assert a.channels == kwargs.get("channels", 2)
    if ext not in (".wav", ".flac", ".mp3"):  # these containers keep no per-stream tags
        assert a.language == "eng"
    assert info.has_video == kwargs.get("video", True)
    if info.has_video:
        v = info.video_streams[0]
        assert v.fps == pytest.approx(25)
        assert (v.width, v.height) == kwargs.get("size", (320, 240))
    if kwargs.get("extra_audio"):
        assert [s.language for s in info.audio_streams] == ["eng", "fra"]
        assert info.audio_streams[1].title == "Commentary"
        assert [s.type for s in info.streams] == ["video", "audio", "audio", "subtitle"]


def test_audio_stream_selection(mkv_flac):
    info = probe(mkv_flac)
    assert info.audio_stream().index == 1  # the default-flagged one
    assert info.audio_stream(1).index == 2
    with pytest.raises(MediaError, match="--audio-stream 5 does not exist"):
        info.audio_stream(5)


def test_probe_errors_name_the_file(tmp_path):
    with pytest.raises(MediaError, match="no such file") as e:
        probe(tmp_path / "missing.mp4")
    assert "missing.mp4" in str(e.value)
    junk = tmp_path / "notes.mp4"
    junk.write_text("this is not a video\n" * 50)
    with pytest.raises(MediaError, match="not a media file"):
        probe(junk)
    silent = make_clip(tmp_path / "silent.mp4", duration=1)
    assert probe(silent).audio_streams
