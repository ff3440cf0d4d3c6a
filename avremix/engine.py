"""The chunked streaming loop every avremix command shares.

Audio arrives as float32 blocks ``[C, n]`` at the file's native rate (any block size) and optionally with
per-frame visual context at the model's fps. The engine cuts the stream into fixed *segments* that
overlap by *overlap* seconds, gives each a *window* of *context* seconds of real neighbouring audio on
both sides, resamples the window to the model's rate, runs several windows per forward pass, resamples
back, crops the context away and crossfades neighbours with linear ramps (overlap-add divided by the
summed weights). Output blocks are yielded as soon as no later chunk can touch them, so memory is
bounded by a few segments, whatever the media's length.

Track edges: a window never reaches past the track. The first windows start at the track's start and
the last ones end at its end (rounded up to a whole video frame), shifted inwards, so the model never
sees made-up silence: a network trained on real crops treats a second of padding as a quiet scene and
remixes the audio next to it for it. A track shorter than one window is one call on the whole track.

Grid: segment, overlap and context are whole video frames of the model's fps (when the model takes
video), so each chunk starts on a frame boundary and gets exactly its frames' context.

Rates: a model working at a lower rate than the file's sees the band below its Nyquist frequency. The
band above it (input minus its resampling round trip) is added back with the gain the model gave the
top octave it sees, frame by frame (20 ms energies averaged over 100 ms, within ±24 dB; 4-8 kHz for a
16 kHz model): when a remix pulls the music down, its cymbals above 8 kHz go down with it, and where the
model leaves the audio alone the high band passes through unchanged.

Separators (models with ``stems``: ``[B, 1, T]`` → ``[B, K, T]``): the stems come back at the file's rate
and are made to sum to the input exactly (mixture consistency, per chunk, before the crossfade, so it
holds after it too): the residual ``x − Σ_k y_k`` — the band above the model's Nyquist frequency and
whatever the model's stems miss — is shared out with weights ``w_k`` that follow, frame by frame (20 ms,
averaged over 100 ms), each stem's share of the energy in the top octave the model sees (4-8 kHz for a
16 kHz model): hiss and sibilance go with the dialogue, cymbals with the music, the crack of a shot with
the effects. Blocks are ``[K, C, n]``.

Channels: every input channel is an item of the batch (the model sees mono audio); all channels of a
chunk get the same visual context and the same noise. Mono, stereo and 5.1 all keep their layout.
``channels="linked"`` (highlighters; separators always run per channel): the model runs once per chunk,
on the mean of the channels, and each channel's difference from that mean follows with the gain the model
gave the mean, bin by bin (:func:`linked_channels`): one remix for all channels, as a linked stereo
compressor does, so the stereo image cannot wander (a centred voice stays centred), and the model costs
what it costs on mono. Where the channels are equal the output is exactly the model's.

Generative models: the initial noise is a deterministic function of (seed, absolute position at the
model's rate), drawn in one-second blocks from seeded generators. It is the same noise a whole-track draw
would give whichever chunk asks for it, so overlapping chunks agree where they are blended, and it needs
no memory proportional to the track.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import torch
import torchaudio.functional as AF

from avremix.errors import UsageError


class ChunkModel(Protocol):
    """What the engine needs of a network (``torch.nn.Module`` subclasses satisfy it).

    ``model(audio [B, 1, T], visual=[B, F, ...] or None, noise=[B, 1, T] or None) -> [B, 1, T]``; a model with
    ``picture_optional = True`` also runs on audio alone (``visual=None``: an audio file, ``--no-video``); a separator
    (a ``stems`` attribute naming its K outputs) returns ``[B, K, T]``. A model with ``shared_visual = True``
    gets one picture per chunk, ``visual [B / C, F, ...]``, for the chunk's C channels (consecutive items).
    """

    sample_rate: int  # rate the network works at
    fps: float | None  # rate of the visual context it takes; None: audio only
    generative: bool  # whether it takes initial noise

    def __call__(self, audio: torch.Tensor, visual: torch.Tensor | None = None, noise: torch.Tensor | None = None) -> torch.Tensor: ...


@dataclass
class EngineConfig:
    segment: float = 10.0  # seconds of output each chunk produces
    overlap: float = 1.0  # seconds shared by neighbouring chunks, crossfaded
    context: float = 1.0  # seconds of real neighbouring audio the model also sees on each side (cropped away)
    batch_size: int = 0  # chunks per forward pass; 0: auto (1 on the CPU, where small batches run fastest, 8 on CUDA)
    device: str = "auto"  # "auto" (CUDA when available) | "cpu" | "cuda" | "cuda:N"
    precision: str = "auto"  # "auto" (bf16 on CUDA and on CPUs with native bf16, else fp32) | "fp32" | "bf16" (CUDA or CPU) | "fp16" (CUDA)
    seed: int = 0  # seed of the initial noise of generative models
    channels: str = "independent"  # a highlighter on 2+ channels: "independent" (one item per channel) | "linked" (see `Engine`)

    def validate(self) -> None:
        if self.segment <= 0:
            raise UsageError(f"--segment must be > 0 seconds, got {self.segment}")
        if not 0 <= self.overlap < self.segment:
            raise UsageError(f"--overlap must be in [0, segment) seconds, got {self.overlap} with segment {self.segment}")
        if self.context < 0:
            raise UsageError(f"--context must be >= 0 seconds, got {self.context}")
        if self.batch_size < 0:
            raise UsageError(f"--batch-size must be >= 1 (or 0 for auto), got {self.batch_size}")
        if self.channels not in ("independent", "linked"):
            raise UsageError(f"--channels must be independent or linked, got {self.channels!r}")
        if self.precision not in ("auto", "fp32", "bf16", "fp16"):
            raise UsageError(f"--precision must be auto, fp32, bf16 or fp16, got {self.precision!r}")


def resolve_device(name: str) -> torch.device:
    """``auto`` → CUDA when available else CPU; a CUDA request without CUDA is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UsageError(f"--device {name}: no CUDA device is available on this machine; use --device cpu")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}") from None


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX, read from ``/proc/cpuinfo``): there
    bf16 autocast runs avremix's models 1.5 to 2.2x faster than fp32; elsewhere it is emulated and slower."""
    global _CPU_BF16
    if _CPU_BF16 is None:
        try:
            flags = next((line for line in open("/proc/cpuinfo") if line.startswith("flags")), "").split()
        except OSError:  # not Linux
            flags = []
        _CPU_BF16 = "avx512_bf16" in flags or "amx_bf16" in flags
    return _CPU_BF16


_CPU_BF16: bool | None = None


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The model's autocast dtype. ``auto``: bf16 on CUDA, and on CPUs that compute bf16 natively
    (:func:`cpu_has_bf16`), fp32 on other CPUs."""
    if precision == "fp32" or (precision == "auto" and device.type != "cuda" and not (device.type == "cpu" and cpu_has_bf16())):
        return None
    if precision == "fp16" and device.type != "cuda":
        raise UsageError("--precision fp16 needs a CUDA device; on the CPU use bf16 or fp32")
    return torch.float16 if precision == "fp16" else torch.bfloat16


class NoiseField:
    """Standard normal noise indexed by absolute sample position, reproducible from a seed."""

    def __init__(self, seed: int, block: int):
        self.seed = int(seed)
        self.block = int(block)
        self._cache: dict[int, torch.Tensor] = {}

    def _block(self, j: int) -> torch.Tensor:
        if j not in self._cache:
            if len(self._cache) > 64:  # chunks move forward: old blocks are not asked for again
                self._cache.pop(min(self._cache))
            g = torch.Generator().manual_seed((self.seed * 1_000_003 + j) % (2**63))
            self._cache[j] = torch.randn(self.block, generator=g)
        return self._cache[j]

    def slice(self, start: int, length: int) -> torch.Tensor:
        """Noise for positions ``[start, start + length)`` (``start`` may be negative)."""
        first, last = start // self.block, (start + length - 1) // self.block
        joined = torch.cat([self._block(j) for j in range(first, last + 1)])
        offset = start - first * self.block
        return joined[offset : offset + length]


@dataclass
class _Grid:
    """Chunk geometry in native samples."""

    sample_rate: int
    frame: float  # native samples per visual frame (1 sample when the model takes no video)
    seg_frames: int
    hop_frames: int
    ctx_frames: int

    @property
    def seg(self) -> int:
        return round(self.seg_frames * self.frame)

    @property
    def span_frames(self) -> int:  # a full window: segment plus context on both sides
        return self.seg_frames + 2 * self.ctx_frames

    def start(self, k: int) -> int:
        return round(k * self.hop_frames * self.frame)

    def window(self, k: int, end: int | None = None) -> tuple[int, int, int, int]:
        """Chunk ``k``'s window: (first sample, samples, first frame, frames). Nominally the segment plus
        the context on both sides; kept inside the track: from its start, and, once its length ``end`` is
        known, to its end (rounded up to a whole frame). Shorter than nominal only for a short track."""
        first = k * self.hop_frames - self.ctx_frames
        n = self.span_frames
        if end is not None:
            last = math.ceil(end / self.frame)  # frames covering the track
            first = min(first, last - n)
            n = min(n, last)
        first = max(first, 0)
        a = round(first * self.frame)
        return a, round((first + n) * self.frame) - a, first, n

    @classmethod
    def build(cls, config: EngineConfig, sample_rate: int, fps: float | None) -> "_Grid":
        frame = sample_rate / fps if fps else 1.0
        to_frames = lambda seconds: max(0, round(seconds * sample_rate / frame))  # noqa: E731
        seg = max(1, to_frames(config.segment))
        hop = max(1, seg - to_frames(config.overlap))
        return cls(sample_rate, frame, seg, hop, to_frames(config.context))


class Engine:
    """Run a :class:`ChunkModel` over a stream of audio (and visual context) in overlapping chunks.

    ``strength`` blends at the input's rate: ``(1 - strength) * input + strength * model(input)``.
    """

    def __init__(self, model: ChunkModel, sample_rate: int, config: EngineConfig | None = None, strength: float = 1.0):
        self.model = model
        self.config = config or EngineConfig()
        self.config.validate()
        self.sample_rate = int(sample_rate)
        self.strength = float(strength)
        self.device = resolve_device(self.config.device)
        self.autocast = autocast_dtype(self.device, self.config.precision)
        # on the CPU the per-item cost grows with the batch (cache): the default highlighter takes 7.5 ms per
        # second of audio and item at 1 chunk of stereo, 10.8 ms at 4 chunks
        self.batch_size = self.config.batch_size or (1 if self.device.type == "cpu" else 8)
        self.fps = getattr(model, "fps", None)
        self.grid = _Grid.build(self.config, self.sample_rate, self.fps)
        self.model_rate = int(getattr(model, "sample_rate", self.sample_rate))
        self.noise = NoiseField(self.config.seed, self.model_rate) if getattr(model, "generative", False) else None
        self.stems = tuple(getattr(model, "stems", ()) or ())  # a separator's outputs; () for one output
        self.linked = self.config.channels == "linked" and not self.stems
        if self.stems and self.strength != 1.0:
            raise UsageError("a separator runs at strength 1")
        if isinstance(model, torch.nn.Module):
            # channels-last weights make oneDNN / cuDNN run the 2-D convolutions (mask refinement, frame
            # CNN) in NHWC: 1.8x the default highlighter's speed in bf16 on a 2-core CPU, same results
            # within bf16 rounding
            model.to(self.device, memory_format=torch.channels_last).eval()
        overlap = self.grid.seg - round(self.grid.hop_frames * self.grid.frame)
        # crossfade weights over one segment: linear ramps over the overlap, strictly positive
        ramp = (np.arange(overlap, dtype=np.float64) + 0.5) / max(overlap, 1)
        w = np.ones(self.grid.seg, dtype=np.float64)
        w[:overlap] = ramp
        w[self.grid.seg - overlap : self.grid.seg] = np.minimum(w[self.grid.seg - overlap : self.grid.seg], ramp[::-1])
        self.weight = w

    # -- public -----------------------------------------------------------------------------------------
    def stream(
        self,
        audio: Iterable[np.ndarray],
        visual: Iterable[Any] | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Iterator[np.ndarray]:
        """Yield processed float32 blocks ``[C, n]`` (a separator's: ``[K, C, n]``); their total length
        equals the input's."""
        if self.fps and visual is None and not getattr(self.model, "picture_optional", False):
            raise ValueError("this model needs visual context: pass `visual` frames at the model's fps")
        g = self.grid
        src = _SampleBuffer(iter(audio))
        frames = _FrameBuffer(iter(visual)) if self.fps and visual is not None else None  # None: the model's null picture
        out = _OverlapAdd()
        k = 0  # next chunk to run
        emitted = 0
        while True:
            batch: list[int] = []
            while len(batch) < self.batch_size:
                a, n, _, _ = g.window(k)
                src.fill_to(a + n)
                if src.ended and g.start(k) >= src.end:  # chunk k would only see padding
                    break
                batch.append(k)
                k += 1
            if batch:
                self._run(batch, src, frames, out)
            done = src.ended and g.start(k) >= src.end
            final = src.end if done else g.start(k)  # no later chunk touches what comes before `final`
            if final > emitted:
                block = out.pop(emitted, final)  # [K*C, n], stem-major
                if self.stems:
                    block = block.reshape(len(self.stems), -1, block.shape[-1])  # [K, C, n]
                emitted = final
                if on_progress is not None:
                    on_progress(emitted / self.sample_rate)
                yield block
            if done:
                return
            keep = g.start(k) - round((g.span_frames + 1) * g.frame)  # the last window may shift back this far
            src.drop_before(keep)
            if frames is not None:
                frames.drop_before(math.floor(keep / g.frame))

    def process(self, audio: np.ndarray, visual: Any | None = None) -> np.ndarray:
        """Whole array in, whole array out (``[C, T]``; a separator's ``[K, C, T]``), through the same chunked loop."""
        frames = None if visual is None else list(visual)
        if not audio.shape[-1]:
            return np.zeros((len(self.stems), *audio.shape), np.float32) if self.stems else audio.copy()
        return np.concatenate(list(self.stream([audio], frames)), axis=-1)

    # -- internals ------------------------------------------------------------------------------------
    def _run(self, batch: list[int], src: "_SampleBuffer", frames: "_FrameBuffer | None", out: "_OverlapAdd") -> None:
        g = self.grid
        windows = [g.window(k, src.end if src.ended else None) for k in batch]
        outputs: dict[tuple, np.ndarray] = {}
        for n in sorted({w[1] for w in windows}):  # one length, except for a track shorter than a window
            same = sorted({w for w in windows if w[1] == n})  # distinct windows (a short track has one)
            outputs.update(zip(same, self._forward(same, src, frames)))
        for k, w in zip(batch, windows):
            y = outputs[w][:, g.start(k) - w[0] :][:, : g.seg]  # the segment: context cropped away
            if y.shape[1] < g.seg:  # past the end of a short track: never emitted
                y = np.pad(y, ((0, 0), (0, g.seg - y.shape[1])))
            out.add(g.start(k), y, self.weight)

    def _forward(self, windows: list[tuple[int, int, int, int]], src: "_SampleBuffer", frames: "_FrameBuffer | None") -> np.ndarray:
        """The model over windows of equal length → ``[B, C, L]`` at the input's rate (strength applied);
        a separator's → ``[B, K*C, L]`` (stem-major), mixture-consistent."""
        L = windows[0][1]
        x_all = np.stack([src.read(a, L) for a, _, _, _ in windows])  # [B, C, L]
        linked = self.linked and x_all.shape[1] > 1
        x = x_all.mean(axis=1, keepdims=True) if linked else x_all  # linked: the model sees the channels' mean [B, 1, L]
        B, C, _ = x.shape
        xt = torch.from_numpy(x).reshape(B * C, 1, L)  # [B*C, 1, L]: every channel is an item
        if self.model_rate != self.sample_rate:
            xt = AF.resample(xt, self.sample_rate, self.model_rate)
        Lm = xt.shape[-1]
        visual = None
        if frames is not None:
            v = torch.stack([frames.read(f, n) for _, _, f, n in windows])  # [B, F, ...]
            # one picture per chunk for models that share it among the chunk's channels (the frame CNN
            # then runs once, not C times), else one per item
            visual = (v if getattr(self.model, "shared_visual", False) else v.repeat_interleave(C, dim=0)).to(self.device)  # [B or B*C, F, ...]
        noise = None
        if self.noise is not None:
            starts = [round(a * self.model_rate / self.sample_rate) for a, _, _, _ in windows]
            noise = torch.stack([self.noise.slice(s, Lm) for s in starts])  # [B, Lm]
            noise = noise.repeat_interleave(C, dim=0)[:, None, :].to(self.device)  # [B*C, 1, Lm]
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self.autocast, enabled=self.autocast is not None):
            y = self.model(xt.to(self.device), visual=visual, noise=noise)
        y = y.float().cpu().contiguous()
        if self.stems:
            return self._consistent(y, x, L)
        if self.model_rate != self.sample_rate:
            y_model = y
            y = _fit(AF.resample(y, self.model_rate, self.sample_rate), L)
            if self.model_rate < self.sample_rate:  # the band the model cannot see, at the gain of its top octave
                high = torch.from_numpy(x).reshape(B * C, 1, L) - _fit(AF.resample(xt.cpu(), self.model_rate, self.sample_rate), L)
                y = y + (high.double() * band_gain(y_model, xt.cpu(), self.model_rate, L, self.sample_rate)).float()
        y = _fit(y, L).reshape(B, C, L)  # [B, C, L]
        if linked:  # every channel: the mean's remix + its own difference from the mean at the mean's gains
            mid = torch.from_numpy(x)
            y = y + linked_channels(mid, y, torch.from_numpy(x_all) - mid, self.sample_rate)  # [B, C_all, L]
        y = y.numpy()
        if self.strength != 1.0:
            y = (1.0 - self.strength) * x_all + self.strength * y
        return y


    def _consistent(self, y: torch.Tensor, x: np.ndarray, L: int) -> np.ndarray:
        """Stems ``[B*C, K, Lm]`` at the model's rate → ``[B, K*C, L]`` at the input's, summing to ``x [B, C, L]``."""
        B, C, _ = x.shape
        K = len(self.stems)
        w = stem_weights(y, self.model_rate, L, self.sample_rate)  # [B*C, K, L]
        if self.model_rate != self.sample_rate:
            y = AF.resample(y, self.model_rate, self.sample_rate)
        y = _fit(y, L).double()  # [B*C, K, L]
        residual = torch.from_numpy(x).reshape(B * C, 1, L).double() - y.sum(dim=1, keepdim=True)
        y = (y + w * residual).float()  # Σ_k = x
        return y.reshape(B, C, K, L).transpose(1, 2).reshape(B, K * C, L).numpy()


def _top_energy(y: torch.Tensor, rate: int, smooth: float) -> torch.Tensor:
    """Energy of the top octave of ``y [N, K, T]`` (high-passed at ``rate / 4``, squared, averaged over
    ``smooth`` seconds), float64 ``[N, K, T]``. Shift-invariant (no frame grid), so a chunk and the whole
    track agree wherever both see enough context."""
    top = AF.highpass_biquad(y.double(), rate, rate / 4).pow(2)  # [N, K, T]
    half = max(1, round(smooth * rate)) // 2
    T = top.shape[-1]
    c = torch.nn.functional.pad(top.cumsum(dim=-1), (1, 0))  # [N, K, T+1]: c[i] = Σ top[:i]
    i = torch.arange(T)
    lo, hi = (i - half).clamp(min=0), (i + half + 1).clamp(max=T)
    return (c[..., hi] - c[..., lo]) / (hi - lo).double()  # centred moving average (fewer samples at the edges)


def _onto(curve: torch.Tensor, rate: int, length: int, out_rate: int | None) -> torch.Tensor:
    """``curve [N, K, T]`` at ``rate`` interpolated linearly onto ``length`` samples at ``out_rate``."""
    T = curve.shape[-1]
    pos = (torch.arange(length, dtype=torch.float64) * (rate / (out_rate or rate))).clamp(0, T - 1)
    i0 = pos.floor().long()
    i1 = (i0 + 1).clamp(max=T - 1)
    frac = pos - i0
    return curve[..., i0] * (1 - frac) + curve[..., i1] * frac  # [N, K, length]


def stem_weights(y: torch.Tensor, rate: int, length: int, out_rate: int | None = None, smooth: float = 0.1) -> torch.Tensor:
    """Each stem's share ``[N, K, length]`` (summing to 1) of the energy in the top octave of ``y [N, K, T]``
    (rate ``rate``), interpolated onto ``length`` samples at ``out_rate`` (default ``rate``)."""
    top = _top_energy(y, rate, smooth)
    share = (top + 1e-12) / (top + 1e-12).sum(dim=1, keepdim=True)
    return _onto(share, rate, length, out_rate)


def band_gain(y: torch.Tensor, x: torch.Tensor, rate: int, length: int, out_rate: int | None = None,
              smooth: float = 0.1, limit_db: float = 24.0) -> torch.Tensor:
    """The amplitude gain ``[N, 1, length]`` that the model's output ``y [N, 1, T]`` gives the top octave of
    its input ``x [N, 1, T]`` (both at ``rate``), within ±``limit_db``, interpolated onto ``length``
    samples at ``out_rate``: what the band above the model's Nyquist frequency gets."""
    gain = _energy_gain(_top_energy(y, rate, smooth), _top_energy(x, rate, smooth), limit_db, dims=(-1,))
    return _onto(gain, rate, length, out_rate)


def _energy_gain(e_y: torch.Tensor, e_x: torch.Tensor, limit_db: float, dims: tuple[int, ...]) -> torch.Tensor:
    """The amplitude gain ``sqrt(e_y / e_x)`` that takes energies ``e_x`` to ``e_y``, within ±``limit_db``;
    → 1 where ``e_x`` is 60 dB below its largest over ``dims`` (near silence: no ratio to trust)."""
    floor = 1e-10 + 1e-6 * e_x.amax(dim=dims, keepdim=True)
    limit = 10 ** (limit_db / 20)
    return ((e_y + floor) / (e_x + floor)).sqrt().clamp(1 / limit, limit)


def linked_channels(mid: torch.Tensor, y_mid: torch.Tensor, diff: torch.Tensor, rate: int, limit_db: float = 24.0) -> torch.Tensor:
    """The channels' differences from their mean, ``diff [N, C, L]``, with the gain per time-frequency bin
    that the model gave the mean (``mid [N, 1, L]`` → ``y_mid [N, 1, L]``, all at ``rate``): magnitude ratios
    on a ~40 ms STFT (energies pooled over 3 x 3 neighbouring bins and frames), within ±``limit_db``, and 1
    where the mean is near silent (60 dB below its loudest bin). ``y_mid + linked_channels(...)`` is each
    channel's remix. Stereo's two differences are each other's negatives: one is transformed."""
    N, C, L = diff.shape
    n_fft = 1 << max(8, round(math.log2(0.04 * rate)))  # 2048 at 48 kHz, 1024 at 16-32 kHz
    while n_fft > 16 and n_fft // 2 >= L:  # a clip shorter than the frame: a shorter frame
        n_fft //= 2
    if n_fft // 2 >= L:  # a few samples: the ratio of the whole clip's energies
        energy = lambda z: z.double().pow(2).sum(dim=-1, keepdim=True)  # noqa: E731
        return (diff * _energy_gain(energy(y_mid), energy(mid), limit_db, dims=(-1,))).float()
    hop = n_fft // 4
    window = torch.hann_window(n_fft)

    def spec(z: torch.Tensor) -> torch.Tensor:
        return torch.stft(z.reshape(-1, z.shape[-1]).float(), n_fft, hop, window=window, return_complex=True)  # [*, F, M]

    # energies pooled over 3 bins x 3 frames, so that a bin where the mean happens to cancel (the channels
    # out of phase there) takes its neighbours' gain rather than an arbitrary ratio
    pool = lambda e: torch.nn.functional.avg_pool2d(e[:, None], 3, stride=1, padding=1, count_include_pad=False)[:, 0]  # noqa: E731
    e_x, e_y = pool(spec(mid).abs().pow(2)), pool(spec(y_mid).abs().pow(2))  # [N, F, M]
    gain = _energy_gain(e_y, e_x, limit_db, dims=(-2, -1))  # [N, F, M]
    first = 1 if C == 2 else C  # stereo: diff[:, 1] = -diff[:, 0]
    d = spec(diff[:, :first]).reshape(N, first, *gain.shape[1:]) * gain[:, None]
    out = torch.istft(d.reshape(N * first, *gain.shape[1:]), n_fft, hop, window=window, length=L).reshape(N, first, L)
    return torch.cat([out, -out], dim=1) if C == 2 else out


def _fit(y: torch.Tensor, length: int) -> torch.Tensor:
    """Crop or zero-pad the last axis to ``length`` (resampling round trips may be a sample off)."""
    if y.shape[-1] >= length:
        return y[..., :length]
    return torch.nn.functional.pad(y, (0, length - y.shape[-1]))


class _SampleBuffer:
    """Input samples pulled on demand from an iterator of ``[C, n]`` blocks; zeros outside ``[0, end)``."""

    def __init__(self, blocks: Iterator[np.ndarray]):
        self.blocks = blocks
        self.data: np.ndarray | None = None  # [C, n] samples from position `offset`
        self.offset = 0
        self.end = 0  # samples pulled so far
        self.ended = False

    def fill_to(self, position: int) -> None:
        parts = [] if self.data is None else [self.data]
        while self.end < position and not self.ended:
            block = next(self.blocks, None)
            if block is None:
                self.ended = True
                break
            block = np.asarray(block, dtype=np.float32)
            if block.ndim != 2:
                raise ValueError(f"audio blocks must be [C, n], got {block.shape}")
            parts.append(block)
            self.end += block.shape[1]
        if parts:
            self.data = np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def read(self, start: int, length: int) -> np.ndarray:
        assert self.data is not None
        C = self.data.shape[0]
        out = np.zeros((C, length), dtype=np.float32)
        lo, hi = max(start, self.offset), min(start + length, self.end)
        if hi > lo:
            out[:, lo - start : hi - start] = self.data[:, lo - self.offset : hi - self.offset]
        return out

    def drop_before(self, position: int) -> None:
        if self.data is not None and position > self.offset:
            cut = min(position, self.end) - self.offset
            self.data = self.data[:, cut:]
            self.offset += cut


class _FrameBuffer:
    """Visual frames pulled on demand; before the first and after the last frame, those are repeated."""

    def __init__(self, frames: Iterator[Any]):
        self.frames = frames
        self.items: list[torch.Tensor] = []
        self.offset = 0
        self.ended = False

    def read(self, first: int, n: int) -> torch.Tensor:
        while not self.ended and self.offset + len(self.items) < first + n:
            item = next(self.frames, None)
            if item is None:
                self.ended = True
            else:
                self.items.append(torch.as_tensor(np.asarray(item)))
        if not self.items:
            raise ValueError("the visual stream yielded no frames")
        last = self.offset + len(self.items) - 1
        idx = [min(max(i, self.offset), last) - self.offset for i in range(first, first + n)]
        return torch.stack([self.items[i] for i in idx])  # [F, ...]

    def drop_before(self, index: int) -> None:
        cut = min(max(0, index - self.offset), max(0, len(self.items) - 1))  # keep one to repeat
        if cut:
            del self.items[:cut]
            self.offset += cut


class _OverlapAdd:
    """Weighted sum of chunk outputs and of their weights, from absolute position ``offset``."""

    def __init__(self):
        self.acc: np.ndarray | None = None  # [C, n]
        self.wsum = np.zeros(0, dtype=np.float64)
        self.offset = 0

    def add(self, start: int, y: np.ndarray, w: np.ndarray) -> None:
        C, n = y.shape
        end = start + n
        if self.acc is None:
            self.acc = np.zeros((C, 0), dtype=np.float64)
        grow = end - (self.offset + self.acc.shape[1])
        if grow > 0:
            self.acc = np.concatenate([self.acc, np.zeros((C, grow))], axis=1)
            self.wsum = np.concatenate([self.wsum, np.zeros(grow)])
        a, b = start - self.offset, end - self.offset
        self.acc[:, a:b] += y * w
        self.wsum[a:b] += w

    def pop(self, start: int, end: int) -> np.ndarray:
        assert self.acc is not None and start == self.offset
        n = end - start
        block = (self.acc[:, :n] / self.wsum[:n]).astype(np.float32)
        self.acc = self.acc[:, n:]
        self.wsum = self.wsum[n:]
        self.offset = end
        return block
