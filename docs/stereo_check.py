"""``highlight --channels independent`` against ``--channels linked`` on a Muddy Mix test split made stereo.

Each test clip's input stems and target stems get the same stereo placement (seeded): dialogue panned
within ±0.15, music within ±0.5 with its right channel 4-15 ms late (a spread image), effects within ±0.8
(constant-power panning). The stereo input goes through the engine both ways; scored per channel against
the stereo target: MAG, W-dis, MAG at matched loudness, and the stereo image's error (the channels' level
difference per 20 ms frame against the target's, dB, where the target is not silent).

    python docs/stereo_check.py --data /tmp/avremix-eval/muddy-real [--model highlight-cfm] [--clips N]
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from avremix.cli import streaming_threads

streaming_threads()

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import torch  # noqa: E402

from avremix import metrics as M  # noqa: E402
from avremix.checkpoint import load  # noqa: E402
from avremix.engine import Engine, EngineConfig  # noqa: E402


def place(stems: np.ndarray, pans: list[float], delays: list[int]) -> np.ndarray:
    """Mono stems ``[K, T]`` → stereo mix ``[2, T]``: constant-power pan, right channel delayed."""
    out = np.zeros((2, stems.shape[1]), np.float32)
    for s, p, d in zip(stems, pans, delays):
        a = (p + 1) * math.pi / 4
        out[0] += math.cos(a) * s
        out[1] += math.sin(a) * (s if d == 0 else np.concatenate([np.zeros(d, np.float32), s[:-d]]))
    return out


def image_error_db(y: np.ndarray, t: np.ndarray, frame: int) -> float:
    def ild(z):
        e = (z[:, : z.shape[1] // frame * frame].reshape(2, -1, frame) ** 2).mean(-1) + 1e-9
        return 10 * np.log10(e[0] / e[1]), e.sum(0)
    iy, _ = ild(y)
    it, et = ild(t)
    keep = et > 1e-4 * et.max()
    return float(np.abs(iy - it)[keep].mean())


def scores(y: np.ndarray, t: np.ndarray, rate: int) -> dict[str, float]:
    yt, tt = torch.from_numpy(np.ascontiguousarray(y)), torch.from_numpy(t)
    return {"MAG": float(M.mag(yt, tt).mean()), "W-dis": float(M.wdis(yt, tt).mean()),
            "MAG_matched": float(np.mean([float(M.mag_matched(yt[c : c + 1], tt[c : c + 1])) for c in range(2)])),
            "image_dB": image_error_db(y, t, round(0.02 * rate))}


def stereo_rows(root: Path, engines: dict[str, Engine], clips: int | None = None, seed: int = 0) -> dict[str, list[dict]]:
    """Scores per test clip (the first ``clips``) of the input and of each engine's output, placed in stereo
    with ``seed``: ``{"input": [...], name: [...]}``."""
    items = [json.loads(line) for line in open(root / "manifest.jsonl")]
    items = [i for i in items if i["split"] == "test"][:clips]
    rng = np.random.default_rng(seed)
    rows: dict[str, list[dict]] = {"input": [], **{c: [] for c in engines}}
    for it in items:
        f, rate = it["files"], it["sample_rate"]
        xs = sf.read(root / f["input_stems"], dtype="float32", always_2d=True)[0].T
        ts = sf.read(root / f["stems"], dtype="float32", always_2d=True)[0].T
        pans = [rng.uniform(-0.15, 0.15), rng.uniform(-0.5, 0.5), rng.uniform(-0.8, 0.8)]
        delays = [0, int(rng.uniform(0.004, 0.015) * rate), 0]
        x, t = place(xs, pans, delays), place(ts, pans, delays)
        frames = np.load(root / it["frames"]["frames"])
        rows["input"].append(scores(x, t, rate))
        for c, engine in engines.items():
            rows[c].append(scores(engine.process(x, frames), t, rate))
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True, help="a Muddy Mix dataset folder (build-dataset muddy)")
    p.add_argument("--model", default="highlight-cfm")
    p.add_argument("--clips", type=int, default=None, help="the first N test clips (default: all)")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    root = Path(a.data)
    rate = json.loads(open(root / "manifest.jsonl").readline())["sample_rate"]
    model = load(a.model)
    engines = {c: Engine(model, rate, EngineConfig(device="cpu", channels=c)) for c in ("independent", "linked")}
    rows = stereo_rows(root, engines, a.clips, a.seed)
    print(f"| output ({len(rows['input'])} clips, stereo) | MAG | W-dis | MAG, matched loudness | stereo image error (dB) |")
    print("|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | " + " | ".join(f"{np.mean([x[m] for x in r]):.3f}" for m in r[0]) + " |")


if __name__ == "__main__":
    main()
