"""Convolutions writing their output over their dying input (Lowered.overlap, ops_conv.write_behind).

The distance is checked against a brute-force replay of each kernel's access order; then randomized
convolutions and depthwise convolutions, sandwiched between two copies so that their input and output live in
the arena, run bit-exact with TFLM on both kernel paths on the host and on an emulated Cortex-M4, with their
output placed over their input.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_cases import _conv_like, _inputs
from engine_harness import build_executable, run_cases
from engine_opmodels import Graph, options
from engine_qemu import build_firmware
from engine_qemu import run_cases as run_guest
from test_engine_dsp import _conv as dsp_conv

from edgeq.engine import generate
from edgeq.engine.lowering import lower_model
from edgeq.engine.ops_conv import write_behind
from edgeq.engine.storage import plan_storage
from edgeq.tflite.runners import TFLMRunner

CASES = 24  # per generator


def _replay(window: dict[str, int], block: int, reads_first: bool) -> int:
    """The distance by brute force: walk the kernel's blocks, and for each the highest output byte written so
    far against every input byte a tap reads from then on."""
    w = window
    pixels = [(b, oy, ox) for b in range(w["batches"]) for oy in range(w["out_h"]) for ox in range(w["out_w"])]

    def reads(p: tuple[int, int, int]) -> list[int]:
        b, oy, ox = p
        found = []
        for fy in range(w["k_h"]):
            iy = oy * w["stride_h"] - w["pad_h"] + fy * w["dilation_h"]
            for fx in range(w["k_w"]):
                ix = ox * w["stride_w"] - w["pad_w"] + fx * w["dilation_w"]
                if 0 <= iy < w["in_h"] and 0 <= ix < w["in_w"]:
                    base = ((b * w["in_h"] + iy) * w["in_w"] + ix) * w["in_c"]
                    found.extend(range(base, base + w["in_c"]))
        return found

    per_batch = w["out_h"] * w["out_w"]
    blocks = [list(range(start, min(start + block, (start // per_batch + 1) * per_batch)))
              for start in range(0, len(pixels), 1) if (start % per_batch) % block == 0]
    worst = None
    for k, members in enumerate(blocks):
        later = [q for m in blocks[k + (1 if reads_first else 0):] for q in m]
        read = [a for q in later for a in reads(pixels[q])]
        if read:
            gap = (members[-1] + 1) * w["out_c"] - min(read)
            worst = gap if worst is None else max(worst, gap)
    return worst if worst is not None else -w["batches"] * w["in_h"] * w["in_w"] * w["in_c"]


def test_write_behind_matches_a_replay_of_the_kernels():
    rng = np.random.default_rng(3)
    for _ in range(300):
        w = {"batches": int(rng.integers(1, 3)), "in_h": int(rng.integers(1, 8)), "in_w": int(rng.integers(1, 8)),
             "in_c": int(rng.integers(1, 5)), "k_h": int(rng.integers(1, 4)), "k_w": int(rng.integers(1, 4)),
             "stride_h": int(rng.integers(1, 3)), "stride_w": int(rng.integers(1, 3)),
             "dilation_h": int(rng.integers(1, 3)), "dilation_w": int(rng.integers(1, 3)),
             "pad_h": int(rng.integers(0, 3)), "pad_w": int(rng.integers(0, 3)), "out_c": int(rng.integers(1, 6))}
        w["out_h"], w["out_w"] = int(rng.integers(1, 7)), int(rng.integers(1, 7))
        for block, reads_first in ((1, False), (2, False), (2, True)):
            assert write_behind(w, block, reads_first) == _replay(w, block, reads_first), (w, block, reads_first)


def _sandwich(graph: Graph) -> Graph:
    """input -> PAD (no padding: a copy) -> the op -> PAD (a copy) -> output: the op's input dies at the op and
    its output at the second copy, both in the arena."""
    (x,), (y,) = graph.inputs, graph.outputs
    tx, ty = graph.tensors[x], graph.tensors[y]
    x0 = graph.tensor(tx["shape"], scale=tx["scale"], zero_point=tx["zero_point"])
    z = graph.tensor(ty["shape"], scale=ty["scale"], zero_point=ty["zero_point"])
    pads_x = graph.tensor((len(tx["shape"]), 2), "int32", data=np.zeros((len(tx["shape"]), 2), np.int32))
    pads_y = graph.tensor((len(ty["shape"]), 2), "int32", data=np.zeros((len(ty["shape"]), 2), np.int32))
    graph.ops.insert(0, ("PAD", [x0, pads_x], [x], "PadOptions", options("PadOptions")))
    graph.op("PAD", [y, pads_y], [z], "PadOptions", options("PadOptions"))
    graph.inputs, graph.outputs = [x0], [z]
    return graph


@pytest.fixture(scope="session")
def overlap_cases():
    """(name, model, input vectors, TFLM outputs): portable-style cases (groups, depth multipliers, batches,
    dilations) and cases where the DSP kernels apply (1x1 in place, im2col, depthwise)."""
    rng = np.random.default_rng(2024)
    cases = []
    for k in range(CASES):
        for kind in ("conv", "depthwise"):
            graph, text = _conv_like(rng, depthwise=kind == "depthwise")
            cases.append((f"{kind}{k} {text}", _sandwich(graph).build()))
        for kind in ("conv1x1", "conv", "depthwise"):
            graph, text = dsp_conv(rng, kind, k % 4)
            cases.append((f"dsp-{kind}{k} {text}", _sandwich(graph).build()))
    found = []
    for name, model in cases:
        vectors = _inputs(rng, model)
        runner = TFLMRunner(model)
        found.append((name, model, vectors, [runner.run(v) for v in vectors]))
    return found


def _overlapped(model, dsp: bool) -> bool:
    """Whether the op's output was placed over its input (the two share arena bytes)."""
    lowered = lower_model(model, dsp=dsp)
    storage = plan_storage(model.main, lowered)
    op = model.main.operators[1]
    a, b = storage.locations[op.inputs[0]], storage.locations[op.outputs[0]]
    tensors = model.main.tensors
    return (a.kind == b.kind == "arena" and a.value < b.value + tensors[op.outputs[0]].nbytes
            and b.value < a.value + tensors[op.inputs[0]].nbytes)


def _mismatches(cases, got) -> list[str]:
    bad = []
    for (name, _, _, expected), outputs in zip(cases, got, strict=True):
        for v, (e_vec, g_vec) in enumerate(zip(expected, outputs, strict=True)):
            for e, g in zip(e_vec, g_vec, strict=True):
                if not np.array_equal(e, g):
                    bad.append(f"{name} vector {v}: max diff {np.abs(e.astype(int) - g.astype(int)).max()}")
    return bad


@pytest.mark.parametrize("path", ["portable", "dsp"])
def test_outputs_over_dying_inputs_are_bit_exact_on_the_host(overlap_cases, path, tmp_path_factory, gcc):
    dsp = path == "dsp"
    overlapped = [_overlapped(model, dsp) for _, model, _, _ in overlap_cases]
    assert sum(overlapped) >= 0.8 * len(overlap_cases), f"only {sum(overlapped)} of {len(overlap_cases)} overlap"
    builds = [generate(model, f"{path}{i}", dsp=dsp) for i, (_, model, _, _) in enumerate(overlap_cases)]
    exe = build_executable(builds, tmp_path_factory.mktemp(f"overlap-{path}"), sanitize=True)
    got = run_cases(exe, builds, [c[1] for c in overlap_cases], [c[2] for c in overlap_cases])
    assert not _mismatches(overlap_cases, got)


@pytest.mark.qemu
def test_outputs_over_dying_inputs_are_bit_exact_on_an_emulated_cortex_m4(overlap_cases, tmp_path_factory):
    cases = [c for c in overlap_cases if c[0].startswith("dsp-")]
    builds = [generate(model, f"m4case{i}", dsp=True) for i, (_, model, _, _) in enumerate(cases)]
    elf, machine = build_firmware(builds, tmp_path_factory.mktemp("overlap-m4"), "cortex-m4")
    got = run_guest(elf, machine, builds, [c[1] for c in cases], [c[2] for c in cases])
    assert not _mismatches(cases, got)
