"""`avremix evaluate` for highlighters: reference rows, gain flutter, the flutter figure."""

import json

import numpy as np
import pytest
import torch

from avremix import checkpoint
from avremix.data.loudness import loudness
from avremix.evaluate import evaluate, flutter_figure, target_loudness
from avremix.metrics import gain_flutter
from avremix.nets.cass import CASSConfig, CASSSeparator
from avremix.nets.cfm import CFMConfig, CFMHighlighter
from tests.conftest import run_cli

SR = 16000


def tiny_cfm() -> CFMHighlighter:
    torch.manual_seed(0)
    return CFMHighlighter(CFMConfig(hidden=16, blocks=1, attn_layers=1, visual_dim=8, mask_channels=4))


def tiny_cass() -> CASSSeparator:
    torch.manual_seed(0)
    return CASSSeparator(CASSConfig(hidden=16, blocks=1, visual_dim=8, mask_channels=4, mask_layers=1))


class Identity(torch.nn.Module):
    generative = False

    def __init__(self):
        super().__init__()
        self.config = CFMConfig()

    def forward(self, audio, visual=None, noise=None):
        return audio.clone()


def test_gain_flutter_on_analytic_gains():
    t = torch.arange(4 * SR) / SR
    x = (0.1 * torch.sin(2 * np.pi * 440 * t))[None]  # [1, T]
    assert float(gain_flutter(0.5 * x, x)) == pytest.approx(0.0, abs=1e-6)  # a constant gain never flutters
    step = torch.where(t < 2.0, 1.0, 2.0)  # +6 dB once, in the middle
    assert float(gain_flutter(x * step, x)) == pytest.approx(0.0, abs=1e-6)  # median: one jump in 199 steps
    assert float(gain_flutter(x * step, x, quantile=1.0)) == pytest.approx(6.02, abs=0.05)
    wobble = 10 ** ((3 * torch.sign(torch.sin(2 * np.pi * 25 * t))) / 20)  # ±3 dB every 20 ms
    assert float(gain_flutter(x * wobble, x)) == pytest.approx(6.0, abs=0.5)


def test_reference_rows_and_flutter(muddy_corpus):
    result = evaluate(tiny_cfm(), muddy_corpus, "test", separator=tiny_cass(), compare={"compare: identity": Identity()})
    rows = result["rows"]
    assert list(rows) == ["input", "target", "input, loudness-normalised", "separate-then-remix", "compare: identity", "model", "model, video shuffled"]
    n = result["examples"]
    for name, m in rows.items():
        assert len(result["clips"][name]["flutter"]) == n
        if name != "target":
            assert set(m) >= {"MAG", "ENV", "W-dis", "MAG_matched", "flutter", "flutter_p95", "better_than_input"}
            assert 0.0 <= m["better_than_input"] <= 1.0
    # an identity model scores what the input scores and never moves the level
    assert rows["compare: identity"]["MAG"] == pytest.approx(rows["input"]["MAG"], rel=1e-5)
    assert rows["compare: identity"]["flutter"] == 0.0 and rows["input"]["flutter"] == 0.0
    # do no harm at the target's loudness: the input itself is never nearer than the input
    assert rows["compare: identity"]["better_than_input_matched"] == 0.0
    assert "better_than_input_matched" not in rows["input"] and "better_than_normalised" not in rows["input, loudness-normalised"]
    c = result["clips"]
    for name in ("model", "separate-then-remix"):
        assert rows[name]["better_than_input_matched"] == pytest.approx(np.mean(np.asarray(c[name]["MAG_matched"]) < np.asarray(c["input"]["MAG_matched"])))
        assert rows[name]["better_than_normalised"] == pytest.approx(np.mean(np.asarray(c[name]["MAG"]) < np.asarray(c["input, loudness-normalised"]["MAG"])))
    assert rows["model"]["MAG"] == result["model_MAG"] and rows["input"]["ENV"] == result["input_ENV"]
    # at the target's loudness, the loudness-normalised input is the input again: only the balance is scored
    assert rows["input, loudness-normalised"]["MAG_matched"] == pytest.approx(rows["input"]["MAG_matched"], rel=1e-3)
    assert rows["input, loudness-normalised"]["MAG"] != pytest.approx(rows["input"]["MAG"], rel=1e-2)
    assert result["target_lufs"] == pytest.approx(target_loudness(muddy_corpus), abs=1e-6)


def test_loudness_normalised_row_sits_at_the_targets_median_loudness(muddy_corpus):
    from avremix.data.loudness import normalize_loudness
    from avremix.train import TrainingSet

    level = target_loudness(muddy_corpus)
    ds = TrainingSet(muddy_corpus, "train", None, False, 0)
    targets = [loudness(ds[i]["target"][0].numpy(), SR) for i in range(len(ds))]
    assert level == pytest.approx(float(np.median(targets)), abs=1e-6)
    normed = normalize_loudness(ds[0]["input"][0].numpy(), SR, level)[0]
    assert loudness(normed, SR) == pytest.approx(level, abs=0.1)


def test_loudness_auto_scores_each_model_at_its_own_training_level(muddy_corpus):
    """`--loudness auto` (the default): a model whose sidecar names its training targets' level is scored
    as `highlight` writes it, brought to that level; an identity at the targets' median then scores what the
    loudness-normalised input scores. `off` and models without a level keep their own."""
    level = target_loudness(muddy_corpus)
    identity, plain = Identity(), Identity()
    identity.target_lufs = level
    result = evaluate(identity, muddy_corpus, "test", shuffle_video=False, compare={"compare: plain": plain})
    rows = result["rows"]
    assert result["loudness"] == {"model": level, "compare: plain": None}
    assert rows["model"]["MAG"] == pytest.approx(rows["input, loudness-normalised"]["MAG"], rel=0.02)
    assert rows["compare: plain"]["MAG"] == pytest.approx(rows["input"]["MAG"], rel=1e-5)
    off = evaluate(identity, muddy_corpus, "test", shuffle_video=False, references=False, loudness="off")
    assert off["rows"]["model"]["MAG"] == pytest.approx(rows["input"]["MAG"], rel=1e-5)


def test_cli_prints_the_rows_and_writes_the_figure(muddy_corpus, tmp_path):
    checkpoint.save(tiny_cfm(), tmp_path / "model")
    fig = tmp_path / "flutter.png"
    proc = run_cli("evaluate", "--model", tmp_path / "model", "--data", muddy_corpus, "--separator", "none", "--figure", fig, check=True)
    for row in ("input", "input, loudness-normalised", "model", "model, video shuffled", "target"):
        assert f"  {row} " in proc.stdout
    assert "separate-then-remix" not in proc.stdout
    assert fig.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and fig.stat().st_size > 10_000
    proc = run_cli("evaluate", "--model", tmp_path / "model", "--data", muddy_corpus, "--no-references", "--json", check=True)
    rows = json.loads(proc.stdout)["rows"]
    assert "input, loudness-normalised" not in rows and "model" in rows


def test_flutter_figure_has_a_row_per_row(muddy_corpus, tmp_path):
    result = evaluate(tiny_cfm(), muddy_corpus, "test", references=False)
    flutter_figure(result, tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_precision_is_the_engines(muddy_corpus):
    model = tiny_cfm()
    with torch.no_grad():  # an untrained cfm is the identity: give it something to compute
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
    fp32 = evaluate(model, muddy_corpus, "test", references=False, shuffle_video=False, precision="fp32")["rows"]["model"]
    bf16 = evaluate(model, muddy_corpus, "test", references=False, shuffle_video=False, precision="bf16")["rows"]["model"]
    assert fp32["MAG"] != bf16["MAG"] and bf16["MAG"] == pytest.approx(fp32["MAG"], rel=0.2)  # really bf16, and close


def test_probe_models_report_the_gates_disagreement(muddy_corpus, tmp_path):
    """A model with the probe fallback: evaluate gives each clip's masks/probe disagreement (the number its
    gate is set against) and how many clips open the gate; the CLI prints it; other models have none."""
    from avremix.train import TrainingSet

    torch.manual_seed(0)
    model = CFMHighlighter(CFMConfig(hidden=16, blocks=1, attn_layers=1, visual_dim=8, mask_channels=4, probe=True, probe_gate=(0.05, 0.3)))
    result = evaluate(model, muddy_corpus, "test", shuffle_video=False, references=False)
    probe = result["probe"]
    d = np.asarray(probe["disagreement"])
    assert len(d) == result["examples"] and ((d >= 0) & (d <= 1)).all()
    assert probe["opened"] == int((d > 0.05).sum()) and probe["disagreement_max"] == pytest.approx(d.max())
    item = TrainingSet(muddy_corpus, "test", None, False, 0, None)[0]
    with torch.inference_mode():
        alone = model.eval().gate_disagreement(item["input"][None], item["frames"][None])
    assert alone.item() == pytest.approx(d[0], abs=1e-4)
    assert "probe" not in evaluate(tiny_cfm(), muddy_corpus, "test", shuffle_video=False, references=False)
    checkpoint.save(model, tmp_path / "probe")
    proc = run_cli("evaluate", "--model", tmp_path / "probe", "--data", muddy_corpus, "--no-references", "--no-shuffle-video", check=True)
    assert f"on {probe['opened']} of {result['examples']} clips" in proc.stdout
