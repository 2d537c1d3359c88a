"""ESP-NN's scratch buffers against figures computed by hand from esp-nn's own size functions
(src/convolution/esp_nn_conv_esp32s3.c, esp_nn_depthwise_conv_s8_esp32s3.c, src/softmax/*: esp-nn 1.2.3 at
5f0a807 and 1.2.0 at b859e50), and the arena recommendation for the esp32-s3 profile built from them."""

from __future__ import annotations

import pytest

from edgeq.check import esp_nn
from edgeq.check.arena import kernel_buffers, recommended_arena
from edgeq.check.esp_nn import Geometry
from edgeq.check.targets import get_target
from edgeq.tflite import read_model

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
