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


@pytest.fixture(scope="module")
def bframe_video(tmp_path_factory):
    """The counter as H.264 High with B-frames (non-reference pictures among them), as films are coded."""
    path = tmp_path_factory.mktemp("v") / "counter_b.mp4"
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=black:size=64x48:rate=25,format=yuv420p,geq=lum='mod(8*N,256)':cb=128:cr=128",
         "-t", "4", "-c:v", "libx264", "-preset", "medium", "-bf", "3", "-b-pyramid", "none", "-profile:v", "high", str(path)],
        check=True,
    )
    return path


@pytest.mark.parametrize("fps, start, n_frames", [(10, 0.0, None), (12.5, 0.37, None), (5, 1.0, 7)])
def test_skipping_unshown_pictures_yields_the_same_frames(bframe_video, fps, start, n_frames):
    """Non-reference pictures that no target time shows are not decoded; the frames are those of a full decode."""
    skipping = FrameSampler(bframe_video, fps=fps, size=(16, 16), start=start, n_frames=n_frames)
    full = FrameSampler(bframe_video, fps=fps, size=(16, 16), start=start, n_frames=n_frames)
    full._shown = lambda t, duration: True  # every picture decoded
    decoded = {"skipping": 0, "full": 0}

    def counted(sampler, key):
        pictures = sampler._pictures

        def wrapper():
            for item in pictures():
                decoded[key] += 1
                yield item
        sampler._pictures = wrapper

    counted(skipping, "skipping")
    counted(full, "full")
    a, b = np.stack(list(skipping)), np.stack(list(full))
    np.testing.assert_array_equal(a, b)
    assert len(a) == (n_frames or round(4 * fps))
    assert decoded["skipping"] < decoded["full"], decoded  # some B-frames were skipped


def _counter_h264(path, pyramid: str):
    subprocess.run(
        [ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "color=black:size=64x48:rate=25,format=yuv420p,geq=lum='16+2*N':cb=128:cr=128",
         "-t", "4", "-c:v", "libx264", "-preset", "medium", "-bf", "3", "-b-pyramid", pyramid, "-profile:v", "high", str(path)],
        check=True,
    )
    return path


def _decoding(sampler) -> list:
    """The frames of ``sampler`` and, appended once it is done, how many pictures it decoded."""
    count = [0]
    pictures = sampler._pictures

    def wrapper():
        for item in pictures():
            count[0] += 1
            yield item
    sampler._pictures = wrapper
    return [np.stack(list(sampler)), count[0]]


def _source_index(frames: np.ndarray, video, fps: float) -> np.ndarray:
    """Which 25 fps source picture each frame (at ``fps``) is, among the last four due by its time (the nearest in pixels)."""
    pictures = np.stack(list(FrameSampler(video, fps=25, size=(16, 16)))).astype(int)  # every picture, exactly
    index = []
    for k, frame in enumerate(frames.astype(int)):
        due = min(int(np.floor(k * 25 / fps + 1e-6)), len(pictures) - 1)
        candidates = list(range(max(0, due - 3), due + 1))
        index.append(candidates[int(np.argmin([np.abs(pictures[j] - frame).sum() for j in candidates]))])
    return np.asarray(index)


def test_nearest_reference_emits_the_exact_picture_or_the_one_before(tmp_path):
    video = _counter_h264(tmp_path / "pyramid.mp4", "normal")  # as x264 codes films: B-references, one B between
    exact, n_exact = _decoding(FrameSampler(video, fps=10, size=(16, 16)))
    near, n_near = _decoding(FrameSampler(video, fps=10, size=(16, 16), nearest_reference=True))
    assert len(near) == len(exact) == 40
    lag = _source_index(exact, video, 10) - _source_index(near, video, 10)
    assert set(lag.tolist()) <= {0, 1} and 0 < lag.sum() < len(lag)  # some frames one source frame earlier, none further
    assert n_near < n_exact, (n_near, n_exact)  # and fewer pictures decoded


def test_nearest_reference_falls_back_to_exact_frames_on_runs_of_non_reference_pictures(tmp_path):
    video = _counter_h264(tmp_path / "flat.mp4", "none")  # three non-reference B-frames in a row
    exact, _ = _decoding(FrameSampler(video, fps=10, size=(16, 16)))
    sampler = FrameSampler(video, fps=10, size=(16, 16), nearest_reference=True)
    near, _ = _decoding(sampler)
    lag = _source_index(exact, video, 10) - _source_index(near, video, 10)
    assert not sampler._nearest  # it noticed a picture more than a frame away and went back to exact frames
    assert lag.max() <= 2 and (lag[10:] == 0).all()  # within the first second, and exact from then on
