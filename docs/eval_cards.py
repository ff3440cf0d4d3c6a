"""``make eval``: regenerate every table of the model cards (``models/*/README.md``, and their copies in the
top-level README) from the shipped checkpoints.

Each table sits between ``<!-- make eval: ID -->`` and ``<!-- /make eval -->`` in a card; this script
builds the datasets it needs (deterministic from their seeds, kept in ``--work`` between runs), runs the
evaluation in-process exactly as ``avremix evaluate`` does, and writes the table back. ``--check`` writes
nothing and fails (exit 1) when a regenerated number differs from the card's by more than 1 %.

Datasets (the real ones need ``make data-assets``):

- ``avdnr-real``: ``build-dataset avdnr --sources real --clips 451 --seed 0`` (41 test clips, held-out packages)
- ``avdnr-proc``: ``build-dataset avdnr --sources procedural --clips 150 --seed 0`` (15 test clips)
- ``muddy-real``: ``build-dataset muddy --sources real --clips 700 --seed 0`` (83 test examples)
- ``muddy-proc``: ``build-dataset muddy --sources procedural --clips 160 --seed 0`` (23 test examples)
- ``hardpairs-real``: ``build-dataset hardpairs --sources real --pairs 900 --seed 0`` (held-out packages)
- ``hardpairs-proc``: ``build-dataset hardpairs --sources procedural --pairs 200 --seed 0``

Previous defaults (the "previous default" rows) are read from git history (``git show REV:models/...``);
in a checkout without history those rows are left out, with a warning.

    python docs/eval_cards.py [--work DIR] [--only ID ...] [--check] [--print]
"""

from __future__ import annotations

import argparse
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"

DATASETS = {
    "avdnr-real": ["avdnr", "--sources", "real", "--clips", "451", "--seed", "0"],
    "avdnr-proc": ["avdnr", "--sources", "procedural", "--clips", "150", "--seed", "0"],
    "muddy-real": ["muddy", "--sources", "real", "--clips", "700", "--seed", "0"],
    "muddy-proc": ["muddy", "--sources", "procedural", "--clips", "160", "--seed", "0"],
    "hardpairs-real": ["hardpairs", "--sources", "real", "--pairs", "900", "--seed", "0"],
    "hardpairs-proc": ["hardpairs", "--sources", "procedural", "--pairs", "200", "--seed", "0"],
}

#: the checkpoint each shipped model replaced: (git revision holding it, label)
PREVIOUS = {
    "separate-cass": ("6569c34", "previous default (`separate-cass` of avremix 0.6)"),
    "highlight-cfm": ("e2dda47", "previous default (`highlight-cfm` of avremix 0.13, no probe fallback)"),
}

MARK = re.compile(r"(<!-- make eval: (?P<id>[\w-]+) -->\n)(?P<body>.*?)(<!-- /make eval -->)", re.S)
NUMBER = re.compile(r"[−-]?\d+\.\d+")


# -- data and models -----------------------------------------------------------------------------------------
def dataset(name: str, work: Path) -> Path:
    out = work / name
    if not (out / ".complete").exists():  # a build run again completes what an interrupted one began
        subprocess.run([sys.executable, "-m", "avremix.cli", "build-dataset", *DATASETS[name][:1], "-o", str(out), *DATASETS[name][1:], "-j", "2"],
                       check=True)
        (out / ".complete").write_text("built\n")
    return out


def previous(name: str, work: Path):
    """The model ``name`` replaced, from git history, or None."""
    from avremix.checkpoint import load

    rev, _ = PREVIOUS[name]
    folder = work / "previous" / name
    folder.mkdir(parents=True, exist_ok=True)
    for f in ("model.json", "model.safetensors"):
        got = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:models/{name}/{f}"], capture_output=True)
        if got.returncode != 0:
            print(f"eval_cards: warning: no {rev}:models/{name} in this checkout's history; its previous-default row is left out", file=sys.stderr)
            return None
        (folder / f).write_bytes(got.stdout)
    return load(str(folder))


# -- tables --------------------------------------------------------------------------------------------------
def _n(v: float, digits: int = 2) -> str:
    text = f"{v:.{digits}f}"
    return ("0" + text[2:] if text.startswith("-0") and float(text) == 0 else text).replace("-", "−")  # no "−0.00"


def separation_table(result: dict, rows: list[tuple[str, str, bool]]) -> str:
    stems = result["stems"]
    head = "| output | mean SI-SDRi | " + " | ".join(f"{s} SI-SDRi / SI-SDR / SDR" for s in stems) + " |\n"
    lines = [head, "|---|---|" + "---|" * len(stems) + "\n"]
    for key, label, bold in rows:
        m = result["rows"].get(key)
        if m is None:
            continue
        b = "**" if bold else ""
        cells = " | ".join(f"{b}{_n(m[f'SI-SDRi_{s}'])}{b} / {_n(m[f'SI-SDR_{s}'])} / {_n(m[f'SDR_{s}'])}" for s in stems)
        lines.append(f"| {b}{label}{b} | {b}{_n(m['SI-SDRi_mean'])}{b} | {cells} |\n")
    return "".join(lines)


def boost_table(result: dict, rows: list[tuple[str, str, bool]]) -> str:
    """What a separator's stems do for the dialogue: clips whose dialogue SI-SDR falls below the mixture's
    (do no harm), the worst dialogue SI-SDRi, and ``highlight --model none --gains dx=+6,mx=-6,fx=-6`` through
    it: how far the dialogue moves against the rest (12 dB asked) and the change of the dialogue's own level
    (least squares on the true stems)."""
    lines = [f"| output | dialogue below the mixture (of {result['examples']} clips) | worst dialogue SI-SDRi | "
             "`--gains`: dialogue against the rest, dB (mean / worst) | `--gains`: the dialogue's own level, dB (mean / worst) |\n",
             "|---|---|---|---|---|\n"]
    for key, label, bold in rows:
        m = result["rows"].get(key)
        if m is None or "boost_moved" not in m:
            continue
        b = "**" if bold else ""
        lines.append(f"| {b}{label}{b} | {m['SI-SDRi_dialogue_harmed']} | {_n(m['SI-SDRi_dialogue_min'])} | "
                     f"{b}{_n(m['boost_moved'])}{b} / {_n(m['boost_moved_min'])} | {_n(m['boost_dialogue'])} / {_n(m['boost_dialogue_min'])} |\n")
    return "".join(lines)


def onscreen_table(result: dict, rows: list[tuple[str, str, bool]]) -> str:
    """SI-SDRi / SI-SDR / SDR of ``on``, ``on`` on the hard pairs alone, ``off``, MAG of ``on`` and T_A-V."""
    lines = [f"| output | on: SI-SDRi / SI-SDR / SDR | on, {result['hard_examples']} hard pairs: SI-SDRi | off: SI-SDRi | MAG (on) | T_A-V (all / hard) |\n",
             "|---|---|---|---|---|---|\n"]
    for key, label, bold in rows:
        m = result["rows"].get(key)
        if m is None:
            continue
        b = "**" if bold else ""
        lines.append(f"| {b}{label}{b} | {b}{_n(m['SI-SDRi_on'])}{b} / {_n(m['SI-SDR_on'])} / {_n(m['SDR_on'])} | {b}{_n(m['SI-SDRi_on_hard'])}{b} | "
                     f"{_n(m['SI-SDRi_off'])} | {_n(m['MAG_on'], 5)} | {_n(m['T_A-V'], 1)} % / {_n(m['T_A-V_hard'], 1)} % |\n")
    return "".join(lines)


def remix_table(result: dict, rows: list[tuple[str, str, bool]], extra: dict | None = None) -> str:
    lines = ["| output | MAG | ENV | W-dis (s) | MAG at the target's loudness | gain flutter, dB (median / p95) | beats the input (MAG) |\n",
             "|---|---|---|---|---|---|---|\n"]
    all_rows = {**result["rows"], **(extra or {})}
    for key, label, bold in rows:
        m = all_rows.get(key)
        if m is None:
            continue
        b = "**" if bold else ""
        if "MAG" not in m:  # the target: its own flutter only
            lines.append(f"| {label} | | | | | {_n(m['flutter'])} / {_n(m['flutter_p95'])} | |\n")
            continue
        lines.append(f"| {b}{label}{b} | {_n(m['MAG'], 3)} | {_n(m['ENV'], 5)} | {_n(m['W-dis'], 3)} | {_n(m['MAG_matched'], 3)} | "
                     f"{_n(m['flutter'])} / {_n(m['flutter_p95'])} | "
                     f"{100 * m['better_than_input']:.0f} % |\n")
    return "".join(lines)


def separators(data: Path, work: Path, cache: dict, condition: str = "all") -> dict:
    from avremix.checkpoint import load
    from avremix.evaluate import evaluate_separation

    key = ("sep", data, condition)
    if key not in cache:
        compare = {"compare: separate-htdemucs": load("separate-htdemucs")}
        prev = previous("separate-cass", work)
        if prev is not None:
            compare["compare: previous"] = prev
        cache[key] = evaluate_separation(load("separate-cass"), data, compare=compare, precision="auto", condition=condition)
    return cache[key]


def onscreen(data: Path, work: Path, cache: dict) -> dict:
    from avremix.checkpoint import load
    from avremix.evaluate import evaluate_separation

    key = ("onscreen", data)
    if key not in cache:
        compare = {f"compare: {name}": load(name) for name in ("separate-onscreen-audio", "separate-onscreen-mask")}
        cache[key] = evaluate_separation(load("separate-onscreen"), data, compare=compare, precision="auto")
    return cache[key]


def highlighters(data: Path, work: Path, cache: dict, model: str = "highlight-cfm") -> dict:
    from avremix.checkpoint import load
    from avremix.evaluate import evaluate

    key = ("hl", data, model)
    if key not in cache:
        compare = {}
        if model == "highlight-cfm":
            compare["compare: highlight-visah"] = load("highlight-visah")
            own = load(model)
            own.target_lufs = None  # as `highlight --loudness off` writes it
            compare["compare: own level"] = own
            prev = previous("highlight-cfm", work)
            if prev is not None:
                compare["compare: previous"] = prev
        result = evaluate(load(model), data, separator=load("separate-cass"), compare=compare, precision="auto")
        audio_only = evaluate(load(model), data, separator=load("separate-htdemucs"), shuffle_video=False, precision="auto")
        result["rows"]["audio-only separate-then-remix"] = audio_only["rows"]["separate-then-remix"]
        cache[key] = result
    return cache[key]


SEP_ROWS = [("mixture", "mixture", False), ("ideal ratio masks", "ideal ratio masks (ceiling of a magnitude mask)", False),
            ("compare: separate-htdemucs", "`separate-htdemucs` (audio-only baseline)", False),
            ("compare: previous", PREVIOUS["separate-cass"][1], False),
            ("RNNoise", "RNNoise (`pyrnnoise`) as the dialogue, its residual shared by music and effects", False),
            ("model", "`separate-cass` (default)", True), ("model, video shuffled", "`separate-cass`, video shuffled", False),
            ("model, no picture", "`separate-cass`, no picture (an audio file, `--no-video`)", False)]
HL_ROWS = [("input", "input (the mis-mix)", False),
           ("input, loudness-normalised", "input, loudness-normalised to the training targets' median", False),
           ("separate-then-remix", "separate-then-remix (`separate-cass`, stems at DnR levels)", False),
           ("audio-only separate-then-remix", "audio-only baseline: separate-then-remix with `separate-htdemucs` (no picture anywhere)", False),
           ("compare: previous", PREVIOUS["highlight-cfm"][1], False),
           ("compare: highlight-visah", "`highlight-visah` (VisAH baseline)", False),
           ("compare: own level", "`highlight-cfm --loudness off` (the model's own level)", False),
           ("model", "`highlight-cfm` (default: `--loudness auto`, its training targets' median, −27.4 LUFS)", True),
           ("model, video shuffled", "`highlight-cfm`, video shuffled", False),
           ("target", "target (its own flutter against the input)", False)]
ONSCREEN_ROWS = [("mixture", "mixture", False), ("ideal ratio masks", "ideal ratio masks (ceiling of a magnitude mask)", False),
                 ("compare: separate-onscreen-audio", "`separate-onscreen-audio` (audio-only baseline, same size)", False),
                 ("compare: separate-onscreen-mask", "`separate-onscreen-mask` (masking baseline, pooled picture query)", False),
                 ("model", "`separate-onscreen` (default)", True), ("model, video shuffled", "`separate-onscreen`, video shuffled", False)]
VISAH_ROWS = [("input", "input (the mis-mix)", False), ("model", "`highlight-visah`", True), ("model, video shuffled", "`highlight-visah`, video shuffled", False)]

#: table id → (dataset, function of (data, work, cache) giving the markdown)
TABLES = {
    "separators-real": ("avdnr-real", lambda d, w, c: separation_table(separators(d, w, c), SEP_ROWS)),
    "separators-real-dialogue-led": ("avdnr-real", lambda d, w, c: separation_table(separators(d, w, c, "dialogue-led"), SEP_ROWS)),
    "separators-real-dialogue": ("avdnr-real", lambda d, w, c: boost_table(separators(d, w, c), SEP_ROWS)),
    "separators-real-dialogue-led-dialogue": ("avdnr-real", lambda d, w, c: boost_table(separators(d, w, c, "dialogue-led"), SEP_ROWS)),
    "separators-procedural": ("avdnr-proc", lambda d, w, c: separation_table(separators(d, w, c), SEP_ROWS)),
    "highlight-cfm-real": ("muddy-real", lambda d, w, c: remix_table(highlighters(d, w, c), HL_ROWS)),
    "highlight-cfm-procedural": ("muddy-proc", lambda d, w, c: remix_table(highlighters(d, w, c), HL_ROWS)),
    "highlight-visah-real": ("muddy-real", lambda d, w, c: remix_table(highlighters(d, w, c, "highlight-visah"), VISAH_ROWS)),
    "highlight-visah-procedural": ("muddy-proc", lambda d, w, c: remix_table(highlighters(d, w, c, "highlight-visah"), VISAH_ROWS)),
    "onscreen-real": ("hardpairs-real", lambda d, w, c: onscreen_table(onscreen(d, w, c), ONSCREEN_ROWS)),
    "onscreen-procedural": ("hardpairs-proc", lambda d, w, c: onscreen_table(onscreen(d, w, c), ONSCREEN_ROWS)),
}


# -- cards ---------------------------------------------------------------------------------------------------
def numbers(text: str) -> list[float]:
    return [float(x.replace("−", "-")) for x in NUMBER.findall(text)]


def differ(old: str, new: str, tolerance: float = 0.01) -> str | None:
    a, b = numbers(old), numbers(new)
    if len(a) != len(b):
        return f"{len(a)} numbers in the card, {len(b)} regenerated"
    for x, y in zip(a, b):
        if abs(x - y) > tolerance * max(abs(x), abs(y)) and abs(x - y) > 0.005:  # 1 %, or the last printed digit
            return f"{x} in the card, {y} regenerated"
    return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "avremix-eval", help="datasets and previous models (kept between runs)")
    p.add_argument("--only", nargs="+", default=None, help="table ids (default: every table the cards mark)")
    p.add_argument("--check", action="store_true", help="write nothing; exit 1 if a card's number is more than 1 %% off")
    p.add_argument("--print", dest="show", action="store_true", help="also print each regenerated table (make bench: quality beside speed)")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    cache: dict = {}
    failed = []
    for card in [*sorted(MODELS.glob("*/README.md")), ROOT / "README.md"]:
        text = card.read_text()
        ids = [m["id"] for m in MARK.finditer(text) if a.only is None or m["id"] in a.only]
        for table in ids:
            if table not in TABLES:
                print(f"{card}: unknown table {table!r}", file=sys.stderr)
                failed.append(table)
                continue
            name, make = TABLES[table]
            new = make(dataset(name, a.work), a.work, cache)
            old = next(m["body"] for m in MARK.finditer(text) if m["id"] == table)
            problem = differ(old, new)
            print(f"{card.relative_to(ROOT)} / {table}: {'matches' if problem is None else problem}")
            if a.show:
                print(new)
            if problem is not None:
                failed.append(table)
            text = MARK.sub(lambda m: m[1] + new + m[4] if m["id"] == table else m[0], text)
        if not a.check:
            card.write_text(text)
    return 1 if a.check and failed else 0


if __name__ == "__main__":
    sys.exit(main())
