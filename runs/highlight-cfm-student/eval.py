"""The student against its teacher: the probe fallback's gate calibrated on validation (and the calibrated model
saved to SAVE_DIR), then the test split's rows with the references, then the split made stereo (docs/stereo_check.py).

    python runs/highlight-cfm-student/eval.py MODEL DATA OUT_JSON [SAVE_DIR]"""
import copy, json, os, sys, time
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[2] / "docs"))
import numpy as np
from pathlib import Path
from avremix.checkpoint import load
from avremix.evaluate import evaluate
from avremix.engine import Engine, EngineConfig
data = sys.argv[2]
student, teacher = load(sys.argv[1]), load("highlight-cfm")
out = {}
# 1. gate: the largest masks/probe disagreement on validation, next multiple of 0.05 above it, fully open 0.2 later
v = evaluate(student, data, split="val", references=False, shuffle_video=False)
dmax = v["probe"]["disagreement_max"]
lo = round(np.ceil(dmax / 0.05 + 1e-9) * 0.05, 2)
student.config.probe_gate = (lo, round(lo + 0.2, 2))
out["gate"] = {"val_disagreement_max": dmax, "gate": student.config.probe_gate, "val_MAG": v["rows"]["model"]["MAG"]}
print("gate", out["gate"], flush=True)
if len(sys.argv) > 4:  # the calibrated model, with the run's notes
    from avremix import checkpoint
    meta = json.loads((Path(sys.argv[1]) / "model.json").read_text())
    keep = {k: v for k, v in meta.items() if k not in ("model", "config", "sample_rate", "fps", "frame_size", "avremix_version")}
    keep.setdefault("notes", {})["probe_gate"] = (f"calibrated on validation after training: the largest masks/probe disagreement over the "
                                                  f"{v['examples']} validation clips is {dmax:.3f}; the gate opens at the next multiple of 0.05 above it and is fully open 0.2 later")
    checkpoint.save(student, sys.argv[4], notes=keep)
# 2. test split, loudness auto, video shuffled
r = evaluate(student, data, compare={"teacher (highlight-cfm)": teacher}, shuffle_video=True)
out["rows"] = r["rows"]; out["probe"] = {k: v for k, v in r["probe"].items() if k != "disagreement"}
ln = np.asarray(r["clips"]["input, loudness-normalised"]["MAG_matched"]); lnm = np.asarray(r["clips"]["input, loudness-normalised"]["MAG"])
for row in ("teacher (highlight-cfm)", "model"):
    c = r["clips"][row]
    out["rows"][row]["beats_lnorm_MAG"] = float(np.mean(np.asarray(c["MAG"]) < lnm))
    out["rows"][row]["beats_input_matched"] = float(np.mean(np.asarray(c["MAG_matched"]) < ln))
for k, row in out["rows"].items():
    print(f"{k:36s} " + " ".join(f"{m}={row[m]:.4f}" for m in ("MAG", "ENV", "W-dis", "MAG_matched", "flutter", "better_than_input", "beats_lnorm_MAG", "beats_input_matched") if m in row), flush=True)
# 3. stereo (docs/stereo_check.py's placement), independent channels
from stereo_check import stereo_rows
rate = json.loads(open(Path(data) / "manifest.jsonl").readline())["sample_rate"]
rows = stereo_rows(Path(data), {"teacher": Engine(teacher, rate, EngineConfig(device="cpu")), "student": Engine(student, rate, EngineConfig(device="cpu"))})
out["stereo"] = {name: {m: float(np.mean([x[m] for x in r])) for m in r[0]} for name, r in rows.items()}
for k, row in out["stereo"].items():
    print("stereo", k, {m: round(x, 4) for m, x in row.items()}, flush=True)
json.dump(out, open(sys.argv[3], "w"), indent=1)
