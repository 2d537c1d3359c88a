"""The whole compiled-C project: engine sources plus a golden-vector self-check, Makefile and CMakeLists.txt."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgeq.engine.codegen import EngineBuild, generate, source_stem
from edgeq.errors import EmitError
from edgeq.render import c_initializer, c_values, write_files
from edgeq.templates import engine_template, render_project
from edgeq.tflite import TFLiteModel
from edgeq.tflite.golden import GoldenVector
from edgeq.version import __version__

_KINDS = {"int8": ("int8_t", 0), "uint8": ("uint8_t", 1), "float32": ("float", 2)}
# `make arm` without a target profile: the Cortex-M4 with its FPU (edgeq emit passes the target's core and flags)
DEFAULT_CORE = "cortex-m4"
DEFAULT_ARM_CFLAGS = ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16")


def _golden_array(values: np.ndarray) -> str:
    flat = np.asarray(values).reshape(-1)
    if flat.dtype == np.float32:
        return c_values(flat, per_line=8, hex_floats=True) or "    0\n"
    return c_initializer(flat)


def write_engine_project(model: TFLiteModel, name: str, golden: list[GoldenVector], out_dir: Path,
                         dsp: bool = False, cflags: tuple[str, ...] = DEFAULT_ARM_CFLAGS,
                         core: str = DEFAULT_CORE) -> EngineBuild:
    """Render the engine sources and the c-engine template (edgeq.templates: main.c runs `golden`, prints
    PASS/FAIL with the largest difference, returns 0/1; Makefile for the host, sanitizers and `make arm` with
    `cflags`, the target core's; CMakeLists.txt; README.md) into `out_dir`. `dsp`: use the kernels for cores
    with the DSP extension (see `generate`)."""
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise EmitError(f"{out_dir}: the output directory must exist")
    build = generate(model, name, dsp=dsp)
    subgraph = model.main
    inputs = [subgraph.tensors[i] for i in subgraph.inputs]
    outputs = [subgraph.tensors[i] for i in subgraph.outputs]
    vectors = []
    for v, vector in enumerate(golden):
        if len(vector.inputs) != len(inputs) or len(vector.outputs) != len(outputs):
            raise EmitError(f"golden vector {v} has {len(vector.inputs)} inputs and {len(vector.outputs)} outputs; "
                            f"the model has {len(inputs)} and {len(outputs)}")
        vectors.append({
            "inputs": [_golden_array(np.asarray(x, dtype=_np_dtype(t.dtype))) for x, t in zip(vector.inputs, inputs,
                                                                                               strict=True)],
            "outputs": [_golden_array(np.asarray(y, dtype=_np_dtype(t.dtype))) for y, t in zip(vector.outputs, outputs,
                                                                                                strict=True)],
        })
    context = {
        "name": name, "NAME": name.upper(), "stem": source_stem(name), "version": __version__, "sha256": model.sha256,
        "arena_bytes": build.arena_bytes, "lower_bound": build.lower_bound_bytes,
        "weights_bytes": build.weights_bytes, "sources": build.sources, "vectors": vectors,
        "inputs": [{"ctype": _KINDS[t.dtype][0], "kind": _KINDS[t.dtype][1], "elements": t.num_elements}
                   for t in inputs],
        "outputs": [{"ctype": _KINDS[t.dtype][0], "kind": _KINDS[t.dtype][1], "elements": t.num_elements}
                    for t in outputs],
        "ops": sorted(set(build.ops)),
        "arm": {"core": core, "cflags": list(cflags)},
    }
    files = dict(build.files)
    files.update({path: text.encode() for path, text in render_project(engine_template(), context).items()})
    write_files(out_dir, files)
    build.files = files
    return build


def _np_dtype(dtype: str) -> type:
    if dtype not in _KINDS:
        raise EmitError(f"the self-check cannot hold {dtype} values")
    return {"int8": np.int8, "uint8": np.uint8, "float32": np.float32}[dtype]

