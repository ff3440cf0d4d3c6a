"""One highlight job in a fresh process, timed as benchmarks/bench_engine.py's worker times it (from before the
model loads; --loudness auto), with a candidate model and switches the shipped default does not use yet:

    python runs/highlight-cfm-student/bench.py MODEL SRC DST [near] [aacfast]

near: pipeline.NEAREST_REFERENCE; aacfast: ffmpeg's fast AAC coder. SRC: the bench's inputs (bench-out/)."""
import json, os, sys, time, resource
os.environ.setdefault("GOMP_SPINCOUNT", "1000")
import torch
from avremix.engine import EngineConfig
from avremix.highlight import highlight_file, loudness_target
from avremix import pipeline
from avremix.checkpoint import load
model_name, src, dst, *flags = sys.argv[1:]
if "near" in flags:
    pipeline.NEAREST_REFERENCE = True
if "aacfast" in flags:
    from avremix.media import writer as W
    orig = W.AudioCodec.__init__
    def init(self, encoder, options=()):
        orig(self, encoder, tuple(options) + (("-aac_coder", "fast") if encoder == "aac" else ()))
    W.AudioCodec.__init__ = init
t0 = time.perf_counter(); c0 = time.process_time()
model = load(model_name)
highlight_file(src, dst, model=model, strength=1.0, overwrite=True, config=EngineConfig(device="cpu"), loudness=loudness_target("auto", model))
wall = time.perf_counter() - t0
ch = resource.getrusage(resource.RUSAGE_CHILDREN)
from avremix.media.probe import probe
print(json.dumps({"model": model_name, "src": os.path.basename(src), "flags": flags, "wall": round(wall, 2), "xrt": round(probe(src).duration / wall, 2),
                  "cpu_self": round(time.process_time() - c0, 1), "cpu_children": round(ch.ru_utime + ch.ru_stime, 1)}))
