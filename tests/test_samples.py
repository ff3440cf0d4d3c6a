"""The first run a newcomer sees (`make run`): a mis-mixed scene the shipped highlighter audibly repairs,
scored against the director's mix, with a report."""

import json

from avremix.data.loudness import loudness
from avremix.media.audio import read_audio
from avremix.media.probe import probe
from avremix.samples import make_scene
from tests.conftest import run_cli


def test_make_run_flow_gives_a_report_whose_before_and_after_differ(tmp_path):
    paths = make_scene(tmp_path, duration=12.0)
    info = probe(paths["input"])
    assert info.has_video and info.audio_streams and abs(info.duration - 12.0) < 0.1
    run_cli("highlight", paths["input"], "-o", tmp_path / "highlighted" / "scene.mp4", "-q", check=True)
    proc = run_cli("evaluate", "--est", tmp_path / "highlighted", "--ref", tmp_path / "reference", "--input", tmp_path / "input",
                   "--out", tmp_path / "run", "--no-speech", "--json", check=True)
    rows = json.loads(proc.stdout)["rows"]
    # the shipped default brings the scene much closer to the director's mix than the mis-mix is
    assert rows["estimate"]["MAG"] < 0.5 * rows["input"]["MAG"]
    before, sr = read_audio(paths["input"])
    after, _ = read_audio(tmp_path / "highlighted" / "scene.mp4")
    n = min(before.shape[-1], after.shape[-1])
    change = before[:, :n] - after[:, :n]
    assert loudness(change, sr) > loudness(before, sr) - 12  # the change is within 12 LU of the scene itself: audible
    report = run_cli("report", tmp_path / "run", "-o", tmp_path / "report.html", check=True)
    assert str(tmp_path / "report.html") in report.stderr
    text = (tmp_path / "report.html").read_text()
    assert text.count("<audio") == 3  # input, output, reference
