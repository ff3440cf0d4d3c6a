"""open_clip image embeddings of video frames, and text embeddings of per-second captions.

Both encoders load an open_clip model from a *local* weights file that the user supplies (a state dict
saved with ``torch.save(model.state_dict(), path)``, an open_clip training checkpoint with a
``"state_dict"`` key, or a ``.safetensors`` file) for a model name that open_clip knows (a built-in name
such as ``"ViT-B-32"``, or one registered with ``open_clip.add_model_config``). Nothing is downloaded:
pretrained tags (``"openai"``, ...) and ``hf-hub:`` names are refused. Models whose text tower or tokenizer
come from Hugging Face (``hf_model_name`` / ``hf_tokenizer_name`` in their config) additionally need those
files in the local Hugging Face cache.

    ClipVisualEncoder(model, weights, fps)   uint8 frames [F, H, W, 3] ──► float32 [F, dim], unit norm
    CaptionEncoder(model, weights, fps)      captions (.json / .srt) ──► float32 [ceil(duration * fps), dim]

Needs the optional dependency ``open_clip_torch``; it is imported when a model is loaded.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from avremix.errors import AvremixError
from avremix.features import check_fps, check_frames

__all__ = ["Caption", "CaptionEncoder", "ClipModel", "ClipVisualEncoder", "load_clip", "read_captions"]


# --------------------------------------------------------------------------------------------- model


@dataclass(frozen=True)
class ClipModel:
    """A loaded open_clip model (eval mode, on ``device``) and what is needed to feed it."""

    name: str
    weights: Path
    model: torch.nn.Module
    device: torch.device
    dim: int  # embedding size (shared by both towers)
    image_size: tuple[int, int]  # (height, width) of the image tower's input
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str  # "bicubic" | "bilinear"
    resize_mode: str  # "shortest" (resize + centre crop) | "longest" (resize + pad) | "squash"
    fill_color: int

    def tokenizer(self):
        """open_clip's tokenizer for this model (a callable: list of str -> LongTensor [N, context])."""
        return _tokenizer(self.name)


def _import_open_clip():
    try:
        import open_clip
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise AvremixError(f"CLIP features need the open_clip_torch package ({exc}); pip install open_clip_torch")
    return open_clip


@functools.lru_cache(maxsize=4)
def _tokenizer(model_name: str):
    return _import_open_clip().get_tokenizer(model_name)


def clip_model_name(model: str | os.PathLike) -> str:
    """An open_clip model name; a ``*.json`` model-config file is registered with open_clip first and
    its file name (without ``.json``) returned, so architectures open_clip does not ship work too."""
    text = str(model)
    if not text.endswith(".json"):
        return text
    path = Path(text).expanduser()
    if not path.is_file():
        raise AvremixError("open_clip model config file not found", path)
    try:
        json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise AvremixError(f"not a readable open_clip model config ({exc})", path) from None
    _import_open_clip().add_model_config(path)
    return path.stem


def load_clip(model_name: str, weights: str | os.PathLike, device: str | torch.device = "cpu") -> ClipModel:
    """Load open_clip model ``model_name`` with the weights in the local file ``weights``.

    Loaded models are cached (by name, file, its size and modification time, and device), so a
    :class:`ClipVisualEncoder` and a :class:`CaptionEncoder` of the same model share one copy.
    Raises :class:`AvremixError` naming the file when it is missing, unreadable, or its tensors do not fit
    ``model_name``, and when ``model_name`` is not an open_clip model name.
    """
    model_name = clip_model_name(model_name)
    path = Path(weights).expanduser()
    if not path.is_file():
        raise AvremixError(f"CLIP weights file not found (for open_clip model {model_name!r})", path)
    path = path.resolve()  # absolute: open_clip must never take it for a pretrained tag and download it
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise AvremixError(f"invalid torch device {device!r}: {exc}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise AvremixError(f"torch device {device!r} requested, but CUDA is not available")
    stat = path.stat()
    return _load_clip(str(model_name), str(path), stat.st_size, stat.st_mtime_ns, str(dev))


@functools.lru_cache(maxsize=2)
def _load_clip(model_name: str, path: str, _size: int, _mtime: int, device: str) -> ClipModel:
    open_clip = _import_open_clip()
    if ":" in model_name.split("/")[0]:
        raise AvremixError(
            f"CLIP model {model_name!r}: give an open_clip model name (e.g. 'ViT-B-32') and a local weights file;"
            " hf-hub:/local-dir: sources are not supported",
            path,
        )
    if open_clip.get_model_config(model_name.replace("/", "-")) is None:
        known = ", ".join(sorted(open_clip.list_models())[:12])
        raise AvremixError(f"unknown open_clip model name {model_name!r} (known names include: {known}, ...; "
                           "for another architecture pass its model-config JSON file as --clip-model)")
    try:
        model = open_clip.create_model(model_name, pretrained=path, device=device, weights_only=True)
    except Exception as create_error:  # open_clip raises RuntimeError/AssertionError/UnpicklingError/... on bad files
        cause: Exception = create_error
        try:  # tell an unreadable file from one whose tensors do not fit (only on this error path)
            from open_clip.factory import load_state_dict

            readable = bool(load_state_dict(path, device="cpu", weights_only=True))
        except Exception as read_error:
            readable, cause = False, read_error
        reason = f"{type(cause).__name__}: {' '.join(str(cause).split())}"
        if len(reason) > 400:
            reason = reason[:400] + "..."
        if readable:
            message = f"weights do not match open_clip model {model_name!r} (wrong file or model name?): {reason}"
        else:
            message = f"not a readable PyTorch/safetensors checkpoint ({reason})"
        raise AvremixError(message, path) from None
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    cfg = dict(model.visual.preprocess_cfg)
    size = cfg.get("size", 224)
    image_size = (int(size), int(size)) if isinstance(size, (int, float)) else (int(size[0]), int(size[1]))
    dev = torch.device(device)
    with torch.inference_mode():
        dim = int(model.encode_image(torch.zeros((1, 3, *image_size), device=dev)).shape[-1])
    return ClipModel(
        name=model_name,
        weights=Path(path),
        model=model,
        device=dev,
        dim=dim,
        image_size=image_size,
        mean=tuple(float(v) for v in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
        std=tuple(float(v) for v in cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
        interpolation="bilinear" if cfg.get("interpolation") == "bilinear" else "bicubic",
        resize_mode=str(cfg.get("resize_mode", "shortest")),
        fill_color=int(cfg.get("fill_color", 0) or 0),
    )


def _l2_normalise(x: torch.Tensor) -> torch.Tensor:
    return F.normalize(x.float(), dim=-1, eps=1e-12)


# --------------------------------------------------------------------------------------------- images


class ClipVisualEncoder:
    """Unit-norm open_clip image embeddings, one per frame: a :class:`~avremix.features.VisualEncoder`.

    Frames are embedded independently (no state: streaming is trivially exact up to float rounding of
    different batch sizes); ``fps`` only records the rate of the frames the caller passes (typically 1-2 fps
    subsampled from the video). Preprocessing follows the model's open_clip config (resize mode, size,
    bicubic/bilinear interpolation with antialiasing, centre crop/pad, mean/std normalisation), done with
    torch ops on ``device`` instead of PIL: same geometry, interpolation values within rounding of PIL's.

    Args:
        model_name: open_clip model name (built-in, or registered with ``open_clip.add_model_config``).
        weights: local weights file for that model.
        fps: rate of the frames given to :meth:`encode`.
        device: torch device to run on.
        batch_size: frames per forward pass.
    """

    def __init__(
        self,
        model_name: str,
        weights: str | os.PathLike,
        fps: float = 1.0,
        device: str | torch.device = "cpu",
        batch_size: int = 32,
    ) -> None:
        fps = check_fps(fps)
        if int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.clip = load_clip(model_name, weights, device)
        self.fps = float(fps)
        self.dim = self.clip.dim
        self.batch_size = int(batch_size)

    def reset(self) -> None:
        """Nothing to forget: frames are embedded independently."""

    def preprocess(self, frames: np.ndarray) -> torch.Tensor:
        """uint8 RGB ``[F, H, W, 3]`` -> normalised float32 model input ``[F, 3, h, w]`` on the device."""
        frames = check_frames(frames)
        c = self.clip
        x = torch.from_numpy(frames).to(c.device).permute(0, 3, 1, 2).float()
        th, tw = c.image_size
        h, w = x.shape[-2:]
        if c.resize_mode == "squash":
            x = self._resize(x, th, tw)
        elif c.resize_mode == "shortest" and th == tw:  # torchvision Resize(int): long side truncated
            short, long = (h, w) if h <= w else (w, h)
            new_long = int(th * long / short)
            x = self._resize(x, *((th, new_long) if h <= w else (new_long, th)))
            x = _center_crop_or_pad(x, th, tw, float(c.fill_color))
        else:  # open_clip's ResizeKeepRatio: both sides rounded
            ratio_h, ratio_w = h / th, w / tw
            ratio = max(ratio_h, ratio_w) if c.resize_mode == "longest" else min(ratio_h, ratio_w)
            x = self._resize(x, max(1, round(h / ratio)), max(1, round(w / ratio)))
            x = _center_crop_or_pad(x, th, tw, float(c.fill_color))
        x = x.clamp_(0.0, 255.0).div_(255.0)
        mean = torch.tensor(c.mean, device=c.device).view(1, 3, 1, 1)
        std = torch.tensor(c.std, device=c.device).view(1, 3, 1, 1)
        return (x - mean) / std

    def _resize(self, x: torch.Tensor, h: int, w: int) -> torch.Tensor:
        if tuple(x.shape[-2:]) == (h, w):
            return x
        return F.interpolate(x, size=(h, w), mode=self.clip.interpolation, align_corners=False, antialias=True)

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB ``[F, H, W, 3]`` -> float32 ``[F, dim]`` L2-normalised image embeddings."""
        frames = check_frames(frames)
        out = np.zeros((frames.shape[0], self.dim), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, frames.shape[0], self.batch_size):
                batch = self.preprocess(frames[i : i + self.batch_size])
                out[i : i + len(batch)] = _l2_normalise(self.clip.model.encode_image(batch)).cpu().numpy()
        return out


def _center_crop_or_pad(x: torch.Tensor, th: int, tw: int, fill: float) -> torch.Tensor:
    """Centre crop ``[..., H, W]`` to ``[..., th, tw]``, padding with ``fill`` where it is smaller (as torchvision)."""
    h, w = x.shape[-2:]
    if h < th or w < tw:
        pad_w, pad_h = max(tw - w, 0), max(th - h, 0)
        x = F.pad(x, (pad_w // 2, (pad_w + 1) // 2, pad_h // 2, (pad_h + 1) // 2), value=fill)
        h, w = x.shape[-2:]
    top = int(round((h - th) / 2.0))
    left = int(round((w - tw) / 2.0))
    return x[..., top : top + th, left : left + tw]


# --------------------------------------------------------------------------------------------- captions


@dataclass(frozen=True)
class Caption:
    """A caption shown over ``[start, end)`` seconds; ``line`` is where it is in its file (1-based)."""

    start: float
    end: float
    text: str
    line: int = 0


def read_captions(path: str | os.PathLike) -> list[Caption]:
    """Captions from a JSON or SRT file, in file order.

    Formats (chosen by the suffix ``.json`` / ``.srt``, else by the content):

    - JSON list: ``[{"start": 0.0, "end": 2.5, "text": "a dog barks"}, ...]`` (seconds, ``end > start``;
      other keys are ignored);
    - JSON object keyed by second: ``{"0": "a dog barks", "1": "...", "7": null}``: each caption lasts one
      second from its key (keys may be fractional; ``null`` or ``""`` means no caption);
    - SRT: numbered blocks with ``HH:MM:SS,mmm --> HH:MM:SS,mmm`` and text lines (the number line is
      optional, ``.`` is accepted for ``,``, tags like ``<i>`` and ``{\\an8}`` are removed).

    Raises :class:`AvremixError` naming the file and the line for anything malformed.
    """
    path = Path(path)
    if not path.is_file():
        raise AvremixError("caption file not found", path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AvremixError(f"caption file is not UTF-8 text (byte {exc.start})", path) from None
    suffix = path.suffix.lower()
    if suffix == ".json" or (suffix != ".srt" and text.lstrip()[:1] in ("[", "{")):
        return _parse_json_captions(text, path)
    if suffix == ".srt" or "-->" in text:
        return _parse_srt(text, path)
    raise AvremixError("unknown caption format: use a .json or .srt file", path)


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _error(path: Path, line: int, message: str) -> AvremixError:
    return AvremixError(f"line {line}: {message}", path)


_JSON_WS = re.compile(r"[ \t\n\r]*")


def _top_level_items(text: str) -> list[tuple[int, Any, Any]]:
    """``(offset, key, value)`` of each element of the top-level JSON array/object (key None for arrays).

    ``text`` must already be known to be valid JSON; duplicate object keys are all returned.
    """
    dec = json.JSONDecoder()
    i = _JSON_WS.match(text, 0).end()
    opening = text[i]
    closing = "]" if opening == "[" else "}"
    i = _JSON_WS.match(text, i + 1).end()
    items: list[tuple[int, Any, Any]] = []
    if text[i] == closing:
        return items
    while True:
        i = _JSON_WS.match(text, i).end()
        start, key = i, None
        if opening == "{":
            key, i = dec.raw_decode(text, i)
            i = _JSON_WS.match(text, i).end() + 1  # the ':'
            i = _JSON_WS.match(text, i).end()
        value, i = dec.raw_decode(text, i)
        items.append((start, key, value))
        i = _JSON_WS.match(text, i).end()
        if text[i] != ",":
            return items
        i += 1


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _parse_json_captions(text: str, path: Path) -> list[Caption]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _error(path, exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(data, (list, dict)):
        raise _error(path, 1, "captions must be a JSON list of {start, end, text} or an object keyed by second")
    captions: list[Caption] = []
    seen: dict[float, int] = {}
    for offset, key, value in _top_level_items(text):
        line = _line_of(text, offset)
        if isinstance(data, list):
            if not isinstance(value, dict):
                raise _error(path, line, 'each caption must be an object {"start": s, "end": s, "text": "..."}')
            missing = [k for k in ("start", "end", "text") if k not in value]
            if missing:
                raise _error(path, line, f"caption lacks {', '.join(repr(k) for k in missing)}")
            start, end, words = _number(value["start"]), _number(value["end"]), value["text"]
            if start is None or end is None:
                raise _error(path, line, "caption 'start' and 'end' must be numbers of seconds")
            if words is not None and not isinstance(words, str):
                raise _error(path, line, "caption 'text' must be a string")
        else:
            try:
                start = float(key)
            except ValueError:
                raise _error(path, line, f"key {key!r} is not a number of seconds") from None
            if not math.isfinite(start):
                raise _error(path, line, f"key {key!r} is not a number of seconds")
            if start in seen:
                raise _error(path, line, f"second {key!r} already has a caption (line {seen[start]})")
            seen[start] = line
            end, words = start + 1.0, value
            if words is not None and not isinstance(words, str):
                raise _error(path, line, f"caption for second {key!r} must be a string or null")
        if start < 0:
            raise _error(path, line, f"caption starts before 0 s ({start})")
        if not end > start:
            raise _error(path, line, f"caption must end after it starts, got [{start}, {end}]")
        captions.append(Caption(start, end, _clean_text(words or ""), line))
    return captions


_SRT_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?"
_SRT_TIMING = re.compile(rf"\s*{_SRT_TIME}\s*-->\s*{_SRT_TIME}(?:\s.*)?")
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def _srt_seconds(hours: str | None, minutes: str, seconds: str, millis: str | None) -> float:
    ms = int((millis or "0").ljust(3, "0"))
    return int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds) + ms / 1000.0


def _parse_srt(text: str, path: Path) -> list[Caption]:
    lines = text.splitlines()
    captions: list[Caption] = []
    i = 0
    while i < len(lines):
        if not lines[i].strip():
            i += 1
            continue
        if lines[i].strip().isdigit() and i + 1 < len(lines) and lines[i + 1].strip():
            i += 1  # the block's number
        match = _SRT_TIMING.fullmatch(lines[i])
        if match is None:
            raise _error(path, i + 1, f"expected a timing line like '00:00:01,000 --> 00:00:02,500', got {lines[i]!r}")
        g = match.groups()
        start, end = _srt_seconds(*g[:4]), _srt_seconds(*g[4:])
        if int(g[2]) >= 60 or int(g[6]) >= 60 or int(g[1]) >= 60 or int(g[5]) >= 60:
            raise _error(path, i + 1, f"minutes and seconds must be below 60 in {lines[i].strip()!r}")
        if not end > start:
            raise _error(path, i + 1, f"caption must end after it starts ({lines[i].strip()!r})")
        timing_line = i + 1
        i += 1
        body = []
        while i < len(lines) and lines[i].strip():
            body.append(lines[i].strip())
            i += 1
        captions.append(Caption(start, end, _clean_text(" ".join(body)), timing_line))
    return captions


def _clean_text(text: str) -> str:
    return " ".join(_TAGS.sub("", text).split())


class CaptionEncoder:
    """Text-tower embeddings of the caption shown at each frame time, on a grid of ``fps``.

    ``load(path)`` reads captions (see :func:`read_captions`); ``features(duration_s)`` gives float32
    ``[ceil(duration_s * fps), dim]`` where row ``k`` (time ``k / fps``) is the unit-norm embedding of the
    caption active then (``start <= k / fps < end``; where captions overlap, the one that started last,
    then the later in the file) and zeros where there is none (or its text is empty). Embeddings are cached
    by text, so repeated captions and repeated calls cost nothing.

    Args:
        model_name, weights, device: as for :class:`ClipVisualEncoder` (one loaded model is shared).
        fps: rate of the feature grid (use the visual features' rate to keep them aligned).
        batch_size: captions per forward pass of the text tower.
    """

    def __init__(
        self,
        model_name: str,
        weights: str | os.PathLike,
        fps: float = 1.0,
        device: str | torch.device = "cpu",
        batch_size: int = 64,
    ) -> None:
        fps = check_fps(fps)
        self.clip = load_clip(model_name, weights, device)
        try:
            self._tokenize = self.clip.tokenizer()
        except Exception as exc:
            raise AvremixError(f"cannot build the tokenizer of open_clip model {model_name!r}: {exc}") from None
        self.fps = float(fps)
        self.dim = self.clip.dim
        self.batch_size = max(1, int(batch_size))
        self.captions: list[Caption] = []
        self._cache: dict[str, np.ndarray] = {}

    def load(self, path: str | os.PathLike) -> list[Caption]:
        """Read the captions of the next video from ``path`` (replacing the current ones) and return them."""
        self.captions = read_captions(path)
        return self.captions

    def reset(self) -> None:
        """Forget the current captions (the embedding cache is kept)."""
        self.captions = []

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm text embeddings, float32 ``[len(texts), dim]`` (cached by text)."""
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        with torch.inference_mode():
            for i in range(0, len(todo), self.batch_size):
                chunk = todo[i : i + self.batch_size]
                tokens = self._tokenize(chunk).to(self.clip.device)
                emb = _l2_normalise(self.clip.model.encode_text(tokens)).cpu().numpy()
                self._cache.update(zip(chunk, emb))
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack([self._cache[t] for t in texts]).astype(np.float32, copy=False)

    def features(self, duration_s: float, captions: Sequence[Caption] | None = None) -> np.ndarray:
        """float32 ``[ceil(duration_s * fps), dim]``: the embedding of the caption active at each frame time.

        ``captions`` defaults to those of the last :meth:`load`.
        """
        if not (math.isfinite(duration_s) and duration_s >= 0):
            raise ValueError(f"duration_s must be >= 0, got {duration_s!r}")
        captions = self.captions if captions is None else list(captions)
        n = math.ceil(duration_s * self.fps - 1e-9)
        which = np.full(n, -1, dtype=np.int64)
        # later-starting captions (then later ones in the file) overwrite earlier ones where they overlap
        order = sorted(range(len(captions)), key=lambda j: (captions[j].start, j))
        for j in order:
            k0 = max(0, math.ceil(captions[j].start * self.fps - 1e-9))
            k1 = min(n, math.ceil(captions[j].end * self.fps - 1e-9))
            which[k0:k1] = j if captions[j].text else -1  # an empty caption blanks what it covers
        out = np.zeros((n, self.dim), dtype=np.float32)
        shown = np.flatnonzero(which >= 0)
        if shown.size:
            used = sorted(set(which[shown].tolist()))
            emb = self.embed([captions[j].text for j in used])
            row = {j: r for r, j in enumerate(used)}
            out[shown] = emb[[row[j] for j in which[shown]]]
        return out
