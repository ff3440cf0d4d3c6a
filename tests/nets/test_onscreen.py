"""The on-screen separator: time-aligned query, null embedding, classifier-free guidance, its baselines."""

from __future__ import annotations

import pytest
import torch

from avremix.nets.onscreen import OnScreenConfig, OnScreenSeparator

TINY = dict(hidden=32, blocks=1, cond_blocks=1, mask_channels=4, mask_layers=1, visual_dim=16)


def tiny(query: str = "aligned", **kw) -> OnScreenSeparator:
    torch.manual_seed(0)
    model = OnScreenSeparator(OnScreenConfig(query=query, **TINY, **kw))
    with torch.no_grad():  # away from the zero-initialised output layers, so every path matters
        for p in model.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return model.eval()


def inputs(batch: int = 2, seconds: float = 2.0):
    g = torch.Generator().manual_seed(1)
    audio = torch.randn(batch, 1, int(16000 * seconds), generator=g) * 0.1
    frames = torch.randint(0, 255, (batch, int(10 * seconds), 64, 64, 3), generator=g, dtype=torch.uint8)
    return audio, frames


def test_masked_start_sums_to_the_mixture():
    model = tiny(steps=0)
    audio, frames = inputs()
    with torch.no_grad():
        out = model(audio, frames)
    assert out.shape == (2, 2, audio.shape[-1])
    torch.testing.assert_close(out.sum(1, keepdim=True), audio, atol=1e-4, rtol=0)  # two masks that sum to one


def test_guidance_combines_the_picture_and_the_null_embedding():
    model = tiny(steps=2)
    audio, frames = inputs()
    with torch.no_grad():
        plain, unguided = model(audio, frames), model(audio, frames, guidance=1.0)
        null, at_zero = model(audio, None), model(audio, frames, guidance=0.0)
        strong = model(audio, frames, guidance=3.0)
    torch.testing.assert_close(plain, unguided)
    torch.testing.assert_close(at_zero, null, atol=1e-5, rtol=1e-4)  # s = 0: only the null condition is left
    assert (strong - plain).abs().max() > 1e-4 and (plain - null).abs().max() > 1e-4


def test_aligned_query_sees_timing_and_pooled_query_does_not():
    audio, frames = inputs(batch=1)
    frames[:, 10:] = 255 - frames[:, 10:]  # the picture changes halfway
    with torch.no_grad():
        aligned, pooled = tiny("aligned"), tiny("pooled")
        a, p = aligned.visual_features(frames, 100, 1), pooled.visual_features(frames, 100, 1)  # [1, D, N]
        assert (a[..., :40] - a[..., 60:]).abs().max() > 1e-3  # frame n of the picture beside frame n of the audio
        torch.testing.assert_close(p, p[..., :1].expand_as(p))  # one vector for the chunk: what, not when
        assert (aligned(audio, frames) - aligned(audio, frames.flip(1))).abs().max() > 1e-4


def test_null_embedding_in_training_and_the_audio_only_baseline():
    audio, frames = inputs()
    model = tiny(null_prob=1.0).train()
    feats = model.visual_features(frames, 50, 2)
    torch.testing.assert_close(feats, model.null.float()[None, :, None].expand(2, -1, 50))  # every item dropped
    model.eval()
    assert (model.visual_features(frames, 50, 2) - feats).abs().max() > 1e-4  # never at inference
    blind = tiny("none")
    assert blind.fps is None and not hasattr(blind, "query")  # the engine decodes no picture for it
    with torch.no_grad():
        torch.testing.assert_close(blind(audio, frames), blind(audio, None))
    assert sum(p.numel() for p in blind.parameters()) < sum(p.numel() for p in tiny().parameters())


def test_training_lowers_the_loss_on_a_picture_that_tells_which_source_is_on_screen():
    """Two noise bursts of the same kind at different times; the picture flashes with the on-screen one.
    A few dozen steps must learn to follow the flashes (the audio alone cannot tell the two apart)."""
    torch.manual_seed(3)
    model = OnScreenSeparator(OnScreenConfig(**TINY, null_prob=0.0, steps=0, rollout_steps=0))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)

    def batch(n: int = 4):
        T, F = 16000, 10
        gates = (torch.rand(n, 2, F) < 0.5).float()
        gates[:, 1] = 1 - gates[:, 0]  # never at the same time
        env = gates.repeat_interleave(T // F, dim=2)  # [n, 2, T]
        stems = torch.randn(n, 2, T) * 0.1 * env
        frames = (gates[:, 0, :, None, None, None] * 255).expand(n, F, 64, 64, 3).to(torch.uint8)
        return stems.sum(1, keepdim=True), stems, frames

    losses = []
    for _ in range(60):
        x, y, v = batch()
        loss, _ = model.loss(x, y, v)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert sum(losses[-10:]) < 0.7 * sum(losses[:10])


def test_bad_query_is_an_error():
    with pytest.raises(ValueError, match="query"):
        OnScreenConfig(query="crossattention")
