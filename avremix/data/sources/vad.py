"""Voice activity: trim recorded utterances to their speech and join short ones into phrases.

:func:`speech_spans` runs silero-vad (its weights ship inside the ``silero-vad`` wheel and load offline;
one model per process, one thread) on 16 kHz audio. :func:`trim` keeps an utterance from its first to its
last detected speech, with a little of its own room before and after. :func:`join` lays utterances on a
timeline the way people speak: isolated words and short prompts grouped into phrases of 2-6 with short
gaps (80-350 ms), phrases and sentences separated by pauses of 0.4-1.5 s.
"""

from __future__ import annotations

import functools

import numpy as np

VAD_SR = 16000
LEAD, TAIL = 0.04, 0.12  # seconds of the recording kept before the first and after the last speech


@functools.lru_cache(maxsize=1)
def _model():
    import torch
    from silero_vad import load_silero_vad

    torch.set_num_threads(1)
    return load_silero_vad()


def speech_spans(x: np.ndarray, sr: int = VAD_SR, threshold: float = 0.5) -> list[tuple[int, int]]:
    """Speech (start, end) sample ranges of mono ``x`` at 16 kHz, from silero-vad."""
    if sr != VAD_SR:
        raise ValueError(f"speech_spans needs {VAD_SR} Hz audio, got {sr}")
    import torch
    from silero_vad import get_speech_timestamps

    if len(x) < int(0.1 * sr):
        return []
    with torch.inference_mode():
        spans = get_speech_timestamps(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), _model(),
                                      sampling_rate=sr, threshold=threshold, min_speech_duration_ms=120,
                                      min_silence_duration_ms=150, speech_pad_ms=0)
    return [(int(s["start"]), int(s["end"])) for s in spans]


def trim(x: np.ndarray, sr: int = VAD_SR) -> np.ndarray | None:
    """``x`` from its first to its last speech (plus :data:`LEAD` / :data:`TAIL`); None without speech."""
    spans = speech_spans(x, sr)
    if not spans:
        return None
    start = max(0, spans[0][0] - int(LEAD * sr))
    end = min(len(x), spans[-1][1] + int(TAIL * sr))
    return x[start:end]


def join(rng: np.random.Generator, pieces: list[np.ndarray], sr: int, n: int, words: bool) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """Lay ``pieces`` (trimmed utterances) on an ``n``-sample timeline with natural pauses, starting after
    a short lead-in; returns the timeline and each placed piece's (start, end). Pieces that no longer fit
    are left out (a piece longer than what is left is cut with a 50 ms fade)."""
    out = np.zeros(n, np.float32)
    placed: list[tuple[int, int]] = []
    pos = int(rng.uniform(0.0, 0.6) * sr)
    in_phrase = 0
    phrase_len = int(rng.integers(2, 7))
    for piece in pieces:
        if pos >= n - int(0.2 * sr):
            break
        seg = piece[: n - pos].astype(np.float32)
        if len(seg) < len(piece):
            fade = min(len(seg), int(0.05 * sr))
            seg = seg.copy()
            seg[len(seg) - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)
        out[pos:pos + len(seg)] += seg
        placed.append((pos, pos + len(seg)))
        pos += len(seg)
        in_phrase += 1
        if words and in_phrase < phrase_len:
            pos += int(rng.uniform(0.08, 0.35) * sr)
        else:
            pos += int(rng.uniform(0.4, 1.5) * sr)
            in_phrase, phrase_len = 0, int(rng.integers(2, 7))
    return out, placed
