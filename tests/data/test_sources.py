"""Tests of the single-source generators (avremix.data.sources).

The procedural generators need only numpy/scipy; the asset-backed ones are skipped when the Debian packages
(espeak-ng, fluidsynth + a GM soundfont, sound-effect files) are not installed.
"""

from __future__ import annotations

import json
import struct

import numpy as np
import pytest
from scipy import signal

from avremix.data import sources as S

SR = 16000
ASSETS = S.find_assets()
needs_espeak = pytest.mark.skipif(not ASSETS.available["speech"], reason="espeak-ng not installed")
needs_fluidsynth = pytest.mark.skipif(not ASSETS.available["music"], reason="fluidsynth or a GM soundfont not installed")
needs_effect_files = pytest.mark.skipif(not ASSETS.available["effects"], reason="no sound-effect files installed")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def spectral_flatness(x: np.ndarray, sr: int = SR) -> float:
    _, p = signal.welch(x, sr, nperseg=1024)
    p = p[1:] + 1e-20
    return float(np.exp(np.mean(np.log(p))) / np.mean(p))


def window_rms(x: np.ndarray, seconds: float, sr: int = SR) -> np.ndarray:
    w = int(seconds * sr)
    return np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(w) / w, mode="valid"))


def check_clip(clip: S.SourceClip, duration: float, sr: int) -> None:
    n = round(duration * sr)
    assert isinstance(clip, S.SourceClip)
    assert clip.audio.shape == (n,) and clip.audio.dtype == np.float32
    assert clip.activity.shape == (n,) and clip.activity.dtype == np.float32
    assert np.all(np.isfinite(clip.audio))
    assert 0 < np.max(np.abs(clip.audio)) <= 1.0
    assert clip.activity.min() >= 0 and clip.activity.max() <= 1
    assert isinstance(clip.source_id, str) and clip.source_id
    json.dumps(clip.meta)  # JSON-serialisable
    assert "generator" in clip.meta


CLIP_GENERATORS = {
    "speech": lambda r, d, sr: S.speech_procedural(r, d, sr),
    "music": lambda r, d, sr: S.music_procedural(r, d, sr),
}


# ---------------------------------------------------------------------------------------------- shapes, determinism


@pytest.mark.parametrize("kind", sorted(CLIP_GENERATORS))
@pytest.mark.parametrize("duration,sr", [(10.0, 16000), (2.37, 16000), (3.0, 22050)])
def test_clip_length_dtype_peak(kind, duration, sr):
    clip = CLIP_GENERATORS[kind](rng(1), duration, sr)
    check_clip(clip, duration, sr)
    assert np.max(np.abs(clip.audio)) == pytest.approx(0.5, abs=1e-3)


@pytest.mark.parametrize("kind", sorted(CLIP_GENERATORS))
def test_clip_determinism(kind):
    gen = CLIP_GENERATORS[kind]
    a, b, c = gen(rng(7), 4.0, SR), gen(rng(7), 4.0, SR), gen(rng(8), 4.0, SR)
    np.testing.assert_array_equal(a.audio, b.audio)
    np.testing.assert_array_equal(a.activity, b.activity)
    assert a.source_id == b.source_id and a.meta == b.meta
    assert not np.array_equal(a.audio, c.audio)
    assert a.source_id != c.source_id


def test_no_global_random_state_used():
    np.random.seed(123)
    before = np.random.get_state()[1].copy()
    S.speech_procedural(rng(), 1.5)
    S.music_procedural(rng(), 1.5)
    S.effect_events_procedural(rng(), 2.0)
    S.ambience(rng(), 1.0)
    np.testing.assert_array_equal(before, np.random.get_state()[1])


def test_ambience():
    x = S.ambience(rng(3), 10.0, SR)
    assert x.shape == (160000,) and x.dtype == np.float32
    assert np.max(np.abs(x)) == pytest.approx(S.AMBIENCE_PEAK, rel=1e-3)
    assert window_rms(x, 0.5).min() > 0.05 * np.sqrt(np.mean(x.astype(np.float64) ** 2))  # continuous
    np.testing.assert_array_equal(x, S.ambience(rng(3), 10.0, SR))
    assert not np.array_equal(x, S.ambience(rng(4), 10.0, SR))


def test_invalid_arguments():
    with pytest.raises(ValueError):
        S.speech_procedural(rng(), 0.0)
    with pytest.raises(ValueError):
        S.music_procedural(rng(), 1.0, sr=100)
    with pytest.raises(ValueError):
        S.effect_events_procedural(rng(), 5.0, classes=["explosion"])
    with pytest.raises(ValueError):
        S.effect_events_procedural(rng(), 5.0, classes=[])


# ---------------------------------------------------------------------------------------------- speech


@pytest.mark.parametrize("seed", range(6))
def test_speech_has_pauses_and_speech(seed):
    clip = S.speech_procedural(rng(seed), 10.0, SR)
    act = clip.activity
    assert np.mean(act < 0.05) >= 0.15  # pauses
    assert np.mean(act > 0.2) >= 0.35  # and talking
    # the pauses are real silence, not quiet noise
    quiet = act < 0.01
    assert np.max(np.abs(clip.audio[quiet])) < 0.02
    spurts = clip.meta["spurts"]
    assert len(spurts) >= 2 and all(0 <= s < e <= 10.0 for s, e in spurts)


@pytest.mark.parametrize("seed", range(4))
def test_speech_energy_below_4khz(seed):
    clip = S.speech_procedural(rng(seed), 10.0, SR)
    f, p = signal.welch(clip.audio, SR, nperseg=1024)
    assert p[f < 4000].sum() / p.sum() > 0.9
    assert p[(f > 150) & (f < 1500)].sum() / p.sum() > 0.5  # voiced energy where F0 and F1/F2 live


def _median_f0(clip: S.SourceClip, sr: int = SR) -> float:
    """Median autocorrelation pitch of 40 ms frames where the speaker is loud."""
    frame, hop = int(0.04 * sr), int(0.02 * sr)
    lags = np.arange(int(sr / 400), int(sr / 60))
    f0s = []
    for s in range(0, len(clip.audio) - frame, hop):
        if clip.activity[s:s + frame].min() < 0.5:
            continue
        x = clip.audio[s:s + frame].astype(np.float64)
        x = x - x.mean()
        ac = np.correlate(x, x, mode="full")[frame - 1:]
        if ac[0] <= 0:
            continue
        lag = lags[np.argmax(ac[lags])]
        if ac[lag] / ac[0] > 0.5:
            f0s.append(sr / lag)
    return float(np.median(f0s))


@pytest.mark.parametrize("f0,scale", [(100.0, 0.9), (220.0, 1.15)])
def test_speaker_controls_voice(f0, scale):
    spk = S.Speaker(f0=f0, formant_scale=scale, rate=4.5, breathiness=0.1)
    a = S.speech_procedural(rng(1), 6.0, SR, speaker=spk)
    b = S.speech_procedural(rng(2), 6.0, SR, speaker=spk)
    assert a.source_id == b.source_id == spk.source_id  # identity is the speaker, not the seed
    assert a.source_id.startswith("speech:proc:")
    assert _median_f0(a) == pytest.approx(f0, rel=0.3)
    assert a.meta["speaker"]["f0"] == f0


def test_random_speakers_in_range():
    for seed in range(50):
        spk = S.Speaker.random(rng(seed))
        assert 85 <= spk.f0 <= 255 and 0.85 <= spk.formant_scale <= 1.2 and 3 <= spk.rate <= 6
        assert 0 <= spk.breathiness <= 1


# ---------------------------------------------------------------------------------------------- music


@pytest.mark.parametrize("seed", range(6))
def test_music_continuous_and_tonal(seed):
    clip = S.music_procedural(rng(seed), 10.0, SR)
    x = clip.audio
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2))
    assert window_rms(x, 0.5).min() > 0.05 * rms  # no 0.5 s of silence
    assert np.mean(clip.activity < 0.02) < 0.02
    white = spectral_flatness(rng(99).standard_normal(len(x)))
    assert white > 0.8
    assert spectral_flatness(x) < 0.25 * white
    assert 70 <= clip.meta["tempo"] <= 140 and clip.meta["mode"] in ("major", "minor")
    assert clip.source_id.startswith("music:proc:")


def test_compose_music_structure():
    for seed in range(20):
        piece = S.compose_music(rng(seed), 10.0)
        assert 70 <= piece.tempo <= 140
        assert piece.n_beats * 60 / piece.tempo >= 10.0
        channels = {n.channel for n in piece.notes}
        assert {S.PAD, S.LEAD, S.BASS} <= channels
        assert (S.DRUMS in channels) == piece.drums
        assert all(0 <= n.pitch <= 127 and 1 <= n.velocity <= 127 and n.duration > 0 for n in piece.notes)
        bass = np.mean([n.pitch for n in piece.notes if n.channel == S.BASS])
        pad = np.mean([n.pitch for n in piece.notes if n.channel == S.PAD])
        lead = np.mean([n.pitch for n in piece.notes if n.channel == S.LEAD])
        assert bass < pad < lead
        # pad chords belong to the key
        scale = {(piece.key + iv) % 12 for iv in ((0, 2, 4, 5, 7, 9, 11) if piece.mode == "major" else (0, 2, 3, 5, 7, 8, 10))}
        assert all(n.pitch % 12 in scale for n in piece.notes if n.channel != S.DRUMS)


def _parse_smf(data: bytes) -> tuple[tuple[int, int, int], list[tuple[int, bytes]]]:
    """Minimal SMF reader: (format, ntracks, division) and the first track's (tick, message) events."""
    assert data[:4] == b"MThd"
    length, fmt, ntracks, division = struct.unpack(">IHHH", data[4:14])
    assert length == 6
    pos = 8 + length
    assert data[pos:pos + 4] == b"MTrk"
    (tlen,) = struct.unpack(">I", data[pos + 4:pos + 8])
    track = data[pos + 8:pos + 8 + tlen]
    assert len(track) == tlen and pos + 8 + tlen == len(data)
    i, tick, events = 0, 0, []
    while i < len(track):
        delta = 0
        while True:
            b = track[i]
            i += 1
            delta = (delta << 7) | (b & 0x7F)
            if not b & 0x80:
                break
        tick += delta
        status = track[i]
        if status == 0xFF:
            mlen = track[i + 2]
            msg = track[i:i + 3 + mlen]
        elif status & 0xF0 in (0xC0, 0xD0):
            msg = track[i:i + 2]
        else:
            assert status & 0x80, "running status is not written"
            msg = track[i:i + 3]
        events.append((tick, bytes(msg)))
        i += len(msg)
    return (fmt, ntracks, division), events


def test_write_midi_valid_smf():
    notes = [S.MidiNote(0, 60, 100, 0.0, 1.0), S.MidiNote(0, 64, 90, 1.0, 0.5), S.MidiNote(9, 36, 110, 0.5, 0.25)]
    data = S.write_midi(notes, 120.0, {0: 5})
    assert data[:4] == b"MThd"
    (fmt, ntracks, division), events = _parse_smf(data)
    assert (fmt, ntracks, division) == (0, 1, 480)
    assert events[-1][1] == b"\xff\x2f\x00"
    tempo = [m for _, m in events if m[:2] == b"\xff\x51"][0]
    assert int.from_bytes(tempo[3:6], "big") == 500000  # 120 BPM
    assert (0, bytes([0xC0, 5])) in events
    ons = [(t, m) for t, m in events if m[0] & 0xF0 == 0x90]
    offs = [(t, m) for t, m in events if m[0] & 0xF0 == 0x80]
    assert sorted(ons) == [(0, bytes([0x90, 60, 100])), (240, bytes([0x99, 36, 110])), (480, bytes([0x90, 64, 90]))]
    assert (480, bytes([0x80, 60, 0])) in offs and (720, bytes([0x80, 64, 0])) in offs
    ticks = [t for t, _ in events]
    assert ticks == sorted(ticks)
    with pytest.raises(ValueError):
        S.write_midi(notes, 0.0)


def test_composed_piece_midi_roundtrip():
    piece = S.compose_music(rng(5), 8.0)
    _, events = _parse_smf(S.write_midi(piece.notes, piece.tempo, {0: 1, 1: 2, 2: 33}))
    ons = [m for _, m in events if m[0] & 0xF0 == 0x90]
    offs = [m for _, m in events if m[0] & 0xF0 == 0x80]
    assert len(ons) == len(offs) == len(piece.notes)
    # every note-on is closed before the same key starts again on its channel
    sounding: set[tuple[int, int]] = set()
    for _, m in events:
        key = (m[0] & 0x0F, m[1]) if len(m) == 3 and m[0] & 0xE0 == 0x80 else None
        if key is None:
            continue
        if m[0] & 0xF0 == 0x90:
            assert key not in sounding
            sounding.add(key)
        else:
            sounding.discard(key)


# ---------------------------------------------------------------------------------------------- effects


@pytest.mark.parametrize("cls", S.EFFECT_CLASSES)
def test_each_effect_class(cls):
    events = S.effect_events_procedural(rng(11), 10.0, SR, n_events=4, classes=[cls])
    assert len(events) == 4
    for ev in events:
        assert ev.cls == cls
        assert ev.signal.dtype == np.float32 and ev.signal.ndim == 1 and len(ev.signal) > 0.02 * SR
        assert np.all(np.isfinite(ev.signal)) and 0.05 < np.max(np.abs(ev.signal)) <= 1.0
        assert ev.source_id.startswith(f"effect:proc:{cls}:")
        json.dumps(ev.meta)
    for i in range(len(events)):  # same class, different sounds
        for j in range(i + 1, len(events)):
            a, b = events[i].signal, events[j].signal
            assert len(a) != len(b) or not np.allclose(a, b, atol=1e-3)
            assert events[i].source_id != events[j].source_id


@pytest.mark.parametrize("cls,lo,hi", [("whoosh", 0.3, 0.85), ("engine", 1.0, 3.05), ("gunshot", 0.3, 0.8)])
def test_effect_class_durations(cls, lo, hi):
    for ev in S.effect_events_procedural(rng(2), 10.0, SR, n_events=6, classes=[cls]):
        assert lo <= len(ev.signal) / SR <= hi


def test_effect_class_character():
    def band_share(x, lo, hi):
        f, p = signal.welch(x, SR, nperseg=min(1024, len(x)))
        return p[(f >= lo) & (f < hi)].sum() / p.sum()

    r = rng(4)
    for ev in S.effect_events_procedural(r, 10.0, SR, n_events=5, classes=["engine"]):
        assert band_share(ev.signal, 0, 1500) > 0.8  # low rumble
    for ev in S.effect_events_procedural(r, 10.0, SR, n_events=5, classes=["clink"]):
        assert band_share(ev.signal, 1800, 7000) > 0.8  # high partials
    for ev in S.effect_events_procedural(r, 10.0, SR, n_events=5, classes=["gunshot"]):
        x = np.abs(ev.signal)
        assert np.argmax(x) < 0.07 * SR  # sharp attack ...
        assert np.max(x[int(0.25 * SR):]) > 1e-3  # ... with a reverberant tail
    for ev in S.effect_events_procedural(r, 10.0, SR, n_events=5, classes=["footsteps"]):
        assert 3 <= ev.meta["steps"] <= 6


@pytest.mark.parametrize("duration,lo,hi", [(10.0, 3, 8), (20.0, 6, 16)])
def test_effect_event_count_and_onsets(duration, lo, hi):
    counts = []
    for seed in range(30):
        events = S.effect_events_procedural(rng(seed), duration, SR)
        counts.append(len(events))
        onsets = [e.onset for e in events]
        assert onsets == sorted(onsets)
        assert all(0 <= t <= duration - 0.3 for t in onsets)
    assert lo <= min(counts) and max(counts) <= hi and len(set(counts)) > 1
    assert {e.cls for s in range(10) for e in S.effect_events_procedural(rng(s), 10.0, SR)} == set(S.EFFECT_CLASSES)


def test_effect_events_determinism():
    a = S.effect_events_procedural(rng(5), 10.0, SR)
    b = S.effect_events_procedural(rng(5), 10.0, SR)
    c = S.effect_events_procedural(rng(6), 10.0, SR)
    assert [(e.onset, e.cls, e.source_id) for e in a] == [(e.onset, e.cls, e.source_id) for e in b]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x.signal, y.signal)
    assert [(e.onset, e.cls) for e in a] != [(e.onset, e.cls) for e in c]


def test_effect_event_place():
    sig = np.linspace(1.0, 0.1, 800, dtype=np.float32)
    ev = S.EffectEvent(onset=1.0, signal=sig, cls="impact", source_id="x")
    out = ev.place(3 * SR, SR)
    assert out.shape == (3 * SR,) and out.dtype == np.float32
    assert not np.any(out[:SR]) and not np.any(out[SR + 800:])
    np.testing.assert_array_equal(out[SR:SR + 800], sig)
    # cropped at the end
    late = S.EffectEvent(onset=2.99, signal=sig, cls="impact", source_id="x").place(3 * SR, SR)
    start = round(2.99 * SR)
    np.testing.assert_array_equal(late[start:], sig[: 3 * SR - start])
    # entirely after the end: nothing
    assert not np.any(S.EffectEvent(4.0, sig, "impact", "x").place(3 * SR, SR))
    # a synthesised event: its energy starts at its onset
    ev = S.effect_events_procedural(rng(0), 5.0, SR, n_events=1, classes=["gunshot"])[0]
    placed = ev.place(5 * SR, SR)
    on = round(ev.onset * SR)
    assert not np.any(placed[:on])
    assert np.max(np.abs(placed[on:on + int(0.05 * SR)])) == pytest.approx(np.max(np.abs(ev.signal)))


# ---------------------------------------------------------------------------------------------- activity


def test_activity_envelope():
    x = np.zeros(SR * 2, np.float32)
    assert not np.any(S.activity_envelope(x, SR))
    t = np.arange(SR // 2) / SR
    x[SR // 2:SR] = 0.5 * np.sin(2 * np.pi * 200 * t)
    env = S.activity_envelope(x, SR)
    assert env.dtype == np.float32 and env.shape == x.shape
    assert env.min() >= 0 and env.max() <= 1
    assert env[SR // 2 + 800:SR - 800].min() > 0.5
    assert env[: SR // 2 - 800].max() < 0.01 and env[SR + 800:].max() < 0.01


# ---------------------------------------------------------------------------------------------- assets


def test_find_assets_shape():
    a = S.find_assets()
    assert set(a.available) == {"speech", "music", "effects"}
    assert a.available == {"speech": a.speech_available, "music": a.music_available, "effects": a.effects_available}
    assert a.effect_files == sorted(a.effect_files)
    assert all(f.lower().endswith((".wav", ".ogg", ".oga", ".flac", ".mp3")) for f in a.effect_files)
    assert not any("audio-channel-" in f for f in a.effect_files)  # spoken channel names are not effects
    assert a.soundfont is None or a.soundfont.endswith(".sf2")
    assert set(a.effect_files) <= set(S.find_assets(curated=False).effect_files)


def test_missing_assets_raise(tmp_path):
    none = S.Assets()
    assert none.available == {"speech": False, "music": False, "effects": False}
    with pytest.raises(S.AssetsUnavailable, match="espeak-ng"):
        S.speech_espeak(rng(), 2.0, SR, none)
    with pytest.raises(S.AssetsUnavailable, match="fluidsynth"):
        S.music_fluidsynth(rng(), 2.0, SR, none)
    with pytest.raises(S.AssetsUnavailable, match="soundfont"):
        S.music_fluidsynth(rng(), 2.0, SR, S.Assets(fluidsynth="/usr/bin/true"))
    with pytest.raises(S.AssetsUnavailable):
        S.effect_events_assets(rng(), 2.0, SR, none)
    with pytest.raises(S.AssetsUnavailable):
        S.effect_events_assets(rng(), 2.0, SR, none, files=[str(tmp_path / "missing.wav")])
    # a tool that was listed but is gone
    with pytest.raises(S.AssetsUnavailable):
        S.speech_espeak(rng(), 2.0, SR, S.Assets(espeak=str(tmp_path / "espeak-ng")))
    sf2 = tmp_path / "x.sf2"
    sf2.write_bytes(b"")
    with pytest.raises(S.AssetsUnavailable):
        S.music_fluidsynth(rng(), 2.0, SR, S.Assets(fluidsynth=str(tmp_path / "fluidsynth"), soundfont=str(sf2)))


def test_effect_events_from_given_files(tmp_path):
    import soundfile as sf

    t = np.arange(int(0.5 * 22050)) / 22050
    tone = np.r_[np.zeros(2205), 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-t / 0.1), np.zeros(4410)]
    long_noise = 0.2 * rng(1).standard_normal(5 * 22050)
    sf.write(tmp_path / "bell.wav", np.stack([tone, tone], 1), 22050)
    sf.write(tmp_path / "rain.flac", long_noise, 22050)
    files = [str(tmp_path / "bell.wav"), str(tmp_path / "rain.flac")]
    events = S.effect_events_assets(rng(3), 10.0, SR, n_events=8, files=files)
    assert len(events) == 8 and {e.cls for e in events} <= {"bell", "rain"}
    for e in events:
        assert e.signal.dtype == np.float32 and len(e.signal) <= 3 * SR + 1
        assert 0.3 - 1e-6 <= np.max(np.abs(e.signal)) <= 0.8 + 1e-6
        if e.cls == "bell":
            assert abs(e.signal[0]) > 1e-3 or abs(e.signal[1]) > 1e-3 or np.argmax(np.abs(e.signal)) < 0.01 * SR  # leading silence trimmed
            assert len(e.signal) < 0.6 * SR
        else:
            assert len(e.signal) == pytest.approx(3 * SR, abs=2)
            assert np.max(np.abs(e.signal[-100:])) < 0.05 * np.max(np.abs(e.signal))  # faded out


@needs_espeak
def test_speech_espeak():
    clip = S.speech_espeak(rng(2), 8.0, SR, ASSETS)
    check_clip(clip, 8.0, SR)
    assert np.mean(clip.activity < 0.05) >= 0.15
    assert clip.source_id.startswith("speech:espeak:")
    assert clip.meta["utterances"] and all(u["text"] for u in clip.meta["utterances"])
    again = S.speech_espeak(rng(2), 8.0, SR, ASSETS)
    np.testing.assert_allclose(clip.audio, again.audio, atol=1e-6)
    spk = S.EspeakSpeaker("en+f3", 170, 60)
    assert S.speech_espeak(rng(5), 3.0, SR, ASSETS, speaker=spk).source_id == spk.source_id
    f, p = signal.welch(clip.audio, SR, nperseg=1024)
    assert p[f < 4000].sum() / p.sum() > 0.8


@needs_fluidsynth
def test_music_fluidsynth():
    clip = S.music_fluidsynth(rng(4), 6.0, SR, ASSETS)
    check_clip(clip, 6.0, SR)
    assert clip.source_id.startswith("music:fluidsynth:")
    assert window_rms(clip.audio, 0.5).min() > 1e-3
    assert spectral_flatness(clip.audio) < 0.25
    assert set(clip.meta["programs"]) == {"pad", "lead", "bass"}


@needs_effect_files
def test_effect_events_assets_installed():
    events = S.effect_events_assets(rng(1), 10.0, SR, ASSETS)
    assert 3 <= len(events) <= 8
    stems = {f.rsplit("/", 1)[-1].rsplit(".", 1)[0] for f in ASSETS.effect_files}
    for e in events:
        assert e.cls in stems and e.source_id == f"effect:file:{e.cls}"
        assert 0 < len(e.signal) <= 3 * SR + 1 and np.max(np.abs(e.signal)) <= 1
        assert 0 <= e.onset <= 10.0 - 0.3
