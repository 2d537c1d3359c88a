"""ESP-NN's scratch buffers against figures computed by hand from esp-nn's own size functions
(src/convolution/esp_nn_conv_esp32s3.c, esp_nn_depthwise_conv_s8_esp32s3.c, src/softmax/*: esp-nn 1.2.3 at
5f0a807 and 1.2.0 at b859e50), and the arena recommendation for the esp32-s3 profile built from them."""

from __future__ import annotations

import numpy as np
import pytest

from edgeq.check import esp_nn
from edgeq.check.arena import kernel_buffers, recommended_arena
from edgeq.check.esp_nn import Geometry
from edgeq.check.targets import get_target
from edgeq.tflite import read_model
from edgeq.tflite.runners import LiteRTRunner

# 8x8x1 digit -> CONV_2D 3x3, 16 filters, SAME, stride 1: TFLM's padding is 1 on each side, output 8x8x16.
FIRST_CONV = Geometry(in_w=8, in_h=8, in_c=1, k_w=3, k_h=3, out_w=8, out_h=8, out_c=16, pad_w=1, pad_h=1)
# 28x28x1 -> CONV_2D 3x3, 8 filters, VALID: no padding, output 26x26x8.
FIRST_CONV_VALID = Geometry(in_w=28, in_h=28, in_c=1, k_w=3, k_h=3, out_w=26, out_h=26, out_c=8)
# 8x8x16 -> DEPTHWISE_CONV_2D 3x3, multiplier 1, SAME: padding 1, output 8x8x16.
DEPTHWISE_16 = Geometry(in_w=8, in_h=8, in_c=16, k_w=3, k_h=3, out_w=8, out_h=8, out_c=16, pad_w=1, pad_h=1)
DEPTHWISE_8 = Geometry(in_w=8, in_h=8, in_c=8, k_w=3, k_h=3, out_w=8, out_h=8, out_c=8, pad_w=1, pad_h=1)
DEPTHWISE_24 = Geometry(in_w=8, in_h=8, in_c=24, k_w=3, k_h=3, out_w=8, out_h=8, out_c=24, pad_w=1, pad_h=1)
# 8x8x16 -> 1x1 CONV_2D, 24 filters, stride 1, no padding.
POINTWISE = Geometry(in_w=8, in_h=8, in_c=16, out_w=8, out_h=8, out_c=24)
POINTWISE_3 = Geometry(in_w=4, in_h=4, in_c=3, out_w=4, out_h=4, out_c=4)
# 8x8x2 -> CONV_2D 3x3, 8 filters, SAME: 1.2.3's im2col path (a filter row of 6 < 16 values, a window of 18 >= 16).
IM2COL = Geometry(in_w=8, in_h=8, in_c=2, k_w=3, k_h=3, out_w=8, out_h=8, out_c=8, pad_w=1, pad_h=1)

CASES = [  # geometry, op, esp-nn 1.2.3, esp-nn 1.1.1-1.2.0, what edgeq counts (the larger)
    # 1.2.3: padded input (8+2)*(8+2)*1 = 100, filters 3*3*16(1 padded to 16)*16 = 2304, filter row alignment
    # 16(3 rounded up)*3*16 = 768, right/bottom boundary (8+2)*(8+2)*1 = 100 (out*stride+k-1-in = 2), align 64,
    # per-channel offsets 16*4 = 64: 3400.   1.1: 100 + 2304 + align 32 + 64 = 2500.
    (FIRST_CONV, "CONV_2D", 3400, 2500, 3400),
    # 1.2.3: no padding, filters 3*3*16*8 = 1152, row alignment 16*3*8 = 384, boundary max(0, 26+3-1-28) = 0,
    # 64 + 8*4: 1632.   1.1: 1152 + 32 + 32 = 1216.
    (FIRST_CONV_VALID, "CONV_2D", 1632, 1216, 1632),
    # both: channels % 16 == 0, padding 1 -> padded input (8+2)*(8+2)*16 = 1600 (<= 40 KB), filter 3*3*16 = 144,
    # + 16: 1760.
    (DEPTHWISE_16, "DEPTHWISE_CONV_2D", 1760, 1760, 1760),
    # both: 8 channels (s16 path) 2*(filter 72 + input 8*8*8 = 512) + 32 = 1200.
    (DEPTHWISE_8, "DEPTHWISE_CONV_2D", 1200, 1200, 1200),
    # 1.2.3: 24 channels padded to 32: filter 9*32 = 288, input (8+2+2)*(8+2+2)*32 = 4608 (padding 2*1 + the
    # right/bottom max(0, 8+2-8) = 2), output 8*8*32 = 2048, + 64: 7008.   1.2.0: 2*(216 + 1536) + 32 = 3536.
    (DEPTHWISE_24, "DEPTHWISE_CONV_2D", 7008, 3536, 7008),
    # 1x1: 16 channels (a multiple of 8: no padded input copy), filters 16*24 = 384, transpose 2*8*16 = 256
    # (64 pixels >= 8); + 64 (1.2.3): 704, + 32 (1.1): 672.
    (POINTWISE, "CONV_2D", 704, 672, 704),
    # 1x1, 3 channels padded to 8: input 4*4*8 = 128, filters 8*4 = 32, transpose 2*8*8 = 128; +64: 352; +32: 320.
    (POINTWISE_3, "CONV_2D", 352, 320, 352),
    # 1.2.3 im2col: window 18 -> 32; 8*4 + 16 + 8*32 + 16 + 32 + 64 = 416.   1.1: padded input 10*10*2 = 200,
    # filters 3*3*16*8 = 1152, + 32 + 8*4: 1416 -- the older version asks more here.
    (IM2COL, "CONV_2D", 416, 1416, 1416),
]


@pytest.mark.parametrize(("g", "op", "v123", "v11", "counted"), CASES)
def test_scratch_matches_esp_nn_by_hand(g: Geometry, op: str, v123: int, v11: int, counted: int) -> None:
    current = esp_nn.conv_esp32s3 if op == "CONV_2D" else esp_nn.depthwise_esp32s3
    older = esp_nn.conv_esp32s3_v1_1 if op == "CONV_2D" else esp_nn.depthwise_esp32s3_v1_1
    assert (current(g), older(g)) == (v123, v11)
    assert esp_nn.scratch_bytes(op, g) == counted


def test_generic_and_ansi_paths_ask_nothing_for_convolutions() -> None:
    for path in ("generic (*_opt)", "ansi (*_ansi)"):
        assert esp_nn.PATHS[path]["CONV_2D"](FIRST_CONV) == 0
        assert esp_nn.PATHS[path]["DEPTHWISE_CONV_2D"](DEPTHWISE_16) == 0


def test_softmax_and_fully_connected(tflite_builder) -> None:
    # softmax over [1, 10]: softmax.cc passes dims[1] = 10 as the width; 4 bytes per value: 40.
    assert esp_nn.softmax_request(10) == 40
    # esp-tflite-micro's fully_connected.cc requests no ESP-NN scratch (only the int4 unpack buffer, which TFLM's
    # reference kernel requests too): 0 and 0.
    model = read_model(tflite_builder.fully_connected(units=10, depth=32))
    sg = model.main
    assert esp_nn.op_buffers(sg, sg.operators[0]) == (0, 0)
    assert kernel_buffers(model, get_target("esp32-s3")).total == 0


def test_digits_model_on_the_esp32_s3(digits_int8) -> None:
    """The example CNN: conv1 (8x8x1, 3x3x16, SAME), dwconv (3x3, 16 channels), pwconv (1x1, 16 -> 24), two
    FULLY_CONNECTED, SOFTMAX [1, 10]."""
    sg = digits_int8.main
    by_op = {op.opcode: [] for op in sg.operators}
    for op in sg.operators:
        by_op[op.opcode].append(esp_nn.op_buffers(sg, op))
    # geometry read from the model as esp-tflite-micro builds it: padding 1, output 8x8x16
    assert esp_nn.geometry(sg, next(op for op in sg.operators if op.opcode == "CONV_2D")) == FIRST_CONV
    assert by_op["CONV_2D"] == [(3400, 32), (704, 32)]
    assert by_op["DEPTHWISE_CONV_2D"] == [(1760, 32)]
    assert by_op["SOFTMAX"] == [(40, 32)]
    assert set(by_op["FULLY_CONNECTED"]) == {(0, 0)}
    buffers = kernel_buffers(digits_int8, get_target("esp32-s3"))
    # the largest scratch, 3400 rounded up to TFLM's 16-byte alignment = 3408, is planned per op; 4 ops * 32 B kept
    assert (buffers.scratch_bytes, buffers.persistent_bytes, buffers.kernels) == (3408, 128, "esp-nn")
    plan = recommended_arena(digits_int8, get_target("esp32-s3"))
    assert plan.recommended_bytes >= plan.measured.host_bytes + 3408 + 128
    assert "ESP-NN" in plan.to_dict()["kernel_buffers_estimate"]


def _softmax_model(tflite_builder, shape: tuple[int, ...]) -> bytes:
    from edgeq.tflite.schema import schema

    options = schema().SoftmaxOptionsT()
    options.beta = 1.0
    T = tflite_builder.T
    tensors = [T(shape, scale=[0.1], zero_point=[0], name="logits"),
               T(shape, scale=[1 / 256], zero_point=[-128], name="probabilities")]
    return tflite_builder.build(tensors, [tflite_builder.Op("SOFTMAX", [0], [1], options)], [0], [1])


@pytest.mark.parametrize(("shape", "scratch"), [
    ((1, 2, 3, 40), 160),   # softmax.cc passes dims[1] = 2, but the kernel fills 4 bytes x the last dim 40
    ((1, 50, 1, 3), 200),   # here dims[1] = 50 is the larger: what softmax.cc requests
    ((1, 10), 40),
])
def test_softmax_scratch_counts_the_last_dimension_of_a_4d_tensor(tflite_builder, shape, scratch) -> None:
    model = read_model(_softmax_model(tflite_builder, shape))
    sg = model.main
    assert esp_nn.op_buffers(sg, sg.operators[0]) == (scratch, esp_nn.BOOKKEEPING_BYTES)
    buffers = kernel_buffers(model, get_target("esp32-s3"))
    assert buffers.scratch_bytes == (scratch + 15) // 16 * 16 and buffers.persistent_bytes == 32


def _conv_model(tflite_builder, size: int, channels: int, filters: int, depthwise: bool) -> bytes:
    """[1, size, size, channels] -> 3x3 CONV_2D / DEPTHWISE_CONV_2D, stride 2, SAME."""
    from edgeq.tflite.schema import schema

    fb = schema()
    options = fb.DepthwiseConv2DOptionsT() if depthwise else fb.Conv2DOptionsT()
    options.strideW = options.strideH = 2
    options.padding = fb.Padding.SAME
    if depthwise:
        options.depthMultiplier = 1
    out = (size + 1) // 2
    T = tflite_builder.T
    weights = np.ones((1, 3, 3, filters) if depthwise else (filters, 3, 3, channels), dtype=np.int8)
    tensors = [T((1, size, size, channels), scale=[0.05], name="image"),
               T(weights.shape, scale=[0.01] * filters, zero_point=[0] * filters,
                 axis=3 if depthwise else 0, data=weights, name="filters"),
               T((filters,), "int32", scale=[0.0005] * filters, zero_point=[0] * filters,
                 data=np.zeros(filters, np.int32), name="bias"),
               T((1, out, out, filters), scale=[0.1], name="features")]
    op = "DEPTHWISE_CONV_2D" if depthwise else "CONV_2D"
    return tflite_builder.build(tensors, [tflite_builder.Op(op, [0, 1, 2], [3], options)], [0], [3])


@pytest.mark.parametrize(("size", "out", "pad", "v123", "v11"), [
    # 7x7x8, 3x3, 4 filters, stride 2, SAME: out ceil(7/2) = 4, total padding (4-1)*2+3-7 = 2 -> leading 1.
    # 1.2.3 (filter row 3*8 = 24 >= 16: not im2col): padded input (7+2)^2*8 = 648, filters 3*3*16*4 = 576, row
    # alignment 32*3*4 = 384, right/bottom max(0, 4*2+3-1-7) = 3 -> boundary (7+3)^2*8 = 800, align 64,
    # 4*4 = 16: 2488.   1.1: 648 + 576 + 32 + 16 = 1272.
    (7, 4, 1, 2488, 1272),
    # 8x8x8: out 4, total padding 3*2+3-8 = 1 -> leading 0 (TFLM floors). 1.2.3: no padded input, 576 + 384,
    # right/bottom 4*2+2-8 = 2 -> boundary 10*10*8 = 800, 64 + 16: 1840.   1.1: 576 + 32 + 16 = 624.
    (8, 4, 0, 1840, 624),
])
def test_same_padding_with_stride_2(tflite_builder, size, out, pad, v123, v11) -> None:
    model = read_model(_conv_model(tflite_builder, size, 8, 4, depthwise=False))
    (result,) = LiteRTRunner(model).run([np.zeros((1, size, size, 8), np.int8)])
    assert result.shape == (1, out, out, 4)  # TFLite's own output size for SAME, stride 2
    sg = model.main
    g = esp_nn.geometry(sg, sg.operators[0])
    assert (g.out_w, g.out_h, g.pad_w, g.pad_h, g.stride_w) == (out, out, pad, pad, 2)
    assert (esp_nn.conv_esp32s3(g), esp_nn.conv_esp32s3_v1_1(g)) == (v123, v11)
    assert esp_nn.op_buffers(sg, sg.operators[0]) == (v123, esp_nn.BOOKKEEPING_BYTES)


@pytest.mark.parametrize(("size", "pad", "scratch"), [
    # 7x7x16, 3x3, multiplier 1, stride 2, SAME: leading padding 1 -> padded input (7+2)^2*16 = 1296, filter
    # 3*3*16 = 144, + 16: 1456 (both generations).
    (7, 1, 1456),
    # 8x8x16: leading padding 0, so the right/bottom 4*2+3-1-8 = 2 is padded: (8+2)^2*16 = 1600 + 144 + 16.
    (8, 0, 1760),
])
def test_depthwise_same_padding_with_stride_2(tflite_builder, size, pad, scratch) -> None:
    model = read_model(_conv_model(tflite_builder, size, 16, 16, depthwise=True))
    (result,) = LiteRTRunner(model).run([np.zeros((1, size, size, 16), np.int8)])
    assert result.shape == (1, 4, 4, 16)
    sg = model.main
    g = esp_nn.geometry(sg, sg.operators[0])
    assert (g.out_w, g.pad_w, g.pad_h, g.ch_mult) == (4, pad, pad, 1)
    assert esp_nn.depthwise_esp32s3(g) == esp_nn.depthwise_esp32s3_v1_1(g) == scratch
    assert esp_nn.op_buffers(sg, sg.operators[0]) == (scratch, esp_nn.BOOKKEEPING_BYTES)
