"""Both highlighters learn, and run chunked through the engine like whole."""

import numpy as np
import pytest
import torch

from avremix.data.datasets import MuddyDataset
from avremix.engine import Engine, EngineConfig
from avremix.flow import integrate
from avremix.nets.cfm import CFMConfig, CFMHighlighter
from avremix.nets.visah import VisAH, VisAHConfig

TINY = {
    "cfm": lambda: CFMHighlighter(CFMConfig(hidden=32, blocks=2, attn_layers=1, heads=2, visual_dim=16, rollout_steps=1)),
    "cfm-deep-masks": lambda: CFMHighlighter(CFMConfig(hidden=32, blocks=2, attn_layers=1, heads=2, visual_dim=16, rollout_steps=1,
                                                       mask_channels=8, mask_layers=3)),
    "cfm-tags": lambda: CFMHighlighter(CFMConfig(hidden=32, blocks=2, attn_layers=1, heads=2, visual_dim=16, rollout_steps=1, tags=True)),
    "visah": lambda: VisAH(VisAHConfig(hidden=32, enc_blocks=1, latent_layers=1, context_layers=1, heads=2, visual_dim=16)),
}
# loss after 200 steps on one fixed batch must fall below this fraction of the first step's loss
THRESHOLD = {"cfm": 0.65, "visah": 0.65}


@pytest.fixture(scope="module")
def batch(muddy_corpus):
    ds = MuddyDataset(muddy_corpus, "train", crop=1.0, seed=0)
    items = [ds[i] for i in range(2)]
    return {k: torch.stack([it[k] for it in items]) for k in ("input", "target", "frames", "input_stems")}


@pytest.mark.parametrize("name", ["cfm", "visah"])
def test_loss_falls_on_a_fixed_batch(batch, name):
    torch.manual_seed(0)
    model = TINY[name]()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    losses = []
    for _ in range(200):
        loss, _ = model.loss(batch["input"], batch["target"], batch["frames"], batch["input_stems"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    first, last = np.mean(losses[:5]), np.mean(losses[-10:])
    assert last < THRESHOLD[name] * first, (first, last)


@pytest.mark.parametrize("name", ["cfm", "cfm-deep-masks", "visah"])
def test_untrained_model_is_the_identity(batch, name):
    """Zero-initialised output layers: training starts from 'change nothing'."""
    model = TINY[name]().eval()
    with torch.no_grad():
        out = model(batch["input"], batch["frames"])
    torch.testing.assert_close(out, batch["input"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("name", ["cfm", "cfm-tags", "visah"])
def test_chunked_highlight_matches_whole_clip(muddy_corpus, name):
    """Through the engine (4 s segments, 1 s overlap, 1 s context) vs one call on the whole 4 s... 8 s clip.
    With stem tags (the shipped default's stream), YAMNet runs on each chunk rather than on the whole clip."""
    torch.manual_seed(1)
    model = TINY[name]().eval()
    if name == "cfm":
        model.config.noise = 1.0  # the seeded noise path too: the engine's noise must line up with a whole-clip draw
    for p in model.parameters():  # a non-trivial model: perturb the zero-initialised output layers too
        p.data.add_(0.02 * torch.randn_like(p))
    if name == "cfm-tags":  # tags that steer the masks as strongly as the mask head itself
        model.mask_tags.weight.data.normal_(0.0, 2.0)
    ds = MuddyDataset(muddy_corpus, "train")
    a, b = ds[0], ds[1]
    audio = torch.cat([a["input"], b["input"]], dim=1)  # [1, 8 s]
    frames = torch.cat([a["frames"], b["frames"]], dim=0)  # [80, H, W, 3]
    engine = Engine(model, 16000, EngineConfig(segment=4.0, overlap=1.0, context=1.0, device="cpu", seed=3))
    chunked = engine.process(audio.numpy(), list(frames.numpy()))
    with torch.no_grad():
        kwargs = {"noise": torch.from_numpy(engine.noise.slice(0, audio.shape[1]).numpy())[None, None]} if model.generative else {}
        whole = model(audio[None], frames[None], **kwargs)[0].numpy()
    change = np.sqrt(np.mean((whole - audio.numpy()) ** 2))
    err = np.sqrt(np.mean((chunked - whole) ** 2))
    assert change > 1e-3  # the model does something
    assert err < 0.25 * change, (err, change)


@pytest.mark.parametrize("steps", [1, 2, 5])
def test_gain_velocity_carries_the_input_to_its_gain_exactly(steps):
    """When the target is a per-bin gain of the source (x1 = G·x0), the gain term of the velocity,
    (G - 1) / (1 - t + t·G) · x_t, is that straight path's own velocity: Euler lands on x1 in any steps."""
    model = CFMHighlighter(CFMConfig(hidden=16, blocks=1, attn_layers=1, heads=2, visual_dim=8, stems=0))
    bins = model.spectral.bins
    log_gain = torch.linspace(-1.5, 1.5, bins)  # a different gain per frequency bin
    with torch.no_grad():
        model.gain.bias.copy_(log_gain)  # weights stay zero: G = exp(bias) whatever the input
    x0 = torch.randn(2, 2, bins, 7)
    cond = model.condition(x0, None)
    x1 = integrate(lambda x, t: model.velocity(x, t, cond), x0, steps, "euler")
    bound = model.config.max_log_gain
    gain = torch.exp(bound * torch.tanh(log_gain / bound))  # the head's bounded gain
    torch.testing.assert_close(x1, x0 * gain[None, None, :, None], atol=1e-4, rtol=1e-4)


def test_mask_refinement_depth_keeps_the_default_layout():
    """``mask_layers`` adds dilated layers; the default (1) keeps the layer names that 0.2 checkpoints were saved with."""
    def names(**kw):
        return sorted(k for k in CFMHighlighter(CFMConfig(**kw)).state_dict() if k.startswith("mask_refine."))
    assert names() == [f"mask_refine.{i}.{p}" for i in (0, 2, 4) for p in ("bias", "weight")]
    deep = CFMHighlighter(CFMConfig(mask_channels=8, mask_layers=4)).mask_refine
    convs = [m for m in deep if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 6 and [c.dilation for c in convs[1:-1]] == [(2, 1), (4, 2), (8, 1), (2, 2)]
    x = torch.randn(1, 4, 321, 50)  # [B, 1 + K, F, N]: the refinement keeps the spectrogram's shape
    assert deep(x).shape == (1, 3, 321, 50)


def test_source_masks_learn_the_input_stems(batch):
    """The source-aware gain's masks fit the stems' ratio masks when the stems are given."""
    torch.manual_seed(0)
    model = CFMHighlighter(CFMConfig(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16, rollout_steps=0))
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x_in = model.spectral.encode(batch["input"])
    fits = []
    for _ in range(40):
        loss = model.mask_loss(model.condition(x_in, batch["frames"]).masks, batch["input_stems"], x_in)
        opt.zero_grad()
        loss.backward()
        opt.step()
        fits.append(loss.item())
    assert fits[-1] < 0.5 * fits[0], (fits[0], fits[-1])


def test_flow_starts_from_the_input_unless_noise_is_asked_for(batch):
    """``noise = 0`` (default): one deterministic remix whatever the noise; ``noise > 0``: the noise matters."""
    torch.manual_seed(0)
    model = TINY["cfm"]().eval()
    for p in model.parameters():
        p.data.add_(0.05 * torch.randn_like(p))
    z1, z2 = torch.randn_like(batch["input"]), torch.randn_like(batch["input"])
    with torch.no_grad():
        quiet = [model(batch["input"], batch["frames"], noise=z) for z in (z1, z2)]
        model.config.noise = 1.0
        noisy = [model(batch["input"], batch["frames"], noise=z) for z in (z1, z2)]
    torch.testing.assert_close(quiet[0], quiet[1])
    assert (noisy[0] - noisy[1]).abs().max() > 1e-4
    assert (noisy[0] - quiet[0]).abs().max() > 1e-4


@pytest.mark.parametrize("name", ["cfm", "visah", "cass"])
def test_one_picture_per_chunk_equals_one_per_channel(muddy_corpus, name):
    """The engine hands models with ``shared_visual`` one picture per chunk for all its channels (the frame
    CNN runs once, not C times): a stereo clip gets exactly what it got with the picture repeated."""
    from avremix.nets.cass import CASSConfig, CASSSeparator

    torch.manual_seed(2)
    model = (TINY[name]() if name != "cass" else CASSSeparator(CASSConfig(hidden=32, blocks=1, heads=2, visual_dim=16, cond_blocks=1))).eval()
    for p in model.parameters():
        p.data.add_(0.02 * torch.randn_like(p))
    assert model.shared_visual
    item = MuddyDataset(muddy_corpus, "train")[0]
    stereo = torch.cat([item["input"], 0.5 * item["input"].flip(-1)]).numpy()  # [2, T]: two different channels
    frames = list(item["frames"].numpy())
    config = EngineConfig(segment=2.0, overlap=0.5, context=0.5, device="cpu", precision="fp32", batch_size=2)
    shared = Engine(model, 16000, config).process(stereo, frames)
    other_picture = Engine(model, 16000, config).process(stereo, [255 - f for f in frames])
    assert np.abs(shared - other_picture).max() > 1e-4  # the picture matters to this model
    model.shared_visual = False  # the instance attribute: the engine repeats the picture for each channel
    repeated = Engine(model, 16000, config).process(stereo, frames)
    np.testing.assert_allclose(shared, repeated, atol=1e-5, rtol=0)


def test_stem_tags_stream_starts_as_the_model_without_it_and_learns(batch):
    """``tags=True`` adds YAMNet's stem tags through zero-initialised layers: a checkpoint saved without them
    gives the same remix until training moves them, and the loss reaches them."""
    torch.manual_seed(0)
    kw = dict(hidden=32, blocks=2, attn_layers=1, heads=2, visual_dim=16, rollout_steps=1)
    plain, tagged = CFMHighlighter(CFMConfig(**kw)), CFMHighlighter(CFMConfig(**kw, tags=True))
    for p in plain.parameters():
        p.data.add_(0.02 * torch.randn_like(p))
    missing, unexpected = tagged.load_state_dict(plain.state_dict(), strict=False)
    assert sorted({k.split(".")[0] for k in missing}) == ["cond_tags", "mask_tags"] and not unexpected
    with torch.no_grad():
        torch.testing.assert_close(tagged(batch["input"], batch["frames"]), plain(batch["input"], batch["frames"]))
    tags = tagged.stem_tags(batch["input"], tagged.spectral.encode(batch["input"]).shape[-1])
    assert tags.shape == (2, 3, 51)  # [B, stems, STFT frames of a 1 s crop]
    loss, _ = tagged.loss(batch["input"], batch["target"], batch["frames"], batch["input_stems"])
    loss.backward()
    assert tagged.cond_tags.weight.grad.abs().sum() > 0 and tagged.mask_tags.weight.grad.abs().sum() > 0
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):  # as the engine runs it at --precision auto
        assert torch.isfinite(tagged(batch["input"], batch["frames"])).all()
    with pytest.raises(ValueError, match="stem tags"):
        tagged.condition(tagged.spectral.encode(batch["input"]), batch["frames"])


def test_probe_fallback_moves_the_masks_only_where_they_disagree_with_the_probe():
    """``probe=True``: below ``probe_gate[0]`` (masks and probe agree about the chunk's shares) the masks are
    untouched; from ``probe_gate[1]`` on, every frame's music and effects shares are re-divided as the probe
    divides them, the dialogue share stays the masks' and the masks still sum to one per bin; in between,
    part of the way."""
    torch.manual_seed(0)
    model = CFMHighlighter(CFMConfig(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16, probe=True, probe_gate=(0.3, 0.6)))
    probe = torch.tensor([0.3, 0.6, 0.1])  # the probe hears music 6:1 over effects whatever the embedding
    with torch.no_grad():
        model.probe[1].weight.zero_()
        model.probe[1].bias.copy_(probe.log())
    emb = torch.randn(1, model.probe[1].in_features, 20)
    power = torch.rand(1, 1, 33, 20) + 0.1  # [B, 1, F, N]

    def masks_with(shares: list[float]) -> torch.Tensor:
        logits = torch.tensor(shares).log()[None, :, None, None] + 0.3 * torch.randn(1, 3, 33, 20)
        return torch.softmax(logits, dim=1)

    def frame_shares(m: torch.Tensor) -> torch.Tensor:
        return (m * power).sum(dim=2)[0] / power.sum(dim=2)[0]  # [K, N]

    agree = masks_with([0.1, 0.75, 0.15])  # a dialogue share unlike the probe's does not open the gate
    assert torch.equal(model.fallback(agree, power, emb), agree)  # untouched, bit for bit
    batch = torch.cat([agree, masks_with([0.1, 0.05, 0.85])])  # one chunk agrees, the other does not
    moved = model.fallback(batch, power.expand(2, -1, -1, -1), emb.expand(2, -1, -1))
    assert torch.equal(moved[0], agree[0]) and not torch.allclose(moved[1], batch[1], atol=1e-2)
    wrong = masks_with([0.1, 0.05, 0.85])  # music taken for effects: TV ~0.7 > 0.6
    fixed = model.fallback(wrong, power, emb)
    torch.testing.assert_close(fixed.sum(dim=1), torch.ones(1, 33, 20))
    before, after = frame_shares(wrong), frame_shares(fixed)
    torch.testing.assert_close(after[0], before[0], atol=1e-4, rtol=0)  # dialogue as the masks had it
    torch.testing.assert_close(after[1] / (after[1] + after[2]), torch.full((20,), 6 / 7), atol=1e-3, rtol=0)
    halfway = masks_with([0.1, 0.3, 0.6])  # TV ~0.45: half the way
    music = ((model.fallback(halfway, power, emb) * power).sum(dim=(2, 3)) / power.sum())[0, 1]
    assert (halfway * power).sum(dim=(2, 3))[0, 1] / power.sum() + 0.1 < music < 0.7, music


def test_probe_learns_the_stems_shares_from_its_own_loss(batch):
    """The probe's loss reaches only the probe (the masks' correction is detached from it), and a few steps
    on it bring the probe's shares toward the stems'."""
    torch.manual_seed(0)
    model = CFMHighlighter(CFMConfig(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16, rollout_steps=1, probe=True))
    N = model.spectral.encode(batch["input"]).shape[-1]
    _, emb = model.yamnet(batch["input"], N)
    assert emb.shape == (2, model.probe[1].in_features, N)
    loss, parts = model.loss(batch["input"], batch["target"], batch["frames"], batch["input_stems"])
    assert "probe" in parts
    opt = torch.optim.Adam(model.probe.parameters(), 3e-2)
    first = model.probe_loss(emb, batch["input_stems"]).item()
    for _ in range(30):
        fit = model.probe_loss(emb, batch["input_stems"])
        opt.zero_grad()
        fit.backward()
        opt.step()
    assert fit.item() < 0.8 * first, (first, fit.item())
    with pytest.raises(ValueError, match="probe"):
        model.condition(model.spectral.encode(batch["input"]), batch["frames"])


def test_null_picture_lets_a_highlighter_run_on_audio_alone(batch, tmp_path):
    """``picture_drop`` trains a learned null picture in place of the frames; a model trained so runs on an
    audio file (``highlight`` writes it), while one that saw a picture on every item still needs one."""
    import soundfile as sf

    from avremix import checkpoint
    from avremix.highlight import highlight_file
    from avremix.media import read_audio

    kw = dict(hidden=32, blocks=2, attn_layers=1, heads=2, visual_dim=16, rollout_steps=1)
    plain = CFMHighlighter(CFMConfig(**kw)).eval()
    assert not plain.picture_optional
    with pytest.raises(ValueError, match="needs visual context"):
        Engine(plain, 16000).process(batch["input"][0].numpy(), None)
    torch.manual_seed(0)
    model = CFMHighlighter(CFMConfig(**kw, picture_drop=1.0))
    for p in model.parameters():
        p.data.add_(0.02 * torch.randn_like(p))
    null = model.null_picture.detach().clone()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    for _ in range(10):
        loss, _ = model.loss(batch["input"], batch["target"], batch["frames"], batch["input_stems"])
        opt.zero_grad()
        loss.backward()
        assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.frames.parameters())  # every item saw the null picture
        opt.step()
    assert (model.null_picture.detach() - null).abs().sum() > 0  # it learned
    checkpoint.save(model.eval(), tmp_path / "audiofirst")
    loaded = checkpoint.load(str(tmp_path / "audiofirst"))
    assert loaded.picture_optional
    torch.testing.assert_close(loaded.null_picture.float(), model.null_picture.detach(), atol=1e-2, rtol=1e-2)  # half precision on disk
    x = batch["input"][0].numpy()  # [1, T]
    sf.write(tmp_path / "voice.wav", x[0], 16000, subtype="FLOAT")
    result = highlight_file(tmp_path / "voice.wav", tmp_path / "out.wav", model=loaded, config=EngineConfig(device="cpu"))
    y, rate = read_audio(tmp_path / "out.wav")
    assert result.output.endswith("out.wav") and rate == 16000 and y.shape == x.shape and np.isfinite(y).all()
    assert np.abs(y - x).max() > 1e-4  # remixed, not copied
