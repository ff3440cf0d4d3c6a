"""`avremix train`: overrides, checkpoints and resume, validation log, DDP on two CPU ranks."""

import csv
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from avremix import checkpoint
from avremix.errors import UsageError
from avremix.nets.visah import VisAHConfig
from avremix.train import TrainConfig, TrainingSet, apply_overrides, silent_stretch, train

TINY_SETS = ["model.hidden=32", "model.enc_blocks=1", "model.latent_layers=1", "model.context_layers=1", "model.heads=2", "model.visual_dim=16"]


def tiny(steps: int, **kw) -> tuple[TrainConfig, VisAHConfig]:
    config = TrainConfig(model="visah", steps=steps, batch_size=2, crop=1.0, val_every=2, checkpoint_every=2, log_every=1, val_examples=2, **kw)
    model_config = VisAHConfig()
    apply_overrides(config, model_config, TINY_SETS)
    return config, model_config


def test_overrides_are_typed_and_checked():
    config, model_config = TrainConfig(), VisAHConfig()
    apply_overrides(config, model_config, ["steps=7", "lr=0.001", "augment=false", "model.hidden=48", "model.spectral.hop=160", "model.frame_size=32,32",
                                           "model.visual=builtin,clip", "modes=discrete", "silence=0.3"])
    assert (config.steps, config.lr, config.augment, config.modes, config.silence) == (7, 0.001, False, ("discrete",), 0.3)
    assert model_config.visual == ("builtin", "clip")
    assert (model_config.hidden, model_config.spectral.hop, model_config.frame_size) == (48, 160, (32, 32))
    with pytest.raises(UsageError, match="unknown setting"):
        apply_overrides(config, model_config, ["stepz=3"])
    with pytest.raises(UsageError, match="unknown setting"):
        apply_overrides(config, model_config, ["model.depth=3"])
    with pytest.raises(UsageError, match="not a valid"):
        apply_overrides(config, model_config, ["steps=many"])


def test_train_checkpoint_resume_and_export(muddy_corpus, tmp_path):
    run = tmp_path / "run"
    config, model_config = tiny(3)
    last, _ = train(muddy_corpus, run, config, model_config)
    assert last["step"] == 3 and "val_model_MAG" in last
    with pytest.raises(UsageError, match="--resume"):
        train(muddy_corpus, run, config, model_config)
    config, model_config = tiny(5)
    last, _ = train(muddy_corpus, run, config, model_config, resume=True)
    assert last["step"] == 5
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["step"] == 5
    rows = list(csv.DictReader(open(run / "log.csv")))
    assert [int(r["step"]) for r in rows if not r["val_model_MAG"]] == [1, 2, 3, 4, 5]
    assert all(float(r["val_input_MAG"]) > 0 for r in rows if r["val_model_MAG"])
    model = checkpoint.load(str(run / "model"))
    assert model.name == "visah" and model.config.hidden == 32
    from avremix.evaluate import target_loudness

    assert model.target_lufs == pytest.approx(target_loudness(muddy_corpus), abs=0.01)  # what `highlight --loudness auto` brings it to
    x = torch.randn(1, 1, 16000) * 0.1
    with torch.no_grad():
        assert model(x, torch.zeros(1, 10, 64, 64, 3, dtype=torch.uint8)).shape == x.shape


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_resume_on_cuda(muddy_corpus, tmp_path):  # runs on a GPU machine only: the EMA must come back on the model's device
    config, model_config = tiny(2, device="cuda")
    train(muddy_corpus, tmp_path / "run", config, model_config)
    config, model_config = tiny(4, device="cuda")
    last, _ = train(muddy_corpus, tmp_path / "run", config, model_config, resume=True)
    assert last["step"] == 4 and np.isfinite(last["loss"])


def test_cli_rejects_unknown_settings(muddy_corpus, tmp_path):
    from tests.conftest import run_cli

    proc = run_cli("train", "--data", muddy_corpus, "-o", tmp_path / "r", "--set", "nonsense=1")
    assert proc.returncode == 2 and "nonsense" in proc.stderr and "Traceback" not in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_cpu_ranks_end_with_identical_weights(muddy_corpus, tmp_path):
    worker = tmp_path / "worker.py"
    worker.write_text(f"""
import os, sys
import torch
from safetensors.torch import save_file
import numpy as np

from avremix.train import TrainConfig, TrainingSet, apply_overrides, silent_stretch, train
from avremix.nets.visah import VisAHConfig
config = TrainConfig(model="visah", steps=3, batch_size=1, crop=1.0, val_every=100, checkpoint_every=100, log_every=1, augment=True)
model_config = VisAHConfig()
apply_overrides(config, model_config, {TINY_SETS!r})
_, model = train(sys.argv[1], sys.argv[2], config, model_config)
save_file({{k: v.contiguous() for k, v in model.state_dict().items()}}, os.path.join(sys.argv[2], f"rank{{os.environ['RANK']}}.safetensors"))
""")
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                           "--master_port", str(_free_port()), str(worker), str(muddy_corpus), str(out)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    a, b = load_file(out / "rank0.safetensors"), load_file(out / "rank1.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=0, rtol=0)
    assert (out / "log.csv").exists()  # rank 0 wrote the log


def test_ema_warms_up():
    from avremix.train import EMA

    model = torch.nn.Linear(2, 2)
    ema = EMA(model, 0.999)
    with torch.no_grad():
        model.weight.fill_(1.0)
    for _ in range(50):
        ema.update(model)
    # a plain 0.999 average would still be ~95 % the initial weights after 50 updates
    assert torch.allclose(ema.shadow["weight"], torch.ones(2, 2), atol=0.05)


def test_init_fine_tunes_from_a_saved_model(muddy_corpus, tmp_path):
    config, model_config = tiny(2)
    train(muddy_corpus, tmp_path / "a", config, model_config)
    saved = checkpoint.load(str(tmp_path / "a" / "model"))
    config, model_config = tiny(0, init=str(tmp_path / "a" / "model"))
    _, model = train(muddy_corpus, tmp_path / "b", config, model_config)
    for k, v in saved.state_dict().items():  # starts from exactly those weights
        torch.testing.assert_close(model.state_dict()[k], v)
    config, model_config = tiny(1, init=str(tmp_path / "a" / "model"))
    model_config.hidden = 48
    with pytest.raises(UsageError, match="do not fit"):
        train(muddy_corpus, tmp_path / "c", config, model_config)


def test_silence_augmentation_silences_input_target_and_stems_together(muddy_corpus):
    rng = np.random.default_rng(0)
    for _ in range(20):
        curve = silent_stretch(32000, 16000, rng)
        silent = np.flatnonzero(curve == 0)
        assert 0.25 * 16000 <= len(silent) <= 1.5 * 16000 and np.ptp(silent) == len(silent) - 1  # one stretch
        assert curve.max() <= 1.0 and np.abs(np.diff(curve)).max() < 0.01  # faded, no click
    ds = TrainingSet(muddy_corpus, "train", 2.0, True, 0, silence=1.0)
    item = ds[0]
    quiet = (item["target"][0].abs() < 1e-9) & (item["input"][0].abs() < 1e-9) & (item["stems"].abs().amax(0) < 1e-9)
    assert quiet.sum() >= 0.25 * 16000  # the same stretch in all three
    loud = TrainingSet(muddy_corpus, "train", 2.0, True, 0, silence=0.0)[0]
    assert (loud["target"][0].abs() < 1e-9).sum() < quiet.sum()
    with pytest.raises(UsageError, match="modes"):
        TrainingSet(muddy_corpus, "train", 2.0, True, 0, modes=("loud",))
    with pytest.raises(UsageError, match="silence"):
        TrainingSet(muddy_corpus, "train", 2.0, True, 0, silence=1.5)


def test_level_augmentation_range_and_off(muddy_corpus):
    """``level_db``: every augmented crop's overall level within ±level_db of the data's, input and target
    alike; 0 keeps the target exactly as built (a model can then learn the targets' loudness)."""
    base = TrainingSet(muddy_corpus, "train", None, False, 0)[0]["target"]
    ref = float(base.square().sum())
    wide = TrainingSet(muddy_corpus, "train", None, True, 0, level_db=6.0)
    levels = [10 * np.log10(float(wide[0]["target"].square().sum()) / ref) for _ in range(12)]
    assert max(np.abs(levels)) <= 6.0 + 1e-3 and np.ptp(levels) > 2.0  # drawn, within the range
    fixed = TrainingSet(muddy_corpus, "train", None, True, 0, level_db=0.0)
    for _ in range(3):
        item = fixed[0]
        torch.testing.assert_close(item["target"], base)
        assert not torch.equal(item["input"], base)  # the mis-mix itself is still drawn afresh
    with pytest.raises(UsageError, match="level_db"):
        TrainingSet(muddy_corpus, "train", 2.0, True, 0, level_db=-1.0)


def test_picture_augment_restyles_the_shot_and_keeps_its_motion(muddy_corpus):
    """``picture_augment``: one restyle for the whole crop (colour, crop, blur, noise), so a change that
    happens in the picture still happens, where and when it did; off, the frames are the data's."""
    from avremix.train import picture_restyle

    frames = np.full((6, 64, 64, 3), 120, np.uint8)
    frames[3:, 32:] = 250  # the lower half lights up at frame 3
    rng = np.random.default_rng(0)
    for _ in range(5):
        out = picture_restyle(frames, rng).astype(np.float32)
        assert out.shape == frames.shape
        change = np.abs(out[1:] - out[:-1]).mean(axis=(1, 2, 3))  # [5] frame-to-frame
        assert change.argmax() == 2 and change[2] > 2 * np.delete(change, 2).max()  # the event stays at its frame
    plain = TrainingSet(muddy_corpus, "train", 2.0, True, 0)[0]["frames"]
    styled = TrainingSet(muddy_corpus, "train", 2.0, True, 0, picture_augment=1.0)[0]["frames"]
    assert plain.shape == styled.shape and plain.dtype == styled.dtype and not torch.equal(plain, styled)
    with pytest.raises(UsageError, match="picture_augment"):
        TrainingSet(muddy_corpus, "train", 2.0, True, 0, picture_augment=2.0)
    from avremix.features.context import context_for
    from avremix.nets.cfm import CFMConfig

    with pytest.raises(UsageError, match="feature streams"):  # a builtin-features model has no frames to restyle
        TrainingSet(muddy_corpus, "train", 2.0, True, 0, context_for(CFMConfig(visual=("builtin",))), picture_augment=0.5)


def test_interrupted_training_says_how_to_resume(muddy_corpus, tmp_path):
    """SIGINT during `avremix train`: exit 130 and advice to --resume (a training run has no --skip-existing)."""
    import signal
    import time

    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "avremix.cli", "train", "--model", "visah", "--data", str(muddy_corpus), "-o", str(run),
           "--set", "steps=100000", "--set", "batch_size=2", "--set", "crop=1.0", "--set", "log_every=1", *(a for s in TINY_SETS for a in ("--set", s))]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    deadline = time.time() + 120
    while not (run / "log.csv").exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 130
    stderr = proc.stderr.read()
    assert "interrupted (SIGINT)" in stderr and "--resume" in stderr and "--skip-existing" not in stderr and "Traceback" not in stderr


def test_init_skip_starts_a_student_with_a_resized_refinement(tmp_path):
    """``init_skip=mask_refine``: a highlighter whose mask refinement is narrower takes every other weight
    of the saved model and starts its new refinement at the identity (zero last layer); without the skip
    the sizes do not fit."""
    from avremix.nets.cfm import CFMConfig, CFMHighlighter
    from avremix.train import _initialise

    small = dict(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16)
    torch.manual_seed(0)
    teacher = CFMHighlighter(CFMConfig(**small, mask_channels=16, mask_layers=4))
    for p in teacher.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    checkpoint.save(teacher, tmp_path / "teacher")
    student = CFMHighlighter(CFMConfig(**small, mask_channels=8, mask_layers=2))
    with pytest.raises(UsageError, match="do not fit"):
        _initialise(student, str(tmp_path / "teacher"))
    _initialise(student, str(tmp_path / "teacher"), skip=("mask_refine",))
    saved = checkpoint.load(str(tmp_path / "teacher")).state_dict()
    for k, v in student.state_dict().items():
        if k.startswith("mask_refine."):
            continue
        torch.testing.assert_close(v, saved[k])
    assert not student.mask_refine[-1].weight.any()  # the new refinement changes nothing yet


def test_teacher_distils_its_outputs_into_the_student(muddy_corpus, tmp_path):
    """``teacher=MODEL``: the student is trained to the teacher's outputs on each crop (not to the
    targets): the same run without a teacher ends further from the teacher's function."""
    from avremix.data.datasets import MuddyDataset

    torch.manual_seed(0)
    config, model_config = tiny(1)
    _, teacher = train(muddy_corpus, tmp_path / "t", config, model_config)
    for p in teacher.parameters():  # a teacher with a function of its own, far from the targets
        p.data.add_(0.05 * torch.randn_like(p))
    checkpoint.save(teacher, tmp_path / "teacher")
    teacher = checkpoint.load(str(tmp_path / "teacher")).eval()
    item = MuddyDataset(muddy_corpus, "val")[0]
    x, frames = item["input"][None], item["frames"][None]

    def distance(model):  # of STFT magnitudes, what VisAH's loss compares
        with torch.no_grad():
            a, b = (torch.stft(m.eval()(x, frames)[:, 0], 512, 128, return_complex=True, window=torch.hann_window(512)).abs()
                    for m in (model, teacher))
        return (a - b).pow(2).mean().item()

    runs = {}
    for name, extra in (("targets", {}), ("teacher", {"teacher": str(tmp_path / "teacher")})):
        torch.manual_seed(1)
        config, model_config = tiny(30, lr=1e-3, **extra)
        runs[name] = distance(train(muddy_corpus, tmp_path / name, config, model_config)[1])
    assert runs["teacher"] < 0.7 * runs["targets"], runs


def test_teacher_of_another_task_is_refused(muddy_corpus, tmp_path):
    config, model_config = tiny(1, teacher="separate-cass")
    with pytest.raises(UsageError, match="teacher=separate-cass"):
        train(muddy_corpus, tmp_path / "run", config, model_config)


def test_stem_colour_reequalises_stems_and_rebuilds_the_target(muddy_corpus):
    """``colour``: each stem's bass and treble move by up to ±colour_db (measured on noise), the target is
    the coloured stems plus what the stems did not hold, and 0 leaves the crop alone."""
    from scipy.signal import welch

    from avremix.train import stem_colour

    rng = np.random.default_rng(0)
    sr, T = 16000, 4 * 16000
    stems = rng.normal(0, 0.05, (3, T)).astype(np.float32)
    rest = rng.normal(0, 0.001, T).astype(np.float32)
    target = stems.sum(0) + rest
    moved = []
    for _ in range(8):
        out, new_target = stem_colour(stems, target, sr, rng, 1.0, 9.0)
        np.testing.assert_allclose(new_target, out.sum(0) + rest, atol=1e-5)
        f, before = welch(stems, sr, nperseg=1024)
        _, after = welch(out, sr, nperseg=1024)
        ratio = 10 * np.log10(after / before)  # [3, F] dB
        bass, treble = ratio[:, (f > 20) & (f < 60)].mean(1), ratio[:, f > 7000].mean(1)
        assert np.all(np.abs(bass) <= 9.5) and np.all(np.abs(treble) <= 9.5)
        assert np.all(np.abs(ratio[:, (f > 900) & (f < 1100)].mean(1)) < 3.5)  # mids mostly kept
        moved.append(np.abs(bass).max())
    assert max(moved) > 4.0  # the shelves are drawn, not all near 0 dB
    same, same_target = stem_colour(stems, target, sr, rng, 0.0, 9.0)
    np.testing.assert_array_equal(same, stems)
    np.testing.assert_allclose(same_target, target, atol=1e-6)
    plain = TrainingSet(muddy_corpus, "train", 2.0, True, 0)[0]
    coloured = TrainingSet(muddy_corpus, "train", 2.0, True, 0, colour=1.0)[0]
    assert not torch.allclose(plain["target"], coloured["target"])
    torch.testing.assert_close(coloured["stems"].sum(0), coloured["input"][0], atol=1e-4, rtol=0)  # still the input's stems
    with pytest.raises(UsageError, match="colour"):
        TrainingSet(muddy_corpus, "train", 2.0, True, 0, colour=1.5)


def test_new_lr_trains_the_layers_init_lacks_at_their_own_rate(muddy_corpus, tmp_path):
    """``new_lr``: a highlighter given a new stream (``model.tags``) on top of a saved one; the layers the saved
    model lacks learn at ``new_lr``, the rest at ``lr``, on the same schedule."""
    from avremix.nets.cfm import CFMConfig, CFMHighlighter
    from avremix.train import param_groups

    small = dict(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16)
    checkpoint.save(CFMHighlighter(CFMConfig(**small)), tmp_path / "plain")
    model = CFMHighlighter(CFMConfig(**small, tags=True))
    config = TrainConfig(model="cfm", lr=1e-4, init=str(tmp_path / "plain"), new_lr=1e-2)
    old, new = param_groups(model, config)
    names = {id(p): k for k, p in model.named_parameters()}
    assert sorted(names[id(p)] for p in new["params"]) == ["cond_tags.bias", "cond_tags.weight", "mask_tags.bias", "mask_tags.weight"]
    assert new["lr_scale"] == pytest.approx(100.0) and old["lr_scale"] == 1.0
    assert len(old["params"]) + len(new["params"]) == len(list(model.parameters()))
    assert len(param_groups(model, TrainConfig(model="cfm", init=str(tmp_path / "plain")))) == 1  # new_lr=0: one rate
    with pytest.raises(UsageError, match="nothing is new"):
        param_groups(CFMHighlighter(CFMConfig(**small)), config)
    # through train(): two steps, the new layers move by about new_lr a step (Adam), the old ones by about lr
    saved = checkpoint.load(str(tmp_path / "plain")).state_dict()
    config = TrainConfig(model="cfm", steps=2, batch_size=2, crop=1.0, val_every=100, checkpoint_every=100, log_every=1,
                         val_examples=2, init=str(tmp_path / "plain"), new_lr=1e-2, lr=1e-4, warmup=1, ema=0.0)
    _, trained = train(muddy_corpus, tmp_path / "run", config, CFMConfig(**small, tags=True, rollout_steps=1))
    moved_new = trained.mask_tags.weight.detach().abs().max().item()
    moved_old = (trained.cond_audio.weight.detach() - saved["cond_audio.weight"]).abs().max().item()
    assert 5e-3 < moved_new < 3e-2 and moved_old < 5e-4, (moved_new, moved_old)


def test_freeze_init_trains_only_the_layers_init_lacks(muddy_corpus, tmp_path):
    """``freeze_init``: a new stream learns to steer a saved model that stays exactly as it was loaded."""
    from avremix.nets.cfm import CFMConfig, CFMHighlighter
    from avremix.train import param_groups

    small = dict(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16)
    checkpoint.save(CFMHighlighter(CFMConfig(**small)), tmp_path / "plain")
    saved = checkpoint.load(str(tmp_path / "plain")).state_dict()
    with pytest.raises(UsageError, match="freeze_init"):
        param_groups(CFMHighlighter(CFMConfig(**small, tags=True)), TrainConfig(model="cfm", init=str(tmp_path / "plain"), freeze_init=True))
    config = TrainConfig(model="cfm", steps=2, batch_size=2, crop=1.0, val_every=100, checkpoint_every=100, log_every=1,
                         val_examples=2, init=str(tmp_path / "plain"), new_lr=1e-2, lr=1e-4, warmup=1, ema=0.0, freeze_init=True)
    _, trained = train(muddy_corpus, tmp_path / "run", config, CFMConfig(**small, tags=True, rollout_steps=1))
    state = trained.state_dict()
    assert all(torch.equal(state[k], v) for k, v in saved.items())  # every loaded layer as it was
    assert trained.mask_tags.weight.detach().abs().max().item() > 5e-3  # the new stream moved
    exported = checkpoint.load(str(tmp_path / "run" / "model")).state_dict()  # the exported (EMA) model too
    assert all(torch.allclose(exported[k].float(), v.float(), atol=1e-3) for k, v in saved.items())


def test_train_layers_fine_tunes_only_the_named_layers(muddy_corpus, tmp_path):
    """``train_layers`` with ``freeze_init``: the named layers of init train (its source masks refitted), every
    other loaded layer stays exactly as it was; unknown names and a missing freeze_init are errors."""
    from avremix.nets.cfm import CFMConfig, CFMHighlighter
    from avremix.train import param_groups

    small = dict(hidden=32, blocks=1, attn_layers=1, heads=2, visual_dim=16)
    checkpoint.save(CFMHighlighter(CFMConfig(**small)), tmp_path / "init")
    saved = checkpoint.load(str(tmp_path / "init")).state_dict()
    with pytest.raises(UsageError, match="no layer mask_refiner"):
        param_groups(CFMHighlighter(CFMConfig(**small)), TrainConfig(model="cfm", init=str(tmp_path / "init"), freeze_init=True,
                                                                     train_layers="masks,mask_refiner"))
    with pytest.raises(UsageError, match="freeze_init"):
        param_groups(CFMHighlighter(CFMConfig(**small)), TrainConfig(model="cfm", init=str(tmp_path / "init"), train_layers="masks"))
    config = TrainConfig(model="cfm", steps=2, batch_size=2, crop=1.0, val_every=100, checkpoint_every=100, log_every=1,
                         val_examples=2, init=str(tmp_path / "init"), lr=1e-3, warmup=1, ema=0.0, freeze_init=True,
                         train_layers="masks,mask_refine")
    _, trained = train(muddy_corpus, tmp_path / "run", config, CFMConfig(**small, rollout_steps=1))
    state = trained.state_dict()
    tuned = [k for k in saved if k.split(".")[0] in ("masks", "mask_refine")]
    assert tuned and all(torch.equal(state[k], v) for k, v in saved.items() if k not in tuned)  # the rest as loaded
    assert max((state[k] - saved[k]).abs().max().item() for k in tuned) > 1e-4  # the masks moved
