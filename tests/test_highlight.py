"""`avremix highlight` end to end on real container files, through the real console entry point."""

import json
import os

import numpy as np
import pytest
import torch

from avremix.engine import EngineConfig
from avremix.highlight import highlight_file, highlight_many
from avremix.media import probe, read_audio
from avremix.samples import make_clip
from tests.conftest import framemd5, run_cli

AAC_FRAME = 1024


def test_strength_0_mp4_keeps_video_packets_and_audio_format(mp4_30s, tmp_path):
    out = tmp_path / "out.mp4"
    run_cli("highlight", mp4_30s, "-o", out, "--strength", "0", check=True)
    assert framemd5(out) == framemd5(mp4_30s)
    a_in, a_out = probe(mp4_30s).audio_stream(), probe(out).audio_stream()
    assert (a_out.codec, a_out.channels, a_out.sample_rate) == ("aac", 2, 48000)
    assert (a_out.language, a_out.default) == (a_in.language, a_in.default)
    x, _ = read_audio(mp4_30s)
    y, _ = read_audio(out)
    assert abs(x.shape[1] - y.shape[1]) <= AAC_FRAME
    # same audio within AAC's precision: a re-encode, so compare the signal, not the bits
    n = min(x.shape[1], y.shape[1])
    err = np.sqrt(np.mean((x[:, :n] - y[:, :n]) ** 2)) / np.sqrt(np.mean(x[:, :n] ** 2))
    assert err < 0.1


def test_strength_0_mkv_flac_is_bit_exact_and_keeps_all_streams(mkv_flac, tmp_path):
    out = tmp_path / "out.mkv"
    proc = run_cli("highlight", mkv_flac, "-o", out, "-s", "0", "--json", check=True)
    summary = json.loads(proc.stdout)
    assert summary["ok"] and summary["audio_codec"] == "flac"
    src, dst = probe(mkv_flac), probe(out)
    assert [(s.type, s.codec, s.language) for s in dst.streams] == [(s.type, s.codec, s.language) for s in src.streams]
    assert dst.audio_streams[0].default and not dst.audio_streams[1].default
    assert dst.metadata.get("title") == "avremix sample"
    for spec in ("v:0", "a:1", "s:0"):  # video, commentary track and subtitles copied packet for packet
        assert framemd5(out, spec) == framemd5(mkv_flac, spec)
    x, _ = read_audio(mkv_flac)
    y, _ = read_audio(out)
    np.testing.assert_array_equal(x, y)


def test_second_audio_stream_can_be_processed(mkv_flac, tmp_path):
    out = tmp_path / "out.mkv"
    run_cli("highlight", mkv_flac, "-o", out, "-s", "0", "--audio-stream", "1", check=True)
    assert framemd5(out, "a:0") == framemd5(mkv_flac, "a:0")  # the main mix untouched
    np.testing.assert_array_equal(read_audio(out, audio_stream=1)[0], read_audio(mkv_flac, audio_stream=1)[0])


def test_surround_keeps_six_channels(mov_51, tmp_path):
    out = tmp_path / "out.mov"
    run_cli("highlight", mov_51, "-o", out, "-s", "0", check=True)
    a = probe(out).audio_stream()
    assert a.channels == 6 and a.layout == probe(mov_51).audio_stream().layout


class HalfGain(torch.nn.Module):
    sample_rate, fps, generative = 16000, None, False

    def forward(self, audio, visual=None, noise=None):
        return 0.5 * audio


class Clicks(HalfGain):
    def forward(self, audio, visual=None, noise=None):
        out = 0.5 * audio
        out[..., ::1600] += 0.5  # a click every 0.1 s
        return out


def test_model_output_and_blend_reach_the_file(tmp_path):
    src = make_clip(tmp_path / "in.mkv", duration=3)
    cfg = EngineConfig(segment=1.0, overlap=0.2, context=0.1, device="cpu")
    full = highlight_file(src, tmp_path / "full.mkv", model=HalfGain(), strength=1.0, config=cfg)
    half = highlight_file(src, tmp_path / "half.mkv", model=HalfGain(), strength=0.5, config=cfg)
    assert full.ok and half.ok
    x, _ = read_audio(src)
    rms = lambda a: float(np.sqrt(np.mean(a[:, 4800:-4800] ** 2)))  # noqa: E731
    # the 16 kHz model keeps the tones (< 8 kHz); gain 0.5 at strength 1, 0.75 at strength 0.5
    assert rms(read_audio(tmp_path / "full.mkv")[0]) / rms(x) == pytest.approx(0.5, abs=0.02)
    assert rms(read_audio(tmp_path / "half.mkv")[0]) / rms(x) == pytest.approx(0.75, abs=0.02)
    assert framemd5(tmp_path / "full.mkv") == framemd5(src)


def test_loudness_brings_the_output_to_its_level_with_one_gain(tmp_path):
    """`--loudness -20`: the written file measures -20 LUFS (BS.1770) and is the model's output times one
    gain; a level the peak cannot take is held at -1 dBFS and said; the spool file is gone afterwards."""
    from avremix.metrics import integrated_loudness

    src = make_clip(tmp_path / "in.mkv", duration=3)
    cfg = EngineConfig(segment=1.0, overlap=0.2, context=0.1, device="cpu")
    plain = highlight_file(src, tmp_path / "plain.wav", model=HalfGain(), config=cfg)
    levelled = highlight_file(src, tmp_path / "level.wav", model=HalfGain(), config=cfg, loudness=-20.0)
    assert plain.loudness is None and levelled.loudness["target"] == -20.0 and not levelled.loudness["peak_limited"]
    y0, y1 = read_audio(tmp_path / "plain.wav")[0], read_audio(tmp_path / "level.wav")[0]
    assert integrated_loudness(y1, 48000) == pytest.approx(-20.0, abs=0.05)
    gain = 10 ** (levelled.loudness["gain_db"] / 20)
    assert levelled.loudness["before"] == pytest.approx(integrated_loudness(y0, 48000), abs=0.05)
    np.testing.assert_allclose(y1, y0 * gain, atol=3e-4)  # one gain (within 16-bit WAV rounding)
    loud = highlight_file(src, tmp_path / "loud.wav", model=Clicks(), config=cfg, loudness=-10.0)  # peaks 20 dB over its loudness
    y2 = read_audio(tmp_path / "loud.wav")[0]
    assert loud.loudness["peak_limited"] and np.abs(y2).max() == pytest.approx(10 ** (-1 / 20), abs=2e-3)
    assert integrated_loudness(y2, 48000) == pytest.approx(loud.loudness["after"], abs=0.05) and loud.loudness["after"] < -12.0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mkv", "level.wav", "loud.wav", "plain.wav"]  # no spool left


def test_loudness_option_auto_off_and_errors(tmp_path):
    from avremix.errors import UsageError
    from avremix.highlight import loudness_target

    model = HalfGain()
    assert loudness_target("auto", model) is None  # a model without a training level keeps its own
    model.target_lufs = -27.2
    assert loudness_target("auto", model) == -27.2 and loudness_target("auto", model, strength=0) is None
    from types import SimpleNamespace

    assert loudness_target("auto", SimpleNamespace(highlighter=model)) == -27.2  # --gains on a highlighter: its level
    assert loudness_target("auto", SimpleNamespace(highlighter=None)) is None  # --model none --gains: the input's
    assert loudness_target("off", model) is None and loudness_target("-23", model) == -23.0 and loudness_target("-24 LUFS", None) == -24.0
    for bad in ("loud", "+3", "-80"):
        with pytest.raises(UsageError, match="--loudness"):
            loudness_target(bad, model)
    src = make_clip(tmp_path / "in.flac", duration=1, video=False)
    proc = run_cli("highlight", src, "-o", tmp_path / "out.wav", "--loudness", "loud")
    assert proc.returncode == 2 and "--loudness" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "out.wav").exists()


def test_audio_only_input_and_output(tmp_path):
    src = make_clip(tmp_path / "in.flac", duration=2, video=False)
    run_cli("highlight", src, "-o", tmp_path / "out.wav", "-s", "0", check=True)
    np.testing.assert_array_equal(read_audio(tmp_path / "out.wav")[0], read_audio(src)[0])


def _assert_clean_failure(proc, out_path, *words):
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for w in words:
        assert w in lines[0], lines[0]
    assert not os.path.exists(out_path)
    assert not [p for p in os.listdir(os.path.dirname(out_path)) if ".part" in p]  # no temp file left


def _bad_inputs(tmp_path):
    good = make_clip(tmp_path / "good.mkv", duration=6)
    cut = tmp_path / "truncated.mkv"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    text = tmp_path / "notes.mp4"
    text.write_text("not a video\n" * 100)
    mute = make_clip(tmp_path / "mute.mp4", duration=1)
    silent = tmp_path / "noaudio.mp4"
    import subprocess

    from avremix.media.ffmpeg import ffmpeg_exe

    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(mute), "-an", "-c", "copy", str(silent)], check=True)
    return {"missing": (tmp_path / "missing.mp4", "no such file"), "not media": (text, "not a media file"),
            "truncated": (cut, "truncated"), "no audio": (silent, "no audio stream")}


@pytest.mark.parametrize("case", ["missing", "not media", "truncated", "no audio"])
def test_bad_input_fails_cleanly(tmp_path, case):
    path, words = _bad_inputs(tmp_path)[case]
    before = path.read_bytes() if path.exists() else None
    out = tmp_path / "out" / "result.mkv"
    out.parent.mkdir()
    proc = run_cli("highlight", path, "-o", out, "-s", "0")
    _assert_clean_failure(proc, str(out), path.name, words)
    assert (path.read_bytes() if path.exists() else None) == before


def test_output_equal_to_input_is_refused(mkv_flac, tmp_path):
    before = mkv_flac.read_bytes()
    proc = run_cli("highlight", mkv_flac, "-o", mkv_flac, "-s", "0", "--overwrite")
    assert proc.returncode != 0 and "is the input" in proc.stderr and "Traceback" not in proc.stderr
    assert mkv_flac.read_bytes() == before


def test_existing_output_needs_overwrite(mkv_flac, tmp_path):
    out = tmp_path / "out.mkv"
    out.write_bytes(b"keep me")
    proc = run_cli("highlight", mkv_flac, "-o", out, "-s", "0")
    assert proc.returncode == 2 and "--overwrite" in proc.stderr
    assert out.read_bytes() == b"keep me"
    run_cli("highlight", mkv_flac, "-o", out, "-s", "0", "--overwrite", check=True)
    assert probe(out).has_video


def test_batch_goes_on_past_a_bad_file(mkv_flac, tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_text("nope")
    results = highlight_many([mkv_flac, bad, make_clip(tmp_path / "b.wav", duration=1, video=False)], tmp_path / "out", strength=0)
    assert [r.ok for r in results] == [True, False, True]
    assert "broken.mp4" in results[1].error
    assert sorted(os.listdir(tmp_path / "out")) == ["b.wav", "flac.mkv"]
    proc = run_cli("highlight", mkv_flac, bad, "-o", tmp_path / "out2", "-s", "0")
    assert proc.returncode == 1 and proc.stderr.splitlines()[-1] == "1 done, 0 skipped, 1 failed" and "broken.mp4" in proc.stderr


def test_help_explains_every_option():
    proc = run_cli("highlight", "--help", check=True)
    for opt in ("--output", "--strength", "--audio-stream", "--segment", "--overlap", "--context", "--batch-size",
                "--device", "--precision", "--seed", "--loudness", "--overwrite", "--json", "--quiet"):
        assert opt in proc.stdout


# -- --gains: the user's per-stem gains through a separator ------------------------------------------------
class BandSplit(torch.nn.Module):
    """An analytic 'separator': dialogue below 1 kHz, music above, no effects."""

    stems = ("dialogue", "music", "effects")
    task = "separate"
    sample_rate, fps, frame_size = 16000, 10.0, (64, 64)
    config = type("Cfg", (), {"visual": ("frames",)})()

    def forward(self, audio, visual=None, noise=None):
        import torchaudio.functional as AF

        low = AF.lowpass_biquad(audio, 16000, 1000.0)
        return torch.cat([low, audio - low, torch.zeros_like(audio)], dim=1)  # [B, 3, T]


def test_parse_gains():
    from avremix.errors import UsageError
    from avremix.highlight import parse_gains

    assert parse_gains("dx=+6,mx=-3") == {"dialogue": 6.0, "music": -3.0}
    assert parse_gains("fx=-2.5dB dialogue=1") == {"effects": -2.5, "dialogue": 1.0}
    for bad, message in (("zz=3", "cannot read"), ("dx=loud", "not a number"), ("dx=+40", "outside"), ("", "at least one")):
        with pytest.raises(UsageError, match=message):
            parse_gains(bad)


def test_stem_gains_move_each_stem_by_its_gain_and_0_db_is_the_input():
    from avremix.highlight import StemGains

    x = torch.randn(2, 1, 16000)
    low = BandSplit()(x)[:, :1]
    out = StemGains(BandSplit(), {"dialogue": 20 * np.log10(2), "music": 0.0})(x)
    torch.testing.assert_close(out, x + low, atol=1e-5, rtol=0)  # dialogue doubled, music as it was
    out = StemGains(BandSplit(), {"music": -120 / 6})(x)  # -20 dB
    torch.testing.assert_close(out, low + 0.1 * (x - low), atol=1e-5, rtol=0)
    torch.testing.assert_close(StemGains(BandSplit(), {"dialogue": 0.0})(x), x)


def test_gains_boost_the_dialogue_of_a_real_file(tmp_path):
    """`--model none --gains dx=+6,mx=-6,fx=-6` with the shipped separator, on a mixture whose stems are
    known: the output leans towards the dialogue."""
    import subprocess

    import soundfile as sf

    from avremix.data import avdnr
    from avremix.media.ffmpeg import ffmpeg_exe
    from avremix.data.store import read_wav

    root = tmp_path / "avdnr"
    avdnr.build(root, 1, seed=3, config=avdnr.AVDnRConfig(duration=4.0, sources="procedural"))
    row = json.loads((root / "manifest.jsonl").read_text().splitlines()[0])
    mix, stems = read_wav(root / row["files"]["mix"])[0], read_wav(root / row["files"]["stems"])
    sf.write(tmp_path / "mix.wav", mix, 16000, subtype="FLOAT")
    src = tmp_path / "clip.mkv"  # the clip's face picture with its mixture, losslessly
    subprocess.run([ffmpeg_exe(), "-loglevel", "error", "-i", str(root / row["files"]["face_video"]), "-i", str(tmp_path / "mix.wav"),
                    "-map", "0:v", "-map", "1:a", "-c:v", "copy", "-c:a", "flac", "-sample_fmt", "s32", str(src)], check=True)
    out = tmp_path / "dx.mkv"
    run_cli("highlight", src, "-o", out, "--model", "none", "--gains", "dx=+6,mx=-6,fx=-6", check=True)
    y, _ = read_audio(out)

    def share(z):  # least-squares weights of the three stems in z
        return np.linalg.lstsq(stems.T, z, rcond=None)[0]

    n = min(y.shape[1], mix.shape[0])
    stems, mix = stems[:, :n], mix[:n]
    w_in, w_out = share(mix), share(y[0, :n])
    np.testing.assert_allclose(w_in, 1.0, atol=1e-3)
    # dialogue up by most of its 6 dB, and well ahead of the others (the shipped separator, trained on real
    # recordings, leaks some of these generated sounds into the dialogue stem)
    assert w_out[0] > 1.5 and w_out[0] > 1.4 * max(w_out[1], w_out[2])


def test_gains_errors_are_one_line(tmp_path):
    src = tmp_path / "a.mp4"
    make_clip(src, duration=1)
    for args, message in ((["--model", "none"], "--model none runs no highlighter"), (["--separator", "separate-cass"], "give --gains too"),
                          (["--gains", "dx=+6", "--separator", "highlight-cfm"], "is not a separator")):
        proc = run_cli("highlight", src, "-o", tmp_path / "b.mp4", *args)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr
        assert not (tmp_path / "b.mp4").exists()
