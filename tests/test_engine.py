"""The chunked streaming engine against whole-array references."""

import numpy as np
import pytest
import torch
import torchaudio.functional as AF

from avremix.engine import Engine, EngineConfig, NoiseField
from avremix.errors import UsageError

SR = 48000


class Identity(torch.nn.Module):
    def __init__(self, sample_rate=SR):
        super().__init__()
        self.sample_rate, self.fps, self.generative = sample_rate, None, False

    def forward(self, audio, visual=None, noise=None):
        return audio


class SmallConv(torch.nn.Module):
    """Three dilated convolutions: receptive field 1 + 2 * (8 + 16 + 32) * 3 = 337 samples."""

    receptive_field = 337

    def __init__(self, fps=None, generative=False):
        super().__init__()
        self.sample_rate, self.fps, self.generative = SR, fps, generative
        torch.manual_seed(0)
        layers = []
        for i, d in enumerate((8, 16, 32)):
            layers += [torch.nn.Conv1d(1 if i == 0 else 8, 8, 7, dilation=d, padding=3 * d), torch.nn.Tanh()]
        self.net = torch.nn.Sequential(*layers, torch.nn.Conv1d(8, 1, 1))

    def forward(self, audio, visual=None, noise=None):
        y = self.net(audio)  # [B, 1, T]
        if visual is not None:  # [B, F, D]: scale each frame's samples by that frame's mean feature
            gain = visual.float().mean(-1)[:, None, :]  # [B, 1, F]
            y = y * torch.nn.functional.interpolate(gain, size=audio.shape[-1], mode="nearest")
        if noise is not None:
            y = y + 0.1 * noise
        return y

    def whole(self, x: np.ndarray, frame: int = 1) -> np.ndarray:
        """Reference: the network over the whole track at once (no chunking), the track's end rounded
        up to a whole ``frame`` of samples with silence (the engine's last window ends on a video frame)."""
        pad = -x.shape[1] % frame
        with torch.no_grad():
            xt = torch.nn.functional.pad(torch.from_numpy(x)[:, None], (0, pad))
            return self.net(xt)[:, 0, : x.shape[1]].numpy()


def blocks(x, n):
    for i in range(0, x.shape[1], n):
        yield x[:, i : i + n]


@pytest.fixture
def audio():
    return (np.random.default_rng(0).standard_normal((2, 7 * SR + 123)) * 0.1).astype(np.float32)


def config(**kw):
    # fp32 unless a test asks: these tests check the engine's arithmetic, which bf16 would blur
    base = dict(segment=2.0, overlap=0.5, context=0.05, batch_size=3, device="cpu", precision="fp32")
    return EngineConfig(**{**base, **kw})


@pytest.mark.parametrize("block", [997, 48000, 10**7])
def test_identity_returns_its_input(audio, block):
    out = np.concatenate(list(Engine(Identity(), SR, config()).stream(blocks(audio, block))), axis=1)
    assert out.shape == audio.shape
    assert np.abs(out - audio).max() < 1e-6


@pytest.mark.parametrize("segment,overlap,batch", [(2.0, 0.5, 3), (1.0, 0.0, 1), (0.7, 0.6, 8)])
def test_chunked_equals_whole_when_context_covers_receptive_field(audio, segment, overlap, batch):
    model = SmallConv()
    cfg = config(segment=segment, overlap=overlap, batch_size=batch, context=model.receptive_field / SR)
    out = Engine(model, SR, cfg).process(audio)
    assert np.abs(out - model.whole(audio)).max() < 1e-5


def test_too_little_context_shows_at_chunk_edges(audio):
    model = SmallConv()
    out = Engine(model, SR, config(overlap=0.0, context=0.0)).process(audio)
    assert np.abs(out - model.whole(audio)).max() > 1e-3  # the comparison above is not vacuous


def test_clip_shorter_than_one_segment(audio):
    model = SmallConv()
    short = audio[:, :5000]
    out = Engine(model, SR, config(segment=10.0, context=0.01)).process(short)
    assert out.shape == short.shape
    assert np.abs(out - model.whole(short)).max() < 1e-5


def test_empty_input_gives_empty_output():
    assert list(Engine(Identity(), SR, config()).stream(iter([]))) == []


def test_surround_keeps_six_channels():
    x = np.random.default_rng(1).standard_normal((6, SR)).astype(np.float32)
    model = SmallConv()
    out = Engine(model, SR, config(context=0.01)).process(x)
    assert out.shape == (6, SR)
    assert np.abs(out - model.whole(x)).max() < 1e-5  # every channel processed as its own item


def test_visual_context_is_aligned_to_audio_time(audio):
    fps = 25
    model = SmallConv(fps=fps)
    n_frames = int(np.ceil(audio.shape[1] * fps / SR))
    feats = np.random.default_rng(2).random((n_frames, 4)).astype(np.float32)
    out = Engine(model, SR, config(context=0.04)).process(audio, feats)
    frame_of_sample = np.arange(audio.shape[1]) * fps // SR
    expected = model.whole(audio, SR // fps) * feats.mean(-1)[frame_of_sample]
    assert np.abs(out - expected).max() < 1e-5


def test_noise_is_drawn_once_per_track(audio):
    """Whatever the chunking, a generative model sees the same noise at the same position."""
    model = SmallConv(generative=True)
    outs = [Engine(model, SR, config(segment=s, overlap=o, context=0.01, seed=7)).process(audio) for s, o in [(2.0, 0.5), (0.9, 0.3)]]
    noise = NoiseField(7, SR).slice(0, audio.shape[1]).numpy()
    expected = model.whole(audio) + 0.1 * noise
    for out in outs:
        assert np.abs(out - expected).max() < 1e-5
    other_seed = Engine(model, SR, config(context=0.01, seed=8)).process(audio)
    assert np.abs(other_seed - expected).max() > 0.1


def test_noise_field_slices_agree():
    field = NoiseField(3, 1000)
    a = field.slice(-1500, 4000)
    b = NoiseField(3, 1000).slice(200, 700)
    torch.testing.assert_close(a[1700:2400], b)


def test_strength_blends_input_and_model(audio):
    model = SmallConv()
    cfg = config(context=0.01)
    out = Engine(model, SR, cfg, strength=0.25).process(audio)
    expected = 0.75 * audio + 0.25 * model.whole(audio)
    assert np.abs(out - expected).max() < 1e-5


class HalfGain(Identity):
    def forward(self, audio, visual=None, noise=None):
        return 0.5 * audio


def test_model_at_another_rate_is_resampled_per_chunk(audio):
    """A 16 kHz model on 48 kHz input: its output, resampled back, plus the band above 8 kHz at the gain the
    model gave 4-8 kHz (a model that halves everything halves the high band too); equal to the same
    computed on the whole array."""
    out = Engine(HalfGain(sample_rate=16000), SR, config(context=0.05)).process(audio)
    inner = slice(SR // 10, -SR // 10)  # away from the file's edges
    assert np.abs(out[:, inner] - 0.5 * audio[:, inner]).max() < 1e-3
    x = torch.from_numpy(audio)
    low = AF.resample(AF.resample(x, SR, 16000), 16000, SR)
    assert (x - low)[:, inner].abs().max() > 0.05  # the fixture has a band above 8 kHz to follow
    same = Engine(Identity(sample_rate=16000), SR, config(context=0.05)).process(audio)
    assert np.abs(same - audio).max() < 1e-5  # an identity model at any rate returns the input


class DuckSecondHalf(Identity):
    """Pulls everything it sees down by 12 dB in the second half of the clip."""

    def forward(self, audio, visual=None, noise=None):
        gain = torch.ones_like(audio)
        gain[..., audio.shape[-1] // 2 :] = 10 ** (-12 / 20)
        return audio * gain


def test_band_above_nyquist_follows_the_top_octave():
    t = np.arange(2 * SR) / SR
    audio = (0.1 * np.sin(2 * np.pi * 6000 * t) + 0.1 * np.sin(2 * np.pi * 12000 * t)).astype(np.float32)[None]
    out = Engine(DuckSecondHalf(sample_rate=16000), SR, config(segment=4.0, context=0.05)).process(audio)
    def high(z):  # mostly the 12 kHz tone
        return AF.highpass_biquad(torch.from_numpy(z), SR, 10000).numpy()[0]

    first, second = slice(SR // 4, 3 * SR // 4), slice(5 * SR // 4, 7 * SR // 4)
    level = lambda z: 20 * np.log10(np.sqrt(np.mean(z ** 2)))
    assert level(high(out)[first]) == pytest.approx(level(high(audio)[first]), abs=0.3)  # untouched
    assert level(high(out)[second]) - level(high(out)[first]) == pytest.approx(-12.0, abs=1.5)  # ducked with 4-8 kHz


def test_progress_is_counted_in_seconds(audio):
    seen = []
    list(Engine(Identity(), SR, config()).stream(blocks(audio, 10000), on_progress=seen.append))
    assert seen == sorted(seen) and seen[-1] == pytest.approx(audio.shape[1] / SR)


@pytest.mark.parametrize("kw,msg", [({"segment": 0}, "--segment"), ({"overlap": 3.0}, "--overlap"), ({"precision": "int4"}, "--precision"), ({"device": "tpu"}, "--device"),
                                    ({"batch_size": -1}, "--batch-size"), ({"channels": "mid-side"}, "--channels")])
def test_bad_settings_are_user_errors(kw, msg):
    with pytest.raises(UsageError, match=msg):
        Engine(Identity(), SR, config(**kw))


def test_batch_size_auto_is_one_chunk_on_the_cpu_and_gives_the_same_output(audio):
    model = SmallConv()
    auto = Engine(model, SR, config(batch_size=0, context=0.01, device="cpu"))
    assert auto.batch_size == 1  # the CPU runs small batches fastest
    three = Engine(model, SR, config(batch_size=3, context=0.01, device="cpu"))
    np.testing.assert_allclose(auto.process(audio), three.process(audio), atol=1e-6)


def test_bf16_on_the_cpu_matches_fp32_and_fp16_needs_cuda(audio):
    model = SmallConv()
    fp32 = Engine(model, SR, config(context=0.01, device="cpu")).process(audio)
    bf16 = Engine(model, SR, config(context=0.01, device="cpu", precision="bf16"))
    assert bf16.autocast == torch.bfloat16
    out = bf16.process(audio)
    assert out.dtype == fp32.dtype and 0 < np.abs(out - fp32).max() < 5e-2  # really ran in bf16, and close
    with pytest.raises(UsageError, match="fp16 needs a CUDA device"):
        Engine(model, SR, config(device="cpu", precision="fp16"))


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_takes_bf16_only_on_cpus_that_have_it(monkeypatch, native):
    import avremix.engine as engine

    monkeypatch.setattr(engine, "_CPU_BF16", native)
    auto = Engine(SmallConv(), SR, config(device="cpu", precision="auto"))
    assert auto.autocast == (torch.bfloat16 if native else None)
    assert Engine(SmallConv(), SR, config(device="cpu", precision="fp32")).autocast is None  # fp32 when asked, always
    monkeypatch.setattr(engine, "_CPU_BF16", None)  # and the probe of this machine answers without error
    assert isinstance(engine.cpu_has_bf16(), bool)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_autocast_matches_cpu(audio):  # runs on a GPU machine only
    model = SmallConv()
    cpu = Engine(model, SR, config(context=0.01)).process(audio)
    gpu = Engine(SmallConv(), SR, config(context=0.01, device="cuda", precision="bf16")).process(audio)
    assert np.abs(cpu - gpu).max() < 5e-2


class Recorder(Identity):
    """Identity that keeps every window it is given."""

    def __init__(self):
        super().__init__()
        self.seen: list[np.ndarray] = []

    def forward(self, audio, visual=None, noise=None):
        self.seen.extend(audio[:, 0].numpy())
        return audio


@pytest.mark.parametrize("seconds", [7.3, 2.5, 0.4])
def test_windows_stay_inside_the_track(seconds):
    """No window reaches past the track's start or end: the model never sees made-up silence, and a
    track shorter than one window is a single call on the whole track."""
    x = (1.0 + np.random.default_rng(3).random((1, round(seconds * SR)))).astype(np.float32)  # never 0
    model = Recorder()
    out = Engine(model, SR, config(segment=2.0, overlap=0.5, context=0.5, batch_size=2)).process(x)
    assert np.abs(out - x).max() < 1e-6
    assert all(w.min() >= 1.0 for w in model.seen)  # no padding anywhere
    if seconds < 3.0:  # 2 s segment + 2 x 0.5 s context
        assert len(model.seen) == 1 and len(model.seen[0]) == x.shape[1]
    else:
        assert {len(w) for w in model.seen} == {3 * SR}


@pytest.mark.parametrize("block", [997, 48000, 10**7])
def test_block_size_does_not_change_the_output(audio, block):
    model = SmallConv(fps=25, generative=True)
    feats = np.random.default_rng(2).random((int(np.ceil(audio.shape[1] * 25 / SR)), 4)).astype(np.float32)
    engine = lambda: Engine(model, SR, config(context=0.04, seed=1))  # noqa: E731
    reference = engine().process(audio, feats)
    streamed = np.concatenate(list(engine().stream(blocks(audio, block), list(feats))), axis=1)
    assert np.abs(streamed - reference).max() < 1e-6


class CountItems(SmallConv):
    """SmallConv that records how many items (channels) each forward pass sees."""

    def __init__(self):
        super().__init__()
        self.items = []

    def forward(self, audio, visual=None, noise=None):
        self.items.append(audio.shape[0])
        return super().forward(audio, visual, noise)


def test_linked_channels_run_the_model_once_on_their_mean(audio):
    """--channels linked: one item per chunk whatever the channel count; where the channels are equal (dual
    mono) each output channel is exactly the model's output on that mono signal."""
    mono = np.repeat(audio[:1], 2, axis=0)
    linked, plain = CountItems(), CountItems()
    out = Engine(linked, SR, config(channels="linked", batch_size=1)).process(mono)
    ref = Engine(plain, SR, config(batch_size=1)).process(mono)
    assert set(linked.items) == {1} and set(plain.items) == {2}
    assert np.abs(out - ref).max() < 1e-5
    assert np.abs(out[0] - out[1]).max() < 1e-6


@pytest.mark.parametrize("channels", [2, 6])
def test_linked_channels_follow_the_gain_the_model_gave_their_mean(audio, channels):
    """What differs between channels (side content, a hard-panned source) gets the gain the model gave the
    mean in that time-frequency bin: an identity model returns every channel, a model that ducks the second
    half by 12 dB ducks every channel's second half by 12 dB, side and panned content included."""
    rng = np.random.default_rng(1)
    x = np.concatenate([audio, (rng.standard_normal((channels - 2, audio.shape[1])) * 0.1).astype(np.float32)]) if channels > 2 else audio
    x[0] += 0.3 * np.sin(2 * np.pi * 440 * np.arange(x.shape[1]) / SR).astype(np.float32)  # a tone panned hard left
    same = Engine(Identity(), SR, config(channels="linked")).process(x)
    assert same.shape == x.shape and np.abs(same - x).max() < 1e-4
    out = Engine(DuckSecondHalf(), SR, config(channels="linked", segment=8.0, context=0.0)).process(x)
    n = x.shape[1]
    first, second = slice(n // 10, 4 * n // 10), slice(6 * n // 10, 9 * n // 10)
    for c in range(channels):
        assert np.abs(out[c, first] - x[c, first]).max() < 1e-3
        level = 20 * np.log10(np.sqrt(np.mean(out[c, second] ** 2)) / np.sqrt(np.mean(x[c, second] ** 2)))
        assert level == pytest.approx(-12.0, abs=0.2)


def test_separators_ignore_linking(audio):
    """A separator's stems must sum to each channel's own input: it always runs per channel."""
    class TwoStems(Identity):
        stems = ("a", "b")

        def forward(self, audio, visual=None, noise=None):
            return torch.cat([0.25 * audio, 0.75 * audio], dim=1)

    out = Engine(TwoStems(), SR, config(channels="linked")).process(audio)
    assert out.shape == (2, *audio.shape) and np.abs(out.sum(0) - audio).max() < 1e-5
    assert np.abs(out[0] - 0.25 * audio).max() < 1e-5


@pytest.mark.parametrize("n", [5, 300, 1500])
def test_linked_channels_on_clips_shorter_than_their_frame(n):
    x = (np.random.default_rng(2).standard_normal((2, n)) * 0.1).astype(np.float32)
    out = Engine(HalfGain(), SR, config(channels="linked")).process(x)
    assert out.shape == x.shape and np.abs(out - 0.5 * x).max() < 1e-4
