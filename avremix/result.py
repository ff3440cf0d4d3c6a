"""What one file of a batch came to: light enough for the process that only watches a batch
(:mod:`avremix.isolation`) to read and report, without torch or a media library."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass
class FileResult:
    """What one processed file came to (``--json`` prints these)."""

    input: str
    output: str | None
    ok: bool = True
    error: str | None = None
    duration: float | None = None  # seconds of audio processed
    seconds: float | None = None  # wall-clock time
    realtime: float | None = None  # × real time
    audio_codec: str | None = None
    sample_rate: int | None = None
    channels: int | None = None
    streams: list[str] = field(default_factory=list)  # "index:type:codec" of the output
    outputs: dict[str, str] = field(default_factory=dict)  # separate: stem -> file
    skipped: bool = False  # --skip-existing found its output
    exit_code: int | None = None  # of a failure: 2 for a usage error, 1 otherwise
    loudness: dict | None = None  # highlight --loudness: target, before, after (LUFS), gain_db, peak_limited
    warnings: list[str] = field(default_factory=list)  # what went through but deserves a look (damage decoded past)

    def to_dict(self) -> dict:
        return asdict(self)
