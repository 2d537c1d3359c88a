"""Packed filters in the compiled-C engine (eq_packed.c): LUT-indexed (TFLM_DECODE) and int4 weights decoded
inside the kernels, bit for bit against TFLM running the same compressed model (the tflite-micro package
decodes both), on the portable and the DSP-core builds, on the host with sanitizers and on an emulated
Cortex-M4; and no decoded copy of a filter in RAM (one output channel's weights of scratch)."""

from __future__ import annotations

import numpy as np
import pytest
from compress_models import random_inputs, weight_model
from engine_harness import build_executable
from engine_harness import run_cases as run_host
from engine_qemu import build_firmware
from engine_qemu import run_cases as run_guest

from edgeq.compress.options import parse_compress
from edgeq.compress.rewrite import rewrite
from edgeq.engine import generate
from edgeq.tflite import read_model
from edgeq.tflite.runners import TFLMRunner

SPECS = ("cluster=2", "cluster=3", "cluster=4", "int4")
KERNELS = ("eq_conv_packed_s8(", "eq_dwconv_packed_s8(", "eq_fc_packed_s8(")


@pytest.fixture(scope="module")
def packed_cases(digits_int8) -> list[tuple[str, object, object, list]]:
    """(label, compressed model, its uncompressed equivalent, input vectors) for the test model and digits."""
    cases = []
    for source, data in (("weights", weight_model()), ("digits", digits_int8.data)):
        for spec in SPECS:
            rewritten = rewrite(data, parse_compress(spec))
            model = read_model(rewritten.model)
            shape = model.main.input_tensors()[0].shape
            rng = np.random.default_rng(len(cases))
            vectors = [[x.reshape(shape)] for x in random_inputs(12, seed=len(cases))] if source == "weights" else \
                [[rng.integers(-128, 128, shape).astype(np.int8)] for _ in range(12)]
            cases.append((f"{source} {spec}", model, read_model(rewritten.equivalent), vectors))
    # edgeq's int4 is symmetric ([-7, 7]); other tools' int4 filters use -8 too.
    minus8, packed = _with_minus_8(rewrite(weight_model(), parse_compress("int4")).equivalent)
    cases.append(("weights int4 with -8", read_model(packed), read_model(minus8), cases[3][3]))
    return cases


def _with_minus_8(equivalent: bytes) -> tuple[bytes, bytes]:
    """(int8 model whose int4-valued filters have -7 turned into -8, the same with those filters packed)."""
    from edgeq.compress import flatbuffer, int4

    model = flatbuffer.load(equivalent)
    weights, _ = flatbuffer.weight_tensors(model)
    for weight in weights:
        tensor = model.subgraphs[0].tensors[weight.index]
        flatbuffer.set_buffer(model, tensor, np.where(weight.values == -7, -8, weight.values).astype(np.int8).tobytes())
    plain = flatbuffer.pack(model)
    model = flatbuffer.load(plain)
    for weight in flatbuffer.weight_tensors(model)[0]:
        assert (weight.values == -8).any()
        int4.to_int4(model, weight)
    return plain, flatbuffer.pack(model)


@pytest.fixture(scope="module")
def expected(packed_cases) -> list[list[list[np.ndarray]]]:
    """Host TFLM on the compressed models."""
    found = []
    for _, model, _, vectors in packed_cases:
        runner = TFLMRunner(model)
        found.append([runner.run(v) for v in vectors])
    return found


def _mismatches(cases, expected, got) -> list[str]:
    return [f"{label} vector {v}" for (label, *_), e_case, g_case in zip(cases, expected, got, strict=True)
            for v, (e, g) in enumerate(zip(e_case, g_case, strict=True))
            if not all(np.array_equal(a, b) for a, b in zip(e, g, strict=True))]


@pytest.mark.parametrize("dsp", [False, True], ids=["portable", "dsp-core"])
def test_engine_equals_tflm_on_packed_filters_on_the_host(packed_cases, expected, tmp_path_factory, gcc,
                                                          dsp: bool) -> None:
    builds = [generate(model, f"pk{i}", dsp=dsp) for i, (_, model, _, _) in enumerate(packed_cases)]
    sources = "".join(b.files[f"{b.name}_model.c"].decode() for b in builds)
    assert all(kernel in sources for kernel in KERNELS)
    assert ".kind = 0," in sources and ".kind = 1," in sources and ".per_channel = 0," in sources
    assert len({int(v) for e in expected for vec in e for out in vec for v in np.unique(out)}) > 100
    exe = build_executable(builds, tmp_path_factory.mktemp(f"packed-{dsp}"), sanitize=True)
    got = run_host(exe, builds, [c[1] for c in packed_cases], [c[3] for c in packed_cases])
    assert not _mismatches(packed_cases, expected, got)


def test_packed_weights_stay_packed(packed_cases) -> None:
    for label, model, equivalent, _ in packed_cases:
        packed, plain = generate(model, "p"), generate(equivalent, "q")
        assert packed.weights_bytes < plain.weights_bytes, label
        # RAM: the plain model's arena, plus one output channel's decoded weights (the scratch), plus what the
        # int8 kernels' write-behind overlap saved (the packed kernels write channel by channel, so their
        # output never runs over their input) -- never a whole decoded filter.
        constants = [t for t in equivalent.main.tensors if t.is_constant and t.dtype == "int8" and len(t.shape) >= 2]
        largest_channel = max(t.num_elements // t.shape[0] if t.shape[0] > 1 else t.shape[1] * t.shape[2]
                              for t in constants)
        largest_activation = max(t.nbytes for t in equivalent.main.tensors if not t.is_constant)
        largest_filter = max(t.num_elements for t in constants)
        assert packed.arena_bytes <= plain.arena_bytes + largest_channel + largest_activation + 16, label
        assert packed.arena_bytes - plain.arena_bytes < largest_filter, label


@pytest.mark.qemu
def test_engine_equals_tflm_on_packed_filters_on_an_emulated_cortex_m4(packed_cases, expected,
                                                                      tmp_path_factory) -> None:
    builds = [generate(model, f"pk{i}", dsp=True) for i, (_, model, _, _) in enumerate(packed_cases)]
    elf, machine = build_firmware(builds, tmp_path_factory.mktemp("packed-m4"), "cortex-m4")
    got = run_guest(elf, machine, builds, [c[1] for c in packed_cases], [c[3] for c in packed_cases])
    assert not _mismatches(packed_cases, expected, got)
