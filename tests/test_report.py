"""`avremix report RUN -o report.html`: the page, and a real browser (headless Chromium) rendering it."""

import json
import os
import re
import shutil
import subprocess

import pytest

import numpy as np

from avremix.report import loudness_figure, write_report
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


WIDTH_CHECK = """<script>
window.addEventListener('load', () => setTimeout(() => {
  const right = [...document.querySelectorAll('img, audio, .scroll, h1, p, .track')].map(e => e.getBoundingClientRect().right);
  const r = {inner: window.innerWidth, scroll: document.documentElement.scrollWidth, right: Math.max(...right),
             images: [...document.images].map(i => Math.round(i.getBoundingClientRect().width))};
  const pre = document.createElement('pre'); pre.id = 'avremix-width'; pre.textContent = JSON.stringify(r); document.body.appendChild(pre);
}, 300));
</script></body>"""


@pytest.mark.parametrize("width", [1280, 800])
def test_page_fits_the_window_it_is_opened_in(run, tmp_path, width):
    """No horizontal scrolling at 1280 px (a laptop) or 800 px: every picture, player and heading inside the
    window (the metric table scrolls in its own box); at 1280 px the pictures stand two a row."""
    page = write_report(run, tmp_path / "report.html")
    checked = page.with_name("width.html")
    checked.write_text(page.read_text().replace("</body>", WIDTH_CHECK))
    proc = browser(f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    found = re.search(r'<pre id="avremix-width">([^<]*)</pre>', proc.stdout)
    assert found, proc.stderr[-2000:]
    r = json.loads(found.group(1))
    assert r["inner"] == width and r["scroll"] <= width and r["right"] <= width, r
    images = [w for w in r["images"] if w > 0]
    assert images and all(w >= 300 for w in images), r  # shrunk to fit, not to nothing
    if width == 1280:
        assert all(width / 3 < w < width / 2 for w in images), r  # two a row: input beside loudness, output beside reference


def test_loudness_plot_names_every_line():
    """The legend names each line (input, output, reference; a silent track says it is silent), sits
    inside the picture, and the lines differ in colour and dash."""
    import matplotlib.pyplot as plt

    rate = 16000
    t = np.arange(8 * rate) / rate
    tone = 0.1 * np.sin(2 * np.pi * 440 * t)[None]
    fig = loudness_figure([("input", tone, rate), ("output", 0.5 * tone, rate), ("reference", np.zeros_like(tone), rate)], 8.0)
    try:
        ax = fig.axes[0]
        legend = ax.get_legend()
        assert [x.get_text() for x in legend.get_texts()] == ["input", "output", "reference (silent)"]
        fig.canvas.draw()
        box, page = legend.get_window_extent(), fig.bbox
        assert box.x0 >= page.x0 and box.x1 <= page.x1 and box.y0 >= page.y0 and box.y1 <= page.y1
        styles = {(line.get_color(), line.get_linestyle()) for line in ax.get_lines()}
        assert len(styles) == 3
    finally:
        plt.close(fig)
