"""Batch runs at scale through the shared file path: shards, skip-existing, globs, --recursive, summaries,
output-side errors, and interruption at random moments (real processes, real signals)."""

import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from avremix.media import probe
from avremix.pipeline import expand_jobs, os_error_line, parse_shard, shard_of
from avremix.samples import make_clip
from tests.conftest import run_cli

CLI = [sys.executable, "-m", "avremix.cli"]


def wav(path: Path, seconds: float = 1.0, sr: int = 16000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    sf.write(path, (0.1 * np.sin(2 * np.pi * 440 * t))[:, None].repeat(2, 1), sr, subtype="PCM_16")
    return path


@pytest.fixture
def tree(tmp_path) -> Path:
    """22 short files in nested folders, two of them with the same name in different folders."""
    root = tmp_path / "in"
    for k in range(20):
        wav(root / f"d{k % 3}" / f"clip{k}.wav", 0.5)
    wav(root / "d0" / "same.wav", 0.5)
    wav(root / "d1" / "same.wav", 0.5)
    return root


def leftovers(folder: Path) -> list[str]:
    """Temporary files or folders avremix could have left behind."""
    return [str(p) for p in folder.rglob("*") if p.name.startswith(".") or ".part" in p.name]


def test_parse_shard_and_hash_are_stable():
    assert parse_shard("3/8") == (3, 8)
    for bad in ("0/3", "4/3", "3", "a/b"):
        with pytest.raises(Exception, match="--shard"):
            parse_shard(bad)
    assert shard_of(Path("a/b.mp4"), 7) == shard_of(Path("a/b.mp4"), 7)
    counts = np.bincount([shard_of(Path(f"d/{k}.mp4"), 4) for k in range(400)], minlength=4)
    assert counts.min() > 70  # roughly even


def test_shards_in_parallel_are_complete_and_disjoint(tree, tmp_path):
    out = tmp_path / "out"
    procs = [subprocess.Popen([*CLI, "highlight", str(tree), "-o", str(out), "-s", "0", "--recursive", "--shard", f"{i}/3",
                               "--summary", str(tmp_path / f"s{i}.jsonl"), "-q"], stderr=subprocess.PIPE, text=True) for i in (1, 2, 3)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read()
    seen = [json.loads(line)["input"] for i in (1, 2, 3) for line in (tmp_path / f"s{i}.jsonl").read_text().splitlines()]
    every = sorted(str(p) for p in tree.rglob("*.wav"))
    assert sorted(seen) == every and len(seen) == len(set(seen))  # each file once, by exactly one shard
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.wav")) == sorted(str(p.relative_to(tree)) for p in tree.rglob("*.wav"))
    line = json.loads((tmp_path / "s1.jsonl").read_text().splitlines()[0])
    assert {"input", "output", "ok", "skipped", "error", "seconds", "realtime", "model", "version"} <= set(line)


def test_skip_existing_skips_complete_outputs(tree, tmp_path):
    out = tmp_path / "out"
    run_cli("separate", tree / "d0", "-o", out, "-m", "separate-htdemucs", "--stems", "dx", "--segment", "2", check=True)
    first = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    (tree / "d0" / "new.wav").write_bytes((tree / "d0" / "same.wav").read_bytes())
    proc = run_cli("separate", tree / "d0", "-o", out, "-m", "separate-htdemucs", "--stems", "dx", "--segment", "2", "--skip-existing",
                   "--summary", tmp_path / "s.jsonl", check=True)
    assert proc.stderr.splitlines()[-1] == f"1 done, {len(first)} skipped, 0 failed"
    assert all(p.stat().st_mtime_ns == t for p, t in first.items())  # untouched
    assert (out / "new" / "dialogue.flac").exists()
    lines = [json.loads(x) for x in (tmp_path / "s.jsonl").read_text().splitlines()]
    assert sum(x["skipped"] for x in lines) == len(first) and all(x["ok"] for x in lines) and lines[0]["model"] == "htdemucs"
    proc = run_cli("separate", tree / "d0", "-o", out, "--skip-existing", "--overwrite")
    assert proc.returncode == 2 and "contradict" in proc.stderr


def test_globs_and_recursive_mirror(tree, tmp_path):
    jobs, empty = expand_jobs([str(tree / "d*" / "clip*.wav")])
    assert len(jobs) == 20 and not empty
    jobs, _ = expand_jobs([tree], recursive=True)
    assert sorted(str(j.rel) for j in jobs)[:3] == ["d0/clip0.wav", "d0/clip12.wav", "d0/clip15.wav"]
    out = tmp_path / "out"
    proc = run_cli("highlight", str(tree / "d1" / "*.wav"), "-o", out, "-s", "0", check=True)
    assert sorted(os.listdir(out)) == sorted(os.listdir(tree / "d1"))
    assert proc.stderr.splitlines()[-1] == f"{len(os.listdir(tree / 'd1'))} done, 0 skipped, 0 failed"


def one_line_failure(proc, *words):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode != 0 and "Traceback" not in proc.stderr, proc.stderr
    assert any(all(w in ln for w in words) for ln in lines), proc.stderr
    assert all(ln.startswith("avremix: error:") or ln.endswith(" failed") for ln in lines), proc.stderr


def test_input_side_errors_are_one_line_and_create_nothing(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no media here")
    proc = run_cli("highlight", tmp_path / "empty", "-o", tmp_path / "out.mp4", "-s", "0")
    one_line_failure(proc, "empty", "holds no media files")
    assert not (tmp_path / "out.mp4").exists()
    proc = run_cli("separate", str(tmp_path / "nothing*.mp4"), "-o", tmp_path / "out", "--summary", tmp_path / "s.jsonl")
    one_line_failure(proc, "matches no media file")
    assert not (tmp_path / "out").exists()
    line = json.loads((tmp_path / "s.jsonl").read_text())  # the summary names it too
    assert line["ok"] is False and "matches no media file" in line["error"]


def test_output_side_errors_are_one_line_and_leave_nothing(tmp_path):
    src = wav(tmp_path / "a.wav")
    (tmp_path / "file").write_text("a regular file")
    proc = run_cli("highlight", src, "-o", tmp_path / "file" / "out.wav", "-s", "0")
    one_line_failure(proc, "out.wav")
    proc = run_cli("separate", src, "-o", tmp_path / "file" / "stems", "-m", "separate-cass")
    one_line_failure(proc, "not a folder")
    # two inputs with one output name, and an output that is another input of the batch
    b = wav(tmp_path / "x" / "a.wav")
    proc = run_cli("highlight", src, b, "-o", tmp_path / "out", "-s", "0")
    one_line_failure(proc, "maps to the same output")
    assert proc.stderr.count("maps to the same output") == 2 and not list((tmp_path / "out").glob("*"))
    root = tmp_path / "tree"
    top, inner = wav(root / "a.wav"), wav(root / "sub" / "a.wav")
    before = inner.read_bytes()
    proc = run_cli("highlight", root, "--recursive", "-o", root / "sub", "-s", "0", "-q")  # tree/a.wav -> tree/sub/a.wav
    one_line_failure(proc, "tree/a.wav", "is another input of this batch")
    assert inner.read_bytes() == before and proc.stderr.splitlines()[-1] == "1 done, 0 skipped, 1 failed"


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    """A file-size limit (ulimit -f) makes every write past it fail, as a full disk does."""
    src = wav(tmp_path / "long.wav", seconds=10, sr=48000)
    out = tmp_path / "out"
    out.mkdir()
    limit = lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([*CLI, "highlight", str(src), "-o", str(out / "o.wav"), "-s", "0"], capture_output=True, text=True,
                          preexec_fn=limit, env=env, timeout=120)
    one_line_failure(proc, "o.wav", "too large")
    assert os.listdir(out) == []


def test_os_errors_read_as_advice():
    import errno

    assert "permission denied" in os_error_line(PermissionError(errno.EACCES, "Permission denied"), "/x/o.mp4")
    assert "no space left" in os_error_line(OSError(errno.ENOSPC, "No space left on device"), "/x/o.mp4")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_one_line(tmp_path):
    src = wav(tmp_path / "a.wav")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        proc = run_cli("highlight", src, "-o", ro / "o.wav", "-s", "0")
        one_line_failure(proc, "permission denied")
    finally:
        ro.chmod(0o755)


def test_interrupted_at_random_moments_leaves_no_partial_output(tmp_path):
    """20 runs of a real batch (a model, 12 files, ~9 s of work), each stopped by SIGINT or SIGTERM at a random moment and
    resumed with --skip-existing: never a partial output or a temporary file; exit 130 / 143; the last
    run finishes the job."""
    src = tmp_path / "in"
    src.mkdir()
    for k in range(12):
        make_clip(src / f"c{k}.mp4", duration=8 + k % 3, sample_rate=48000)
    out = tmp_path / "out"
    rng = random.Random(0)
    cmd = [*CLI, "separate", str(src), "-o", str(out), "-m", "separate-cass", "--stems", "dx", "--segment", "1", "--overlap", "0.25", "--context", "0.5", "--skip-existing", "-q"]
    codes = []
    for trial in range(20):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
        time.sleep(rng.uniform(0.5, 3.0))
        sig = signal.SIGINT if trial % 2 else signal.SIGTERM
        proc.send_signal(sig)
        rc = proc.wait(timeout=120)
        codes.append(rc)
        # 130 / 143, or death by the signal itself (-2 / -15), which a shell reports as the same $?
        assert rc in ((0, 130, -2) if sig == signal.SIGINT else (0, 143, -15)), proc.stderr.read()
        assert "Traceback" not in proc.stderr.read()
        assert leftovers(out) == [] if out.exists() else True
        for stem_dir in out.iterdir() if out.exists() else []:
            info = probe(stem_dir / "dialogue.flac")  # every output there is complete
            k = int(stem_dir.name[1:])
            assert abs(info.duration - (8 + k % 3)) < 0.05
    assert sum(c != 0 for c in codes) >= 3, codes  # the batch outlasts several runs
    subprocess.run(cmd, check=True, timeout=300)
    assert sorted(os.listdir(out)) == sorted(f"c{k}" for k in range(12)) and leftovers(out) == []


@pytest.mark.slow
def test_a_thousand_one_second_files(tmp_path):
    """1,000 one-second videos in one run with the default model loaded once; every one written."""
    src = tmp_path / "in"
    src.mkdir()
    first = make_clip(src / "f0000.mp4", duration=1.0)
    for k in range(1, 1000):
        os.link(first, src / f"f{k:04d}.mp4")
    out = tmp_path / "out"
    proc = run_cli("highlight", src, "-o", out, "--summary", tmp_path / "s.jsonl", "-q", check=True)
    assert proc.stderr.splitlines()[-1] == "1000 done, 0 skipped, 0 failed"
    assert len(os.listdir(out)) == 1000 and len((tmp_path / "s.jsonl").read_text().splitlines()) == 1000
