"""RNNoise's speech prior (``avremix.priors``): aligned in time, speech kept, noise taken down."""

import numpy as np
import torch

from avremix.priors import rnnoise, speech_prior


def _voice_and_noise(seconds: float = 3.0, sr: int = 16000) -> tuple[torch.Tensor, torch.Tensor]:
    t = torch.arange(int(seconds * sr)) / sr
    f0 = 140 + 30 * torch.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * torch.cumsum(f0, 0) / sr
    voiced = sum(torch.sin(k * phase) / k for k in range(1, 20)) * (torch.sin(2 * np.pi * 2 * t) > 0)  # a buzzy syllable train
    return 0.2 * voiced.float(), 0.02 * torch.randn(len(t), generator=torch.Generator().manual_seed(0))


def test_rnnoise_is_aligned_and_shaped():
    voice, noise = _voice_and_noise()
    x = (voice + noise)[None]
    y, p = rnnoise(x)
    assert y.shape == x.shape and p.shape == (1, x.shape[-1] // 160)
    lags = range(-640, 641, 32)
    corr = [float(torch.dot(y[0, 1000 + d: 40000 + d], x[0, 1000:40000])) for d in lags]
    assert abs(list(lags)[int(np.argmax(corr))]) <= 32  # its 20 ms delay removed


def test_rnnoise_takes_noise_down_more_than_speech():
    voice, noise = _voice_and_noise()
    silence_gap = torch.zeros(16000)
    x = torch.cat([noise[:16000], voice + noise])[None]  # noise alone, then voice over noise
    y, p = rnnoise(x)
    noise_only = float(y[0, 4000:16000].pow(2).mean() / x[0, 4000:16000].pow(2).mean())
    assert noise_only < 0.3  # noise alone is suppressed
    assert float(p[0, 20:100].mean()) < float(p[0, 100:].max())
    prior = speech_prior(torch.cat([silence_gap[None], x], dim=1))
    assert prior.shape[:2] == (1, 2) and prior.shape[2] == 321
    assert float(prior[:, 0].min()) >= 0 and float(prior[:, 0].max()) <= 1
    assert float(prior[0, 0, :, :40].max()) == 0.0  # digital silence: no speech
