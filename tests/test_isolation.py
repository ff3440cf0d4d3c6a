"""A native crash on one file of a batch (a real SIGSEGV or SIGABRT in the worker process) fails that file
with one line, and the batch goes on: the others are written, the summary counts the crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from avremix.isolation import crash_line
from avremix.media import probe, read_audio
from avremix.samples import make_clip

CLI = [sys.executable, "-m", "avremix.cli"]

# Loaded by the interpreter at start-up from PYTHONPATH: the worker's audio decoder dies of a real
# segmentation fault (a read at address 0) on files named segv*, and of a real abort() on files named abort*.
CRASHER = textwrap.dedent("""
    import ctypes, os
    if os.environ.get("AVREMIX_WORKER_FD") or os.environ.get("AVREMIX_ISOLATE") == "0":
        from avremix.media import audio
        _iter = audio.AudioDecoder.__iter__
        def __iter__(self):
            name = os.path.basename(self.path)
            if name.startswith("segv"):
                ctypes.string_at(0)
            if name.startswith("abort"):
                os.abort()
            return _iter(self)
        audio.AudioDecoder.__iter__ = __iter__
""")


@pytest.fixture(scope="module")
def crashing(tmp_path_factory) -> dict:
    site = tmp_path_factory.mktemp("crasher")
    (site / "sitecustomize.py").write_text(CRASHER)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")]), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def batch(tmp_path_factory) -> Path:
    """Four 2 s clips; the second and the third crash the decoder."""
    folder = tmp_path_factory.mktemp("batch")
    first = make_clip(folder / "a.mkv", duration=2)
    for name in ("abort.mkv", "segv.mkv", "z.mkv"):
        os.link(first, folder / name)
    return folder


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob(".*"))


@pytest.mark.parametrize("command", ["highlight", "separate"])
def test_a_crash_fails_one_file_and_the_batch_goes_on(batch, crashing, tmp_path, command):
    out, summary = tmp_path / "out", tmp_path / "summary.jsonl"
    args = ["-s", "0"] if command == "highlight" else ["--stems", "dx"]  # separate: the default separator, loaded again after each crash
    proc = subprocess.run([*CLI, command, batch, "-o", out, *args, "--summary", summary, "-q"], capture_output=True, text=True, env=crashing, timeout=600)
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert lines[-1] == "2 done, 0 skipped, 2 failed" and "Traceback" not in proc.stderr
    errors = [ln for ln in lines if ln.startswith("avremix: error:")]
    assert errors == [f"avremix: error: {crash_line(str(batch / 'abort.mkv'), -6)}", f"avremix: error: {crash_line(str(batch / 'segv.mkv'), -11)}"]
    assert "an abort (SIGABRT)" in errors[0] and "a segmentation fault (SIGSEGV)" in errors[1]
    written = sorted(p.name for p in out.iterdir())
    assert written == (["a.mkv", "z.mkv"] if command == "highlight" else ["a", "z"]) and hidden(out) == []  # no partial output of the crashed files
    if command == "highlight":  # the files after the crash are whole
        np.testing.assert_array_equal(read_audio(out / "z.mkv")[0], read_audio(batch / "z.mkv")[0])
    else:
        assert probe(out / "z" / "dialogue.flac").duration == pytest.approx(2.0, abs=0.01)
    records = [json.loads(ln) for ln in summary.read_text().splitlines()]
    assert [(Path(r["input"]).name, r["ok"]) for r in records] == [("a.mkv", True), ("abort.mkv", False), ("segv.mkv", False), ("z.mkv", True)]
    assert all(r["version"] for r in records)


def test_a_crash_on_a_single_file_is_one_line(batch, crashing, tmp_path):
    out = tmp_path / "o.mkv"
    proc = subprocess.run([*CLI, "highlight", batch / "segv.mkv", "-o", out, "-s", "0"], capture_output=True, text=True, env=crashing, timeout=300)
    assert proc.returncode == 1 and proc.stderr.splitlines() == [f"avremix: error: {crash_line(str(batch / 'segv.mkv'), -11)}"]
    assert not out.exists() and hidden(tmp_path) == []


def test_without_isolation_a_crash_takes_the_process(batch, crashing, tmp_path):
    """What the worker process guards against (AVREMIX_ISOLATE=0 runs the batch in the command's own process)."""
    proc = subprocess.run([*CLI, "highlight", batch, "-o", tmp_path / "out", "-s", "0", "-q"], capture_output=True, text=True,
                          env={**crashing, "AVREMIX_ISOLATE": "0"}, timeout=300)
    assert proc.returncode == -6 and "done" not in proc.stderr  # the abort: no summary line, nothing after a.mkv


def test_usage_errors_still_stop_before_any_file(batch, tmp_path):
    """An error the worker finds before the first file (an unknown model) is the command's, said once."""
    proc = subprocess.run([*CLI, "highlight", batch, "-o", tmp_path / "out", "-m", "no-such-model"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1 and "no-such-model" in proc.stderr


def test_the_watching_process_stays_light():
    """What the watching process imports (the command line, the isolation, a file's result, the --stems
    words) pulls in neither torch nor a media library: a worker costs one Python start-up, not two model loads."""
    code = ("import sys, avremix.cli, avremix.isolation, avremix.result, avremix.stems; "
            "print(sorted(m for m in ('torch', 'av', 'numpy', 'avremix.pipeline') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.strip() == "[]"
