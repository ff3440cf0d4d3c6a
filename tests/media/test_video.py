import subprocess

import numpy as np
import pytest

from avremix.media import FrameSampler
from avremix.media.ffmpeg import ffmpeg_exe


@pytest.fixture(scope="module")
def counter_video(tmp_path_factory):
    """25 fps video whose frame n has brightness 8 * n (mod 256), losslessly coded, plus audio."""
    path = tmp_path_factory.mktemp("v") / "counter.mkv"
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=black:size=64x48:rate=25,format=gbrp,geq=r='mod(8*N,256)':g='mod(8*N,256)':b='mod(8*N,256)'",
         "-f", "lavfi", "-i", "sine=sample_rate=48000", "-t", "4", "-c:v", "ffv1", "-c:a", "flac", str(path)],
        check=True,
    )
    return path


def test_frames_at_fixed_fps_are_the_ones_on_screen(counter_video):
    frames = list(FrameSampler(counter_video, fps=5, size=(32, 24)))
    assert len(frames) == 20  # 4 s at 5 fps
    assert frames[0].shape == (24, 32, 3) and frames[0].dtype == np.uint8
    brightness = [int(round(f.mean())) for f in frames]
    # frame k at t = k / 5 s is source frame 5k
    assert brightness == [(8 * 5 * k) % 256 for k in range(20)]


def test_frame_count_follows_the_audio_when_asked(counter_video):
    frames = list(FrameSampler(counter_video, fps=10, size=(16, 16), n_frames=45))
    assert len(frames) == 45  # the last picture is held past the end of the video
    np.testing.assert_array_equal(frames[-1], frames[40])


def test_start_offset_shifts_the_frames(counter_video):
    frames = list(FrameSampler(counter_video, fps=5, size=(16, 16), start=1.0, n_frames=5))
    assert [int(round(f.mean())) for f in frames] == [(8 * (25 + 5 * k)) % 256 for k in range(5)]
