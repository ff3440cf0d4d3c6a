"""Figures of the README: spectrograms of a real-recordings mix beside a procedural one (``docs/real-vs-synthetic.png``).

Builds one 10 s ``avdnr`` clip from each family with the same seed (the real one needs ``make data-assets``)
and draws the mixture and its three stems on one frequency and colour scale. Needs matplotlib
(``pip install matplotlib``).

    python docs/figures.py [--seed 3] [--index 0] [--out docs/real-vs-synthetic.png]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np


def spectrogram_db(x: np.ndarray, sr: int, n_fft: int = 1024, hop: int = 256) -> np.ndarray:
    """[F, frames] power in dB (Hann window)."""
    from scipy import signal

    _, _, z = signal.stft(x, sr, nperseg=n_fft, noverlap=n_fft - hop)
    return 20 * np.log10(np.abs(z) + 1e-6)


def main() -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from avremix.data import avdnr
    from avremix.data.store import Store, read_wav

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--index", type=int, default=0, help="which clip of the tiny build to draw")
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("real-vs-synthetic.png"))
    args = ap.parse_args()
    columns = []
    with tempfile.TemporaryDirectory() as tmp:
        for family in ("real", "procedural"):
            root = Path(tmp) / family
            avdnr.build(root, args.index + 1, seed=args.seed, config=avdnr.AVDnRConfig(sources=family))
            row = sorted(Store(root, "avdnr").rows(), key=lambda r: r["id"])[args.index]
            stems = read_wav(root / row["files"]["stems"])
            columns.append((family, row, [stems.sum(0), *stems]))
    fig, axes = plt.subplots(4, 2, figsize=(12, 10), sharex=True, sharey=True)
    for c, (family, row, signals) in enumerate(columns):
        for r, (name, x) in enumerate(zip(("mixture", "dialogue", "music", "effects"), signals)):
            s = spectrogram_db(x, row["sample_rate"])
            im = axes[r, c].imshow(s, origin="lower", aspect="auto", vmin=-100, vmax=-20, cmap="magma",
                                   extent=(0, row["duration"], 0, row["sample_rate"] / 2000))
            detail = ""
            if name != "mixture" and row.get("assets", {}).get(name):
                detail = f" ({row['assets'][name][0]['package']})"
            axes[r, c].set_title(f"{family}: {name}{detail}", fontsize=9)
            axes[r, c].set_ylabel("kHz")
    axes[-1, 0].set_xlabel("s")
    axes[-1, 1].set_xlabel("s")
    fig.colorbar(im, ax=axes, shrink=0.6, label="dB")
    fig.savefig(args.out, dpi=80)
    print(args.out)


if __name__ == "__main__":
    main()
