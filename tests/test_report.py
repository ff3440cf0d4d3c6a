"""`avremix report RUN -o report.html`: the page, and a real browser (headless Chromium) rendering it."""

import json
import os
import re
import shutil
import subprocess

import pytest

from avremix.report import write_report
from avremix.scoring import score_outputs, write_run
from tests.conftest import run_cli

CHECK = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const imgs = [...document.images], audios = [...document.querySelectorAll('audio')];
  const r = {images: imgs.length, loaded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
             audios: audios.length, ready: audios.filter(a => a.readyState >= 2 && a.duration > 0 && !a.error).length,
             rows: document.querySelectorAll('#metrics tbody tr').length};
  document.querySelector('#metrics th[data-col="2"]').click();  // sort by the first metric, ascending
  r.sorted = [...document.querySelectorAll('#metrics tbody tr:not(.mean)')].map(t => parseFloat(t.cells[2].dataset.v));
  const pre = document.createElement('pre'); pre.id = 'avremix-check'; pre.textContent = JSON.stringify(r); document.body.appendChild(pre);
}, 300));
</script></body>"""


@pytest.fixture(scope="module")
def run(remix_folders, tmp_path_factory):
    result = score_outputs(remix_folders / "est", remix_folders / "ref", remix_folders / "input", speech=False)
    folder = tmp_path_factory.mktemp("run")
    write_run(result, folder)
    return folder


def chromium() -> str:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("CI must install Debian's chromium (.ci/run does) for the browser test")
        pytest.skip("no chromium here (apt-get install chromium)")
    return exe


def browser(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--mute-audio", "--hide-scrollbars", *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_page_embeds_images_and_writes_audio_beside_it(run, tmp_path):
    page = write_report(run, tmp_path / "report.html")
    text = page.read_text()
    result = json.loads((run / "metrics.json").read_text())
    # per clip: input, output and reference spectrograms + a loudness plot; one player per file
    assert text.count("<img") == 4 * len(result["clips"])
    assert text.count("<audio") == 3 * len(result["clips"])
    wavs = sorted((tmp_path / "report_files").glob("*.wav"))
    assert len(wavs) == 3 * len(result["clips"])
    assert all(f"report_files/{w.name}" in text for w in wavs)
    assert "data:image/jpeg;base64," in text and "data:image/png;base64," in text
    # worst clip first: b (its estimate is the muddy input) before a (the reference itself)
    assert text.index("id='clip-0'><h3>b</h3>") < text.index("id='clip-1'><h3>a</h3>")
    assert "estimate only: c" in text
    assert not list(tmp_path.glob(".report.part-*"))


def test_chromium_renders_every_image_and_audio_player(run, tmp_path):
    page = write_report(run, tmp_path / "report.html")
    checked = page.with_name("checked.html")
    checked.write_text(page.read_text().replace("</body>", CHECK))
    proc = browser("--virtual-time-budget=15000", "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="avremix-check">([^<]*)</pre>', proc.stdout)
    assert found, proc.stderr[-2000:]
    r = json.loads(found.group(1))
    assert r["images"] == r["loaded"] == 8
    assert r["audios"] == r["ready"] == 6
    result = json.loads((run / "metrics.json").read_text())
    assert r["rows"] == len(result["rows"]) + sum(len(c["values"]) for c in result["clips"])  # mean rows, then clip rows
    values = [v for v in r["sorted"] if v is not None]
    assert values == sorted(values) and r["sorted"][: len(values)] == values  # ascending, empty cells last
    shot = tmp_path / "report.png"
    browser("--window-size=1450,1400", f"--screenshot={shot}", "--virtual-time-budget=5000", page.as_uri())
    assert shot.stat().st_size > 50_000  # a page with pictures, not a blank one


def test_cli_report_errors_and_overwrite(run, tmp_path):
    out = tmp_path / "r.html"
    proc = run_cli("report", run, "-o", out, check=True)
    assert out.is_file() and str(out) in proc.stderr
    again = run_cli("report", run, "-o", out)
    assert again.returncode == 2 and "output exists; pass --overwrite" in again.stderr
    assert run_cli("report", run, "-o", out, "--overwrite").returncode == 0
    missing = run_cli("report", tmp_path / "nothing", "-o", tmp_path / "x.html")
    assert missing.returncode == 2 and "no metrics.json here" in missing.stderr and len(missing.stderr.strip().splitlines()) == 1
    wrong = run_cli("report", run, "-o", tmp_path / "x.txt")
    assert wrong.returncode == 2 and "ending in .html" in wrong.stderr
    assert not (tmp_path / "x.html").exists() and not (tmp_path / "x.txt").exists()
