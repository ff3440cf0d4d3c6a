import numpy as np
import pytest

from avremix.errors import MediaError
from avremix.media import AudioDecoder, read_audio, write_audio
from avremix.samples import make_clip


def test_blocks_are_bounded_and_join_to_the_whole(mkv_flac):
    dec = AudioDecoder(mkv_flac, block_size=4096)
    blocks = list(dec)
    assert all(b.dtype == np.float32 and b.shape[0] == 2 for b in blocks)
    assert max(b.shape[1] for b in blocks) < 4096 + 8192  # one decoded frame past the block size at most
    whole, sr = read_audio(mkv_flac)
    assert sr == 48000 and whole.shape == (2, 6 * 48000)
    np.testing.assert_array_equal(np.concatenate(blocks, axis=1), whole)


def test_resampling_while_decoding(mkv_flac):
    x, sr = read_audio(mkv_flac, sample_rate=16000)
    assert sr == 16000 and x.shape == (2, 6 * 16000)
    # channel 0 is a 440 Hz tone: its spectrum peak survives resampling
    spectrum = np.abs(np.fft.rfft(x[0, :16000]))
    assert abs(np.argmax(spectrum) - 440) <= 1


def test_second_audio_stream(mkv_flac):
    x, _ = read_audio(mkv_flac, audio_stream=1)
    assert x.shape[0] == 1  # the mono commentary track


@pytest.mark.parametrize("ext", [".flac", ".wav"])
def test_lossless_round_trip_is_bit_exact(tmp_path, ext):
    rng = np.random.default_rng(0)
    x = (rng.integers(-32768, 32767, size=(2, 48000)) / 32768).astype(np.float32)  # 16-bit values
    write_audio(tmp_path / f"a{ext}", x, 48000)
    y, sr = read_audio(tmp_path / f"a{ext}")
    assert sr == 48000
    np.testing.assert_array_equal(x, y)


def test_mp3_write(tmp_path):
    t = np.arange(48000) / 48000
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * 2).astype(np.float32)
    write_audio(tmp_path / "a.mp3", x, 48000)
    y, _ = read_audio(tmp_path / "a.mp3")
    assert y.shape[0] == 2 and abs(y.shape[1] - 48000) <= 1152 * 2
    assert np.abs(y).max() == pytest.approx(0.3, abs=0.03)


def test_truncated_file_is_an_error(tmp_path):
    path = make_clip(tmp_path / "full.mkv", duration=6)
    cut = tmp_path / "cut.mkv"
    data = path.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(MediaError, match="truncated"):
        list(AudioDecoder(cut))
