"""Objective metrics: of a highlighted clip against its target (lower is better, after VisAH) and of a
separated stem against its reference (higher is better).

- ``MAG``: mean squared distance between STFT magnitudes (512-point window, 128 hop) of prediction and
  target: closeness in the time-frequency domain. ``MAG_matched``: the same once the prediction is brought
  to the target's integrated loudness with one gain, so that what it measures is the balance of the
  remix, not its overall level.
- ``ENV``: mean squared distance between their amplitude envelopes (magnitude of the analytic signal,
  Hilbert transform): closeness in the time domain.
- ``W-dis``: Wasserstein-1 distance, in seconds, between the two clips' loudness-over-time curves (RMS in
  20 ms frames) taken as distributions over time: the minimum cost of moving one clip's energy in time
  to match the other's (time alignment of what is highlighted when).

- ``flutter``: gain flutter, in dB: the output/input energy ratio per 20 ms frame, its absolute change
  from one frame to the next, median over the frames where the input is no more than 50 dB below its
  loudest frame (``flutter_p95``: the 95th percentile). A remix that rides the level smoothly sits near
  a film mix's own 0.1-0.6 dB; full-band jumps of several dB are heard as pumping and clicks.

Separation, in dB (higher is better):

- ``SI-SDR``: scale-invariant signal-to-distortion ratio (Le Roux et al., "SDR - half-baked or well
  done?", ICASSP 2019): the reference scaled by the optimal ``α = <ŝ, s> / <s, s>``, then
  ``10 log10(|α s|² / |α s − ŝ|²)``. ``SI-SDRi`` is its improvement over the mixture as the estimate.
- ``SDR``: plain signal-to-distortion ratio ``10 log10(|s|² / |s − ŝ|²)`` (no scaling; the BSS-eval SDR
  without its distortion filter, as the SDX / DnR challenges report it).

Each of the above takes torch waveforms ``[B, 1, T]`` (or ``[B, T]``) and returns one value per clip ``[B]``.
The scores below take numpy arrays of one clip, mono ``[T]`` or channels first ``[C, T]``, and return floats.

Loudness (ITU-R BS.1770-4 and EBU R 128's Tech 3341 / 3342):

- ``integrated_loudness``: BS.1770-4 gated integrated loudness in LUFS (K-weighting, 400 ms blocks with
  75 % overlap, absolute gate -70 LUFS, relative gate -10 LU), measured with pyloudnorm's ``Meter``.
- ``short_term_loudness``: ungated K-weighted loudness of sliding windows (EBU Tech 3341: short-term
  = 3 s, momentary = 0.4 s).
- ``loudness_range``: EBU Tech 3342 LRA in LU, the spread (95th - 10th percentile) of the gated short-term
  loudness.

Speech quality and intelligibility of an estimate against its reference (higher is better):

- ``PESQ-WB`` / ``PESQ-NB``: ITU-T P.862.2 wide band and P.862 narrow band, both at 16 kHz (MOS-LQO,
  P.862.1 mapping; at most 4.64 and 4.55), with the ``pesq`` package: its ``pesq(16000, ref, deg, mode)``.
- ``STOI``: short-time objective intelligibility (Taal et al., IEEE TASLP 2011; extended: Jensen & Taal,
  IEEE TASLP 2016), with ``pystoi``.

Separation sanity:

- ``consistency_dbfs``: mixture consistency, the peak of ``Σ stems - mixture`` in dBFS.
- ``leakage_db``: the estimate's energy where its reference stem is silent, relative to the mixture's there.

Audio-visual synchrony:

- ``temporal_alignment`` (T_A-V after AlignSep, "Temporally-Aligned Video-Queried Sound Separation with
  Flow Matching", ICLR 2026): the share of the audio's onsets (``onsets``) that fall on a visual event
  (a peak of ``motion_energy``).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pyloudnorm
import scipy.ndimage
import scipy.signal
import torch


def _flat(x: torch.Tensor) -> torch.Tensor:
    return x.reshape(x.shape[0], -1).float()  # [B, T]


def mag(pred: torch.Tensor, target: torch.Tensor, n_fft: int = 512, hop: int = 128) -> torch.Tensor:
    window = torch.hann_window(n_fft, device=pred.device)
    p = torch.stft(_flat(pred), n_fft, hop, window=window, return_complex=True).abs()
    t = torch.stft(_flat(target), n_fft, hop, window=window, return_complex=True).abs()
    return ((p - t) ** 2).mean(dim=(1, 2))


def envelope(x: torch.Tensor) -> torch.Tensor:
    """|analytic signal| of ``[B, T]`` (FFT Hilbert transform)."""
    n = x.shape[-1]
    spec = torch.fft.fft(x, dim=-1)
    h = torch.zeros(n, device=x.device)
    h[0] = 1
    if n % 2 == 0:
        h[n // 2] = 1
        h[1 : n // 2] = 2
    else:
        h[1 : (n + 1) // 2] = 2
    return torch.fft.ifft(spec * h, dim=-1).abs()


def env(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return ((envelope(_flat(pred)) - envelope(_flat(target))) ** 2).mean(dim=1)


def wdis(pred: torch.Tensor, target: torch.Tensor, sample_rate: int = 16000, frame: float = 0.02) -> torch.Tensor:
    n = int(sample_rate * frame)

    def distribution(x: torch.Tensor) -> torch.Tensor:
        x = _flat(x)
        frames = x[:, : x.shape[1] // n * n].reshape(x.shape[0], -1, n)
        rms = frames.pow(2).mean(-1).sqrt() + 1e-8  # [B, frames]
        return rms / rms.sum(dim=1, keepdim=True)

    cdf_p, cdf_t = distribution(pred).cumsum(1), distribution(target).cumsum(1)
    return (cdf_p - cdf_t).abs().sum(dim=1) * frame


def si_sdr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    p, t = _flat(pred).double(), _flat(target).double()
    alpha = (p * t).sum(1, keepdim=True) / (t.pow(2).sum(1, keepdim=True) + eps)
    s = alpha * t
    return (10 * torch.log10((s.pow(2).sum(1) + eps) / ((s - p).pow(2).sum(1) + eps))).float()


def sdr(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    p, t = _flat(pred).double(), _flat(target).double()
    return (10 * torch.log10((t.pow(2).sum(1) + eps) / ((t - p).pow(2).sum(1) + eps))).float()


def gain_flutter(output: torch.Tensor, input: torch.Tensor, sample_rate: int = 16000, frame: float = 0.02,
                 floor_db: float = 50.0, quantile: float = 0.5) -> torch.Tensor:
    """The ``quantile`` (median by default) of ``|Δ_n 10 log10(E_out[n] / E_in[n])|`` over 20 ms frames
    whose input energy is within ``floor_db`` of the clip's loudest frame; dB, one value per clip."""
    n = int(sample_rate * frame)

    def energy(x: torch.Tensor) -> torch.Tensor:
        x = _flat(x).double()
        return x[:, : x.shape[1] // n * n].reshape(x.shape[0], -1, n).pow(2).mean(-1)  # [B, frames]

    e_out, e_in = energy(output), energy(input)
    ratio = 10 * torch.log10((e_out + 1e-12) / (e_in + 1e-12))  # [B, frames]
    change = torch.diff(ratio, dim=1).abs()  # [B, frames-1]
    loud = e_in > e_in.amax(dim=1, keepdim=True) * 10 ** (-floor_db / 10)
    valid = loud[:, 1:] & loud[:, :-1]
    values = [torch.quantile(c[v], quantile) if v.any() else torch.tensor(0.0, dtype=c.dtype) for c, v in zip(change, valid)]
    return torch.stack(values).float()


METRICS = {"MAG": mag, "ENV": env, "W-dis": wdis}


def score(pred: torch.Tensor, target: torch.Tensor, sample_rate: int = 16000) -> dict[str, torch.Tensor]:
    """All metrics, one value per clip."""
    return {"MAG": mag(pred, target), "ENV": env(pred, target), "W-dis": wdis(pred, target, sample_rate)}


def mag_matched(pred: torch.Tensor, target: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
    """MAG once each clip of ``pred`` is brought to its target's integrated loudness (BS.1770) with one gain:
    the remix's balance without its overall level, which a player's volume or a loudness pass sets anyway.
    A clip whose loudness cannot be measured (silence, under 400 ms) keeps its level."""
    from avremix.data.loudness import loudness, normalize_loudness  # the loudness-normalised reference's own measure

    gains_db = []
    for p, t in zip(pred, target):
        level = loudness(t.detach().cpu().numpy(), sample_rate)
        gains_db.append(normalize_loudness(p.detach().cpu().numpy(), sample_rate, level)[1] if math.isfinite(level) else 0.0)
    scale = 10 ** (torch.tensor(gains_db, dtype=pred.dtype, device=pred.device) / 20).reshape(-1, *[1] * (pred.dim() - 1))
    return mag(pred * scale, target)


# --------------------------------------------------------------------------- numpy scores of one clip


def _channels(audio: np.ndarray) -> np.ndarray:
    """``[T]`` or ``[C, T]`` -> float64 ``[C, T]``."""
    x = np.asarray(audio, dtype=np.float64)
    return x[None] if x.ndim == 1 else x


def _mono(audio: np.ndarray) -> np.ndarray:
    return _channels(audio).mean(axis=0)


def _bs1770_channels(x: np.ndarray) -> np.ndarray:
    """The channels BS.1770 weighs: 5.1 in ffmpeg's order (FL FR FC LFE BL BR) loses its LFE; layouts of
    more than six channels are measured as their mono downmix."""
    if x.shape[0] == 6:
        return x[[0, 1, 2, 4, 5]]
    return x.mean(axis=0, keepdims=True) if x.shape[0] > 6 else x


def integrated_loudness(audio: np.ndarray, sample_rate: int) -> float:
    """ITU-R BS.1770-4 integrated loudness in LUFS of mono ``[T]`` or ``[C, T]`` audio (L, R, C, Ls, Rs;
    5.1 with its LFE fourth, as ffmpeg orders it, has the LFE left out): K-weighting, mean square per 400 ms block (75 % overlap),
    ``-0.691 + 10 log10 Σ_c G_c z_c`` with ``G = 1`` for L/R/C and 1.41 for the surrounds, blocks gated at
    -70 LUFS (absolute) then at 10 LU below the gated mean (relative). Measured with pyloudnorm's ``Meter``;
    ``-inf`` for silence or audio shorter than one 400 ms block."""
    x = _bs1770_channels(_channels(audio))
    if x.shape[1] < 0.4 * sample_rate or not np.any(x):
        return -math.inf
    with np.errstate(divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(pyloudnorm.Meter(sample_rate).integrated_loudness(x.T))  # pyloudnorm wants [T, C]


def _k_weighted_power(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``Σ_c G_c y_c²`` per sample ``[T]``, ``y`` the K-weighted channels (BS.1770's high shelf and high pass,
    the stages of pyloudnorm's ``Meter``, their coefficients computed for ``sample_rate``)."""
    x = np.asarray(audio)
    return _k_weighted_block(_bs1770_channels(x[None] if x.ndim == 1 else x), list(pyloudnorm.Meter(sample_rate)._filters.values()))


def _k_weighted_block(x: np.ndarray, stages: list, state: list[list[np.ndarray]] | None = None) -> np.ndarray:
    """``Σ_c G_c y_c²`` per sample of the BS.1770 channels ``x [C, T]`` (G = 1 for L/R/C, 1.41 for the
    surrounds), one channel at a time so that long inputs fit in memory. ``state`` (per channel, per
    stage: ``lfilter``'s ``zi``) carries the filters over from the previous block and is updated."""
    power = np.zeros(x.shape[1])
    for c, (channel, gain) in enumerate(zip(x, (1.0, 1.0, 1.0, 1.41, 1.41))):
        y = np.asarray(channel, dtype=np.float64)
        for k, stage in enumerate(stages):
            if state is None:
                y = scipy.signal.lfilter(stage.b, stage.a, y)
            else:
                y, state[c][k] = scipy.signal.lfilter(stage.b, stage.a, y, zi=state[c][k])
            y = stage.passband_gain * y
        power += gain * y * y
    return power


class LoudnessMeter:
    """BS.1770-4 integrated loudness of audio that arrives in blocks ``[C, n]`` (or mono ``[n]``), for
    media too long to hold: the K-weighting filters keep their state from block to block and only the
    channel-weighted energy of each 100 ms is kept (a float per 100 ms: 72,000 for two hours), from which
    :meth:`integrated` forms the 400 ms gating blocks (75 % overlap) and gates them as
    :func:`integrated_loudness` does. ``peak`` is the largest absolute sample seen."""

    def __init__(self, sample_rate: int):
        self.sample_rate = int(sample_rate)
        self.stages = list(pyloudnorm.Meter(self.sample_rate)._filters.values())
        self.step = max(1, int(round(0.1 * self.sample_rate)))  # samples of 100 ms
        self.state: list[list[np.ndarray]] | None = None  # per channel, per stage: lfilter's zi
        self.carry = np.zeros(0)
        self.energies: list[np.ndarray] = []  # Σ over each 100 ms of Σ_c G_c y_c²
        self.peak = 0.0

    def add(self, block: np.ndarray) -> None:
        x = _channels(block)
        self.peak = max(self.peak, float(np.abs(x).max(initial=0.0)))
        x = _bs1770_channels(x)
        if self.state is None:
            self.state = [[np.zeros(max(len(s.a), len(s.b)) - 1) for s in self.stages] for _ in x]
        power = _k_weighted_block(x, self.stages, self.state)
        buf = np.concatenate([self.carry, power])
        whole = buf.size // self.step * self.step
        self.energies.append(buf[:whole].reshape(-1, self.step).sum(axis=1))  # [n / 100 ms]
        self.carry = buf[whole:]

    def integrated(self) -> float:
        """Integrated loudness in LUFS of everything added so far; ``-inf`` for silence or under 400 ms."""
        e = np.concatenate(self.energies) if self.energies else np.zeros(0)
        if e.size < 4:
            return -math.inf
        z = (e[:-3] + e[1:-2] + e[2:-1] + e[3:]) / (4 * self.step)  # [blocks] mean square of each 400 ms
        with np.errstate(divide="ignore"):
            levels = -0.691 + 10 * np.log10(z)
        z = z[levels >= -70.0]
        if z.size == 0:
            return -math.inf
        relative = -0.691 + 10 * np.log10(z.mean()) - 10.0
        z = z[-0.691 + 10 * np.log10(z) >= relative]
        return float(-0.691 + 10 * np.log10(z.mean()))


def short_term_loudness(audio: np.ndarray, sample_rate: int, window: float = 3.0,
                        hop: float = 0.1) -> tuple[np.ndarray, np.ndarray]:
    """Loudness of sliding windows (EBU Tech 3341: short-term ``window=3.0``, momentary ``window=0.4``):
    ``-0.691 + 10 log10`` of the K-weighted, channel-weighted mean square in each window, ungated.
    Returns the windows' centres in seconds and their loudness in LUFS (``-inf`` where silent); empty when
    the audio is shorter than one window. Vectorised: the K-weighted power is computed once and every
    window's sum is a difference of its cumulative sum."""
    power = _k_weighted_power(audio, sample_rate)
    n, step = int(round(window * sample_rate)), max(1, int(round(hop * sample_rate)))
    if power.size < n:
        return np.empty(0), np.empty(0)
    cumulative = np.empty(power.size + 1)
    cumulative[0] = 0.0
    np.cumsum(power, out=cumulative[1:])
    del power
    starts = np.arange(0, cumulative.size - n, step)
    mean_square = np.maximum(cumulative[starts + n] - cumulative[starts], 0.0) / n
    with np.errstate(divide="ignore"):
        return (starts + n / 2) / sample_rate, -0.691 + 10 * np.log10(mean_square)


def loudness_range(audio: np.ndarray, sample_rate: int) -> float:
    """EBU Tech 3342 loudness range (LRA) in LU: the short-term loudness (3 s windows every 0.1 s), gated at
    -70 LUFS (absolute) and then at 20 LU below the power mean ``10 log10 mean 10^(L/10)`` of the windows
    that passed (relative); LRA is the 95th minus the 10th percentile of what remains. 0.0 for silence or
    audio shorter than 3 s."""
    _, levels = short_term_loudness(audio, sample_rate, window=3.0, hop=0.1)
    levels = levels[levels >= -70.0]
    if levels.size == 0:
        return 0.0
    levels = levels[levels >= 10 * np.log10(np.mean(10 ** (levels / 10))) - 20.0]
    return float(np.percentile(levels, 95) - np.percentile(levels, 10))


def _resample(x: np.ndarray, sample_rate: int, target: int) -> np.ndarray:
    g = math.gcd(sample_rate, target)
    return x if sample_rate == target else scipy.signal.resample_poly(x, target // g, sample_rate // g)


def pesq_scores(estimate: np.ndarray, reference: np.ndarray, sample_rate: int) -> dict[str, float]:
    """PESQ (MOS-LQO) of ``estimate`` against ``reference``, both mixed down to mono: ``PESQ-WB`` is ITU-T
    P.862.2 wide band, ``PESQ-NB`` P.862 narrow band (P.862.1 mapping), both on the signals resampled to
    16 kHz (narrow band at 8 kHz for audio below 16 kHz), computed with the ``pesq`` package: the values of
    its ``pesq(16000, ref, deg, 'nb')`` and ``'wb'``, which its README gives as 1.6072 and 1.0832 for its
    example pair. (Narrow band at 8 kHz, which avremix computed before 0.15, reads 1.6657 on that pair: P.862
    filters a 16 kHz signal to the telephone band itself.) A mode whose computation fails (no utterance
    found, shorter than 1/4 s, silent signals) scores NaN."""
    from pesq import pesq  # evaluation-only dependency

    est, ref = _mono(estimate), _mono(reference)
    scores = {}
    for name, rate, mode in (("PESQ-WB", 16000, "wb"), ("PESQ-NB", 8000 if sample_rate < 16000 else 16000, "nb")):
        try:
            with np.errstate(divide="ignore", invalid="ignore"):
                value = pesq(rate, _resample(ref, sample_rate, rate), _resample(est, sample_rate, rate), mode)
            scores[name] = float(value)
        except Exception:  # pesq's NoUtterancesError, BufferTooShortError, or NaN from all-zero input
            scores[name] = math.nan
    return scores


def stoi_score(estimate: np.ndarray, reference: np.ndarray, sample_rate: int, extended: bool = False) -> float:
    """STOI (Taal et al., "An algorithm for intelligibility prediction of time-frequency weighted noisy
    speech", IEEE TASLP 2011), or with ``extended`` ESTOI (Jensen & Taal, IEEE TASLP 2016), of ``estimate``
    against ``reference``, mono mixdowns trimmed to the shorter; ``pystoi.stoi`` resamples to 10 kHz and
    drops silent frames itself. NaN when it fails or finds fewer than 30 speech frames (~384 ms)."""
    from pystoi import stoi  # evaluation-only dependency

    est, ref = _mono(estimate), _mono(reference)
    n = min(est.size, ref.size)
    try:
        with warnings.catch_warnings(record=True) as caught, np.errstate(all="ignore"):
            warnings.simplefilter("always")
            value = float(stoi(ref[:n], est[:n], sample_rate, extended=extended))
    except Exception:
        return math.nan
    if any("Not enough STFT frames" in str(w.message) for w in caught) or not math.isfinite(value):
        return math.nan
    return value


def consistency_dbfs(stems: np.ndarray, mixture: np.ndarray) -> float:
    """Mixture consistency: ``20 log10 max |Σ_k stems_k - mixture|`` in dBFS (full scale = 1.0), ``-inf``
    when the stems sum exactly to the mixture. ``stems [K, C, T]`` with ``mixture [C, T]``, or ``[K, T]``
    with ``[T]``."""
    stems, mixture = np.asarray(stems, dtype=np.float64), np.asarray(mixture, dtype=np.float64)
    if stems.shape[1:] != mixture.shape:
        raise ValueError(f"stems {stems.shape} do not match mixture {mixture.shape}")
    peak = float(np.abs(stems.sum(axis=0) - mixture).max(initial=0.0))
    return 20 * math.log10(peak) if peak > 0 else -math.inf


def _frame_energy(audio: np.ndarray, n: int, length: int) -> np.ndarray:
    """Energy (sum of squares over samples and channels) of consecutive ``n``-sample frames, the last one
    zero-padded, of the first ``length`` samples."""
    power = (_channels(audio)[:, :length] ** 2).sum(axis=0)
    return np.pad(power, (0, -power.size % n)).reshape(-1, n).sum(axis=1)


def leakage_db(estimate: np.ndarray, reference: np.ndarray, mixture: np.ndarray, sample_rate: int,
               frame: float = 0.1, silence_db: float = -60.0) -> float:
    """Leakage into an estimated stem where its reference is silent, in dB (lower is better). With ``E_x[f]``
    the energy of ``x`` in frame ``f`` (consecutive ``frame``-second frames, all channels) and ``E_max`` the
    mixture's loudest frame, the frames ``S = {f : E_ref[f] < E_max·10^(silence_db/10) <= E_mix[f]}`` are
    those where the reference stem is silent but the mixture plays; the leakage is
    ``10 log10(Σ_S E_est / Σ_S E_mix)``: 0 dB when the estimate there is as loud as the whole mixture,
    ``-inf`` when it is exactly silent there, NaN when ``S`` is empty (the reference is never silent while
    the mixture plays). Signals are trimmed to the shortest."""
    n = max(1, int(round(frame * sample_rate)))
    length = min(np.shape(x)[-1] for x in (estimate, reference, mixture))
    e_est, e_ref, e_mix = (_frame_energy(x, n, length) for x in (estimate, reference, mixture))
    floor = e_mix.max(initial=0.0) * 10 ** (silence_db / 10)
    silent = (e_ref < floor) & (e_mix >= floor)
    if floor <= 0 or not silent.any():
        return math.nan
    leak = e_est[silent].sum()
    return 10 * math.log10(leak / e_mix[silent].sum()) if leak > 0 else -math.inf


def _pick_peaks(curve: np.ndarray, rate: float, min_gap: float = 0.1, delta: float = 0.1,
                context: float = 0.5) -> np.ndarray:
    """Indices of the peaks of ``curve`` (sampled at ``rate`` Hz): local maxima at least ``min_gap`` s apart
    (the stronger one kept) that rise above an adaptive threshold, the moving median over ``±context`` s
    plus ``delta`` times the curve's maximum."""
    curve = np.asarray(curve, dtype=np.float64)
    top = curve.max(initial=0.0)
    if top <= 0:
        return np.empty(0, dtype=int)
    curve = curve / top
    threshold = scipy.ndimage.median_filter(curve, size=2 * int(round(context * rate)) + 1, mode="nearest") + delta
    peaks, _ = scipy.signal.find_peaks(curve, height=threshold, distance=max(1, int(round(min_gap * rate))))
    return peaks


def onsets(audio: np.ndarray, sample_rate: int, hop: float = 0.01) -> np.ndarray:
    """Onset times in seconds of mono ``[T]`` or ``[C, T]`` audio (mixed down): spectral flux
    ``Σ_k max(0, L[n, k] - L[n-1, k])`` of the log-magnitude STFT ``L`` (40 ms Hann windows every ``hop`` s,
    in dB, floored at 80 dB below the loudest bin), peaks picked above the moving median over ±0.5 s plus
    a tenth of the flux's maximum, at least 0.1 s apart."""
    x = _mono(audio)
    step = max(1, int(round(hop * sample_rate)))
    if x.size < 4 * step:
        return np.empty(0)
    _, _, spec = scipy.signal.stft(x, sample_rate, nperseg=4 * step, noverlap=3 * step)  # centred frames
    magnitude = np.abs(spec)
    top = magnitude.max(initial=0.0)
    if top <= 0:
        return np.empty(0)
    level = 20 * np.log10(np.maximum(magnitude, top * 1e-4))  # [bins, frames]
    flux = np.concatenate([[0.0], np.maximum(np.diff(level, axis=1), 0.0).sum(axis=0)])
    frame_times = np.arange(flux.size) * step / sample_rate  # frame n is centred on n·hop
    return frame_times[_pick_peaks(flux, sample_rate / step)]


def motion_energy(frames: np.ndarray) -> np.ndarray:
    """Per-frame motion energy of video frames ``[F, H, W, 3]`` uint8 (RGB): the mean absolute difference
    between consecutive grey frames (BT.601 luma), scaled to [0, 1]; ``[F]``, the first value 0."""
    grey = np.asarray(frames)[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    change = np.abs(np.diff(grey, axis=0)).mean(axis=(1, 2)) / 255.0
    return np.concatenate([[0.0], change])


def temporal_alignment(audio: np.ndarray, sample_rate: int, motion: np.ndarray, fps: float,
                       tolerance: float = 0.1) -> float:
    """Temporal alignment accuracy T_A-V (after AlignSep, ICLR 2026), in [0, 1]: the share of the audio's
    ``onsets`` that have a visual event, a peak of the per-frame motion-energy curve ``motion [F]`` (e.g.
    ``motion_energy``; frame ``i`` at ``i / fps`` s) picked like the onsets (adaptive threshold, 0.1 s
    apart), within ``±(tolerance + 1/fps)`` s. NaN when the audio has no onset; 0.0 when the video has no
    event."""
    audio_times = onsets(audio, sample_rate)
    if audio_times.size == 0:
        return math.nan
    events = _pick_peaks(motion, fps) / fps
    if events.size == 0:
        return 0.0
    i = np.searchsorted(events, audio_times)
    nearest = np.minimum(np.abs(audio_times - events[np.maximum(i - 1, 0)]),
                         np.abs(events[np.minimum(i, events.size - 1)] - audio_times))
    return float(np.mean(nearest <= tolerance + 1.0 / fps))
