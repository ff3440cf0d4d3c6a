"""Model checkpoints: ``model.safetensors`` (half precision) + ``model.json`` sidecar, loaded weights-only.

The sidecar holds the model's name, its config, the sample rate and fps it works at, the avremix version
and free-form training notes. A model is rebuilt from its config and the tensors are copied in; nothing
is unpickled. ``--model`` takes a shipped name (a folder of ``models/``) or a path to such a folder.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from avremix import __version__
from avremix.atomic import publish
from avremix.config import config_from_dict
from avremix.errors import UsageError
from avremix.nets.cass import CASSConfig, CASSSeparator
from avremix.nets.cfm import CFMConfig, CFMHighlighter
from avremix.nets.htdemucs import HTDemucsConfig, HTDemucsSeparator
from avremix.nets.onscreen import OnScreenConfig, OnScreenSeparator
from avremix.nets.visah import VisAH, VisAHConfig

#: model name → (class, config class)
MODELS: dict[str, tuple[type[torch.nn.Module], type]] = {
    "cfm": (CFMHighlighter, CFMConfig), "visah": (VisAH, VisAHConfig),
    "cass": (CASSSeparator, CASSConfig), "htdemucs": (HTDemucsSeparator, HTDemucsConfig),
    "onscreen": (OnScreenSeparator, OnScreenConfig)}
DEFAULT_MODEL = "highlight-cfm"
DEFAULT_SEPARATOR = "separate-cass"
#: the separator trained to work without a picture too (``model.picture_drop``), when it is shipped
AUDIO_FIRST_SEPARATOR = "separate-cass-audiofirst"
DEFAULT_ONSCREEN = "separate-onscreen"  # `avremix separate --stems on off`


def models_dir() -> Path:
    """Where shipped models live: ``AVREMIX_MODELS``, else ``models/`` beside the package."""
    return Path(os.environ.get("AVREMIX_MODELS", Path(__file__).resolve().parent.parent / "models"))


def save(model: torch.nn.Module, folder: str | os.PathLike, notes: dict | None = None, state: dict | None = None) -> Path:
    """Write ``folder/model.safetensors`` (fp16) and ``folder/model.json``; atomic per file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu", torch.float16 if v.is_floating_point() else v.dtype).contiguous()
               for k, v in (state if state is not None else model.state_dict()).items()}
    meta = {
        "model": model.name, "config": dataclasses.asdict(model.config), "sample_rate": model.sample_rate,
        "fps": model.fps, "frame_size": list(model.frame_size), "avremix_version": __version__, **(notes or {}),
    }
    for name, write in (("model.safetensors", lambda p: save_file(tensors, p)), ("model.json", lambda p: Path(p).write_text(json.dumps(meta, indent=2) + "\n"))):
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
        os.close(fd)
        write(tmp)
        publish(tmp, folder / name)
    return folder


def resolve(name_or_path: str) -> Path:
    """A shipped model's folder, or the given folder; clear error listing what ships otherwise."""
    path = Path(name_or_path)
    if path.is_dir():
        if not (path / "model.json").exists():
            raise UsageError("is not a model folder (no model.json)", path)
        return path
    shipped = models_dir() / name_or_path
    if (shipped / "model.json").exists():
        return shipped
    available = ", ".join(m["name"] for m in list_models()) or "none"
    raise UsageError(f"no model {name_or_path!r}: give a shipped name ({available}) or a model folder")


def load(name_or_path: str, device: str | torch.device = "cpu") -> torch.nn.Module:
    """Rebuild a model from its sidecar and load its weights (safetensors: weights only). ``htdemucs:PATH``
    loads a user's HTDemucs checkpoint (demucs' ``.th`` format) as a separator."""
    if name_or_path.startswith("htdemucs:"):
        return HTDemucsSeparator.from_demucs_checkpoint(name_or_path.split(":", 1)[1]).to(device).eval()
    folder = resolve(name_or_path)
    meta = json.loads((folder / "model.json").read_text())
    if meta.get("model") not in MODELS:
        raise UsageError(f"unknown model type {meta.get('model')!r} in model.json", folder)
    cls, config_cls = MODELS[meta["model"]]
    model = cls(config_from_dict(config_cls, meta["config"]))
    tensors = load_file(folder / "model.safetensors")
    own = model.state_dict()
    missing = set(own) - set(tensors) - set(getattr(model, "added_weights", ()))  # added later, zero-initialised: start as before
    if missing:
        raise UsageError(f"weights do not match the {meta['model']} config: {len(missing)} tensors missing "
                         f"(saved by avremix {meta.get('avremix_version', '?')}; this is {__version__})", folder)
    unexpected = set(tensors) - set(own)
    if unexpected:
        raise UsageError(f"weights do not match the {meta['model']} config: {len(unexpected)} tensors it does not have, e.g. "
                         f"{sorted(unexpected)[0]} (saved by avremix {meta.get('avremix_version', '?')}; this is {__version__})", folder)
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in tensors.items()}, strict=False)
    model.not_loaded = tuple(sorted(set(own) - set(tensors)))  # added weights this checkpoint predates (at their initial value)
    model.target_lufs = meta.get("target_lufs")  # a highlighter's training targets' median loudness (--loudness auto)
    return model.to(device).eval()


def list_models() -> list[dict]:
    """Shipped models: name, type, size and the notes of their sidecar."""
    out = []
    root = models_dir()
    for folder in sorted(p for p in root.iterdir() if (p / "model.json").exists()) if root.exists() else []:
        meta = json.loads((folder / "model.json").read_text())
        out.append({"name": folder.name, "model": meta.get("model"), "size_mb": round((folder / "model.safetensors").stat().st_size / 2**20, 1),
                    "sample_rate": meta.get("sample_rate"), "fps": meta.get("fps"), "default": folder.name in (DEFAULT_MODEL, DEFAULT_SEPARATOR, DEFAULT_ONSCREEN),
                    "target_lufs": meta.get("target_lufs"), "summary": meta.get("summary", "")})
    return out
