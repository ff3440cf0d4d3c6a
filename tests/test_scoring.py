"""`avremix evaluate --est DIR --ref DIR`: outputs a user already has, scored against references."""

import csv
import json
import math

import numpy as np
import pytest

from avremix.scoring import score_outputs, write_run
from tests.conftest import run_cli


@pytest.fixture(scope="module")
def remix_result(remix_folders):
    return score_outputs(remix_folders / "est", remix_folders / "ref", remix_folders / "input")


def clip(result, name):
    return next(c for c in result["clips"] if c["name"] == name)


def test_remix_every_metric_and_the_input_row(remix_result):
    est = remix_result["rows"]["estimate"]
    for key in ("MAG", "MAG_matched", "ENV", "W-dis", "flutter", "flutter_p95", "LUFS", "LRA", "PESQ-WB", "PESQ-NB", "STOI", "KLD", "T_A-V", "FAD"):
        assert key in est, key
    assert {"LUFS", "LRA", "flutter"} <= set(remix_result["rows"]["reference"])
    a, b = clip(remix_result, "a")["values"], clip(remix_result, "b")["values"]
    # a's estimate is the reference (resampled): near-perfect, and far better than its muddy input
    assert a["estimate"]["MAG"] < 0.05 * a["input"]["MAG"]
    assert a["estimate"]["KLD"] < 0.05 < a["input"]["KLD"]
    assert a["estimate"]["PESQ-WB"] > 3.5 > a["input"]["PESQ-WB"]
    assert abs(a["estimate"]["LUFS"] - a["reference"]["LUFS"]) < 0.2
    assert "T_A-V" in a["estimate"]  # a's input has a picture
    # b's estimate is its own input: no gain change, so no flutter; the director's mix does move the gains
    assert b["estimate"]["flutter"] == pytest.approx(0.0, abs=1e-6)
    assert b["reference"]["flutter"] > 0.0
    assert b["estimate"]["MAG"] == pytest.approx(b["input"]["MAG"], rel=0.2)  # the input scored over its first 3.5 s too


def test_rates_and_lengths_are_reported_not_silently_cropped(remix_result):
    notes_a, notes_b = " ".join(clip(remix_result, "a")["notes"]), " ".join(clip(remix_result, "b")["notes"])
    assert "44100 Hz resampled to the reference's 48000 Hz" in notes_a
    assert "0.500 s shorter than the reference" in notes_b and "scored over the common 3.500 s" in notes_b
    assert remix_result["unmatched"]["estimate only"] == ["c"]
    assert remix_result["examples"] == 2


def test_run_folder_json_and_csv(remix_result, tmp_path):
    json_path, csv_path = write_run(remix_result, tmp_path / "run")
    saved = json.loads(json_path.read_text())
    assert saved["rows"]["estimate"]["MAG"] == pytest.approx(remix_result["rows"]["estimate"]["MAG"])
    rows = list(csv.DictReader(open(csv_path)))
    assert {(r["clip"], r["row"]) for r in rows} >= {("a", "estimate"), ("a", "input"), ("b", "reference"), ("(mean)", "estimate")}
    assert float(next(r for r in rows if r["clip"] == "a" and r["row"] == "estimate")["MAG"]) < 0.05
    assert not list((tmp_path / "run").glob(".*part"))


def test_separation_perfect_swapped_and_consistency(stem_folders):
    perfect = score_outputs(stem_folders / "perfect", stem_folders / "ref", stem_folders / "input", ["dialogue", "effects", "music"])
    swapped = score_outputs(stem_folders / "swapped", stem_folders / "ref", stem_folders / "input", ["dialogue", "effects", "music"])
    p, s = perfect["rows"]["estimate"], swapped["rows"]["estimate"]
    for key in ("SDR", "SI-SDR", "SI-SDRi", "leakage", "KLD", "WPR", "FAD"):
        for stem in ("dialogue", "effects", "music"):
            assert f"{key}_{stem}" in p, (key, stem)
    assert {"PESQ-WB_dialogue", "PESQ-NB_dialogue", "STOI_dialogue", "consistency_dBFS", "SI-SDRi_mean"} <= set(p)
    assert p["SI-SDR_dialogue"] > 40 and p["SI-SDRi_dialogue"] > 5  # 24-bit FLAC of the reference itself
    assert p["consistency_dBFS"] < -80
    assert s["SI-SDR_dialogue"] < -10 and s["SI-SDRi_mean"] < p["SI-SDRi_mean"] - 20
    assert s["consistency_dBFS"] < -80  # swapping stems keeps their sum
    assert p["KLD_dialogue"] < 1e-3 < s["KLD_dialogue"]
    assert perfect["rows"]["input"]["SI-SDRi_dialogue"] == pytest.approx(0.0, abs=1e-6)
    assert "consistency_dBFS" not in perfect["rows"]["input"]


def test_separate_output_layout_scores_and_sums_to_the_input(stem_folders, tmp_path):
    """What `avremix separate` writes is what `evaluate --stems` reads; its stems sum to the input."""
    run_cli("separate", stem_folders / "input" / "one.mkv", "-o", tmp_path / "out", "-q", check=True)
    proc = run_cli("evaluate", "--est", tmp_path / "out", "--ref", stem_folders / "ref", "--input", stem_folders / "input",
                   "--stems", "dx", "fx", "mx", "--no-speech", "--json", check=True)
    def strict(name):
        raise AssertionError(f"{name} in the JSON: not standard JSON")

    result = json.loads(proc.stdout, parse_constant=strict)
    assert result["examples"] == 1 and result["unmatched"]["reference only"] == ["two"]
    assert result["rows"]["estimate"]["consistency_dBFS"] < -80
    assert math.isfinite(result["rows"]["estimate"]["SI-SDRi_mean"])
    assert "PESQ-WB_dialogue" not in result["rows"]["estimate"]


def test_cli_remix_out_and_notes(remix_folders, tmp_path):
    proc = run_cli("evaluate", "--est", remix_folders / "est", "--ref", remix_folders / "ref", "--input", remix_folders / "input",
                   "--out", tmp_path / "run", check=True)
    assert "2 clips (remix)" in proc.stdout and "estimate" in proc.stdout and "MAG" in proc.stdout
    assert "a: estimate at 44100 Hz resampled" in proc.stderr
    assert "estimate only, not scored: c" in proc.stderr
    assert (tmp_path / "run" / "metrics.json").is_file() and (tmp_path / "run" / "metrics.csv").is_file()


@pytest.mark.parametrize("args, message", [
    (["--est", "{est}"], "--est and --ref go together"),
    (["--est", "{est}", "--ref", "{missing}"], "--ref: no such folder"),
    (["--est", "{est}", "--ref", "{input}", "--stems", "dx", "zz"], "unknown stem 'zz'"),
    (["--est", "{est}", "--ref", "{est}", "--data", "{est}"], "choose one"),
    (["--est", "{empty}", "--ref", "{est}"], "no clip is in both --est and --ref"),
    ([], "give --data DATASET"),
])
def test_cli_errors_are_one_line(remix_folders, tmp_path, args, message):
    (tmp_path / "empty").mkdir()
    paths = {"est": remix_folders / "est", "input": remix_folders / "input", "missing": tmp_path / "nope", "empty": tmp_path / "empty"}
    proc = run_cli("evaluate", *(a.format(**paths) for a in args))
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "Traceback" not in proc.stderr


def test_one_unreadable_file_never_stops_the_others(remix_folders, tmp_path):
    import shutil

    for d in ("est", "ref"):
        shutil.copytree(remix_folders / d, tmp_path / d)
    (tmp_path / "est" / "d.wav").write_text("not audio")
    shutil.copy(remix_folders / "ref" / "a.wav", tmp_path / "ref" / "d.wav")
    proc = run_cli("evaluate", "--est", tmp_path / "est", "--ref", tmp_path / "ref", "--no-speech", "--out", tmp_path / "run")
    assert proc.returncode == 1, proc.stderr
    saved = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [c["name"] for c in saved["clips"]] == ["a", "b"]
    assert saved["failed"][0]["name"] == "d" and "d.wav" in saved["failed"][0]["error"]
    assert "2 scored, 1 failed" in proc.stderr and "Traceback" not in proc.stderr
