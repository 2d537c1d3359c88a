"""The DSP-extension kernels (eq_dsp_*.c) against the TFLite Micro interpreter, bit for bit: on the host (their
instructions as C, with sanitizers) and as real SXTB16/SMLAD/SMMULR code on emulated Cortex-M4, M7 and M33
cores, many op cases per guest run. Cases are drawn where these kernels apply (one group, depth multiplier 1
with channels in fours, unbroadcast ADD), covering both requantization forms: the fast one and the general one
a layer falls back to when a right shift is 0, a left shift is needed or an accumulator could reach 2^30.
Whole models run under QEMU too.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from engine_cases import _inputs, _int8, _out_size, _scale, _window_geometry, _zp
from engine_harness import build_executable
from engine_harness import run_cases as run_host
from engine_opmodels import ACTIVATIONS, Graph, options
from engine_qemu import build_firmware
from engine_qemu import run_cases as run_guest

from edgeq.emulate.tools import run_tool
from edgeq.engine import generate
from edgeq.tflite.golden import golden_inputs
from edgeq.tflite.runners import TFLMRunner

CASES = 12  # per kind


def _conv(rng: np.random.Generator, kind: str, variant: int) -> tuple[Graph, str]:
    """CONV_2D (1x1 in place, 1x1 strided, im2col) or DEPTHWISE_CONV_2D with channels in fours."""
    g = Graph()
    if kind == "conv1x1":
        h, w, kh, kw, sh, sw, dh, dw, padding = *rng.integers(1, 9, 2), 1, 1, *rng.integers(1, 3, 2), 1, 1, 0
        oh, ow = (h + sh - 1) // sh, (w + sw - 1) // sw
    elif kind == "depthwise3x3":  # eq_dwconv3x3_dsp_s8: 3x3, dilation 1, stride_w 1 or 2 (2: >= 4 outputs a row)
        kh = kw = 3
        dh = dw = 1
        while True:
            h, w, sh, sw, padding = *rng.integers(1, 12, 2), int(rng.integers(1, 4)), int(rng.integers(1, 3)), \
                int(rng.integers(0, 2))
            h, w = (max(int(v), 3) if padding else int(v) for v in (h, w))
            oh, ow = _out_size(padding, h, 3, sh, 1), _out_size(padding, w, 3, sw, 1)
            if sw == 1 or ow >= 4:
                break
    else:
        while True:  # the general depthwise kernel: any geometry but the one eq_dwconv3x3_dsp_s8 takes
            h, w, kh, kw, sh, sw, dh, dw, padding, oh, ow = _window_geometry(rng)
            if kind != "depthwise" or not (kh == kw == 3 and dh == dw == 1 and sw <= 2):
                break
    h, w, kh, kw, sh, sw, dh, dw = (int(v) for v in (h, w, kh, kw, sh, sw, dh, dw))
    depthwise = kind.startswith("depthwise")
    cin = 4 * int(rng.integers(1, 6)) if depthwise or kind == "conv1x1" else int(rng.integers(1, 20))
    cout = cin if depthwise else int(rng.integers(1, 10))
    taps = kh * kw * (1 if depthwise else cin)
    in_s, in_zp = _scale(rng), _zp(rng)
    per_channel = rng.random() < 0.8
    f_scales = np.array([_scale(rng, 1e-3, 5e-2) for _ in range(cout if per_channel else 1)], np.float32)
    spread = in_s * float(f_scales.mean()) * np.sqrt(taps) * 73 * 74
    # variant 1: an output scale so small that the multiplier is >= 0.5 (no right shift: the general form);
    # variant 2: a huge bias (an accumulator bound >= 2^30: the general form); else the fast form.
    out_s = in_s * float(f_scales.max()) * 1.2 if variant == 1 else spread / rng.uniform(15, 80)
    filter_shape = (1, kh, kw, cout) if depthwise else (cout, kh, kw, cin)
    x = g.tensor((1, h, w, cin), scale=in_s, zero_point=in_zp)
    f = g.tensor(filter_shape, scale=f_scales, zero_point=0, data=_int8(rng, filter_shape, -127, 127),
                 quantized_dimension=3 if depthwise else 0)
    bias_range = 1 << 30 if variant == 2 else 4000
    b = g.tensor((cout,), "int32", scale=in_s * (f_scales if per_channel else np.full(cout, f_scales[0])),
                 zero_point=0, data=rng.integers(-bias_range, bias_range, size=cout).astype(np.int32))
    y = g.tensor((1, oh, ow, cout), scale=out_s, zero_point=_zp(rng))
    activation = str(rng.choice(list(ACTIVATIONS)))
    common = dict(padding=padding, strideW=sw, strideH=sh, dilationWFactor=dw, dilationHFactor=dh,
                  fusedActivationFunction=ACTIVATIONS[activation])
    if depthwise:
        g.op("DEPTHWISE_CONV_2D", [x, f, b], [y], "DepthwiseConv2DOptions",
             options("DepthwiseConv2DOptions", depthMultiplier=1, **common))
    else:
        g.op("CONV_2D", [x, f, b], [y], "Conv2DOptions", options("Conv2DOptions", **common))
    g.inputs, g.outputs = [x], [y]
    return g, f"{kind} in {[h, w, cin]} k {kh}x{kw} s {sh},{sw} d {dh},{dw} out_c {cout} variant {variant}"


def _fully_connected(rng: np.random.Generator, variant: int) -> tuple[Graph, str]:
    g = Graph()
    depth, out_depth, rows = int(rng.integers(1, 70)), int(rng.integers(1, 14)), int(rng.integers(1, 4))
    in_s, per_channel = _scale(rng), rng.random() < 0.5
    f_scales = np.array([_scale(rng, 1e-3, 5e-2) for _ in range(out_depth if per_channel else 1)], np.float32)
    spread = in_s * float(f_scales.mean()) * np.sqrt(depth) * 73 * 74
    out_s = in_s * float(f_scales.max()) * 1.2 if variant == 1 else spread / rng.uniform(15, 80)
    x = g.tensor((rows, depth), scale=in_s, zero_point=_zp(rng))
    f = g.tensor((out_depth, depth), scale=f_scales, zero_point=0, data=_int8(rng, (out_depth, depth), -127, 127))
    bias_range = 1 << 30 if variant == 2 else 4000
    b = g.tensor((out_depth,), "int32", scale=in_s * f_scales if per_channel else in_s * f_scales[0], zero_point=0,
                 data=rng.integers(-bias_range, bias_range, size=out_depth).astype(np.int32))
    y = g.tensor((rows, out_depth), scale=out_s, zero_point=_zp(rng))
    activation = str(rng.choice(list(ACTIVATIONS)))
    g.op("FULLY_CONNECTED", [x, f, b], [y], "FullyConnectedOptions",
         options("FullyConnectedOptions", fusedActivationFunction=ACTIVATIONS[activation]))
    g.inputs, g.outputs = [x], [y]
    return g, f"fc rows {rows} depth {depth} out {out_depth} per_channel {per_channel} variant {variant}"


def _add(rng: np.random.Generator, variant: int) -> tuple[Graph, str]:
    g = Graph()
    shape = [int(v) for v in rng.integers(1, 7, int(rng.integers(1, 5)))]
    s1, s2 = _scale(rng), _scale(rng)
    out_s = max(s1, s2) * rng.uniform(0.5, 3)
    a = g.tensor(shape, scale=s1, zero_point=_zp(rng))
    b = g.tensor(shape, scale=s2, zero_point=_zp(rng))
    y = g.tensor(shape, scale=out_s, zero_point=_zp(rng))
    activation = str(rng.choice(list(ACTIVATIONS)))
    g.op("ADD", [a, b], [y], "AddOptions", options("AddOptions", fusedActivationFunction=ACTIVATIONS[activation]))
    g.inputs, g.outputs = [a, b], [y]
    return g, f"add {shape}"


KINDS = {"conv1x1": "eq_conv_dsp_s8", "conv": "eq_conv_dsp_s8", "depthwise": "eq_dwconv_dsp_s8",
         "depthwise3x3": "eq_dwconv3x3_dsp_s8", "fully_connected": "eq_fc_dsp_s8", "add": "eq_add_dsp_s8"}


def dsp_cases() -> list[tuple[str, object, list, str]]:
    """(kind, model, input vectors, description) for every kind, seeded."""
    rng = np.random.default_rng(14)
    cases = []
    for kind in KINDS:
        for k in range(CASES):
            variant = k % 4 if kind != "add" else 0
            if kind == "fully_connected":
                graph, text = _fully_connected(rng, variant)
            elif kind == "add":
                graph, text = _add(rng, variant)
            else:
                graph, text = _conv(rng, kind, variant)
            model = graph.build()
            cases.append((kind, model, _inputs(rng, model), text))
    return cases


@pytest.fixture(scope="session")
def dsp_builds():
    """The DSP cases with their TFLM outputs and DSP-path builds."""
    cases = dsp_cases()
    expected = []
    for _, model, vectors, _ in cases:
        runner = TFLMRunner(model)
        expected.append([runner.run(v) for v in vectors])
    builds = [generate(model, f"case{i}", dsp=True) for i, (_, model, _, _) in enumerate(cases)]
    return cases, expected, builds


def _mismatches(cases, expected, got) -> list[str]:
    bad = []
    for (kind, _, _, text), e_case, g_case in zip(cases, expected, got, strict=True):
        for v, (e_vec, g_vec) in enumerate(zip(e_case, g_case, strict=True)):
            for e, g in zip(e_vec, g_vec, strict=True):
                if not np.array_equal(e, g):
                    diff = np.abs(e.astype(np.int64) - g.astype(np.int64)).max()
                    bad.append(f"{kind} {text} vector {v}: max diff {diff}")
    return bad


def test_cases_reach_the_dsp_kernels_with_both_requantizations(dsp_builds):
    cases, expected, builds = dsp_builds
    for (kind, _, _, text), build in zip(cases, builds, strict=True):
        source = build.files[f"{build.name}_model.c"].decode()
        assert f"{KINDS[kind]}(" in source, f"{kind} {text} did not use {KINDS[kind]}"
    sources = "".join(b.files[f"{b.name}_model.c"].decode() for b in builds)
    assert ".fast_requant = 1," in sources and ".fast_requant = 0," in sources
    assert ".direct = 1," in sources and ".direct = 0," in sources
    # Both forms of the per-channel shifts: increments packed into the multipliers' words (a one-entry shift
    # table, `.shift_step = 0`) and a table of every channel's shift (`.shift_step = 1`).
    assert ".shift_step = 0," in sources and ".shift_step = 1," in sources
    # The outputs must exercise the arithmetic, not sit at one saturated value.
    assert len({int(v) for e in expected for vec in e for out in vec for v in np.unique(out)}) > 200


def test_packed_multipliers_unpack_to_tflites():
    from edgeq.engine.ops_dsp import pack_quant
    from edgeq.engine.quant import quantize_multiplier

    rng = np.random.default_rng(5)
    steps = set()
    for _ in range(200):
        scales = rng.uniform(0.01, 1.0, int(rng.integers(1, 40))) * 2.0 ** -int(rng.integers(0, 20))
        pairs = [quantize_multiplier(float(v)) for v in scales]
        mult, shift = np.array([m for m, _ in pairs]), np.array([e for _, e in pairs])
        words, table, step = pack_quant(mult, shift)
        steps.add(step)
        assert step == (0 if shift.max() - shift.min() <= 3 else 1) and table.size == (1 if step == 0 else shift.size)
        unsigned = words.view(np.uint32).astype(np.int64)
        # eq_channel_quant: the multiplier below bit 30 with bit 30 set; the table entry plus bits 30-31.
        assert np.array_equal((unsigned & 0x3FFFFFFF) | 0x40000000, mult)
        assert np.array_equal(table[np.arange(shift.size) * step].astype(np.int64) + (unsigned >> 30), shift)
    assert steps == {0, 1}
    assert pack_quant(np.array([0, 1 << 30]), np.array([0, 0])) is None  # a zero multiplier has no leading bit


def test_dsp_kernels_are_bit_exact_on_the_host(dsp_builds, tmp_path_factory, gcc):
    cases, expected, builds = dsp_builds
    exe = build_executable(builds, tmp_path_factory.mktemp("dsp-host"), sanitize=True)
    got = run_host(exe, builds, [c[1] for c in cases], [c[2] for c in cases])
    assert not _mismatches(cases, expected, got)


@pytest.mark.qemu
@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7", "cortex-m33"])
def test_dsp_kernels_are_bit_exact_on_emulated_cores(dsp_builds, tmp_path_factory, target):
    cases, expected, builds = dsp_builds
    if target != "cortex-m4":  # a subset on the other cores: every kind, fewer cases
        keep = [i for i in range(len(cases)) if i % CASES < 4]
        cases, expected, builds = [cases[i] for i in keep], [expected[i] for i in keep], [builds[i] for i in keep]
    elf, machine = build_firmware(builds, tmp_path_factory.mktemp(f"dsp-{target}"), target)
    # The firmware really runs the DSP instructions (not the C fallbacks of eq_dsp.h).
    listing = run_tool(["arm-none-eabi-objdump", "-d", str(elf)], "disassembling")
    assert re.search(r"\ssmlad\s", listing) and re.search(r"\ssmmulr\s", listing)
    got = run_guest(elf, machine, builds, [c[1] for c in cases], [c[2] for c in cases])
    assert not _mismatches(cases, expected, got)


@pytest.mark.qemu
def test_whole_models_are_bit_exact_on_an_emulated_cortex_m4(engine_models, tmp_path_factory):
    names = ["digits_int8", "digits_uint8", "resnet_style", "dw_separable"]
    models = [engine_models[n] for n in names]
    inputs = [golden_inputs(m, 2) for m in models]
    expected = [[TFLMRunner(m).run(x) for x in vectors] for m, vectors in zip(models, inputs, strict=True)]
    builds = [generate(m, n, dsp=True) for m, n in zip(models, names, strict=True)]
    elf, machine = build_firmware(builds, tmp_path_factory.mktemp("dsp-models"), "cortex-m4")
    got = run_guest(elf, machine, builds, models, inputs)
    for name, e_model, g_model in zip(names, expected, got, strict=True):
        for e_vec, g_vec in zip(e_model, g_model, strict=True):
            for e, g in zip(e_vec, g_vec, strict=True):
                assert np.array_equal(e, g), name
