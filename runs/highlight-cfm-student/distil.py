"""Distil highlight-cfm into a student with a 2.3x cheaper forward (vector field 128 wide, 6 blocks; refiner 16x3).

    python runs/highlight-cfm-student/distil.py DATA OUT STEPS [--resume]

DATA: `avremix build-dataset muddy -o DATA --sources real --clips 700 --seed 0` (the teacher's data).
Environment: CKPT, VAL, LOG (steps between checkpoints, validations, log lines; 100, 250, 25)."""
import copy, os, sys
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
from avremix.checkpoint import load
from avremix.train import TrainConfig, train
data, out, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
resume = "--resume" in sys.argv
c = copy.deepcopy(load("highlight-cfm").config)
c.hidden, c.blocks, c.mask_channels, c.mask_layers = 128, 6, 16, 3
skip = "cond_audio,cond_visual,cond_mix,cond_attn,cond_tags,inp,time,blocks,attn,out,gain,masks,mask_refine,stem_gain"
cfg = TrainConfig(model="cfm", steps=steps, batch_size=8, crop=4.0, lr=1e-3, warmup=100, schedule="cosine", lr_min=3e-5,
                  ema=0.998, silence=0.15, level_db=6.0, checkpoint_every=int(os.environ.get("CKPT", 100)), val_every=int(os.environ.get("VAL", 250)),
                  log_every=int(os.environ.get("LOG", 25)), teacher="highlight-cfm", init="highlight-cfm", init_skip=skip)
train(data, out, cfg, model_config=c, resume=resume, on_log=lambda r: print(r, flush=True))
