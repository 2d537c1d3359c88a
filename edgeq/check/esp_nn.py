"""ESP-NN's scratch buffers, modelled from ESP-NN's own size functions: data (which function answers on which
path) and one small function per op and path.

esp-tflite-micro's ESP-NN kernels (tensorflow/lite/micro/kernels/esp_nn/conv.cc, depthwise_conv.cc,
softmax.cc) ask ESP-NN in Prepare how much scratch an int8 op needs (`esp_nn_get_conv_scratch_size`,
`esp_nn_get_depthwise_conv_scratch_size`, `esp_nn_get_softmax_scratch_size`) and request it from the arena;
its fully_connected.cc, add.cc, mul.cc and pooling.cc request nothing beyond what TFLM's reference kernels do.
Which function answers depends on the chip and menuconfig (esp-nn's include/esp_nn.h): the ESP32-S3 with
CONFIG_NN_OPTIMIZED takes the `*_esp32s3` functions, other chips (ESP32, ESP32-S2, the C series) the generic
`*_opt` ones, CONFIG_NN_ANSI_C the `*_ansi` ones. esp-tflite-micro 1.4.0 accepts esp-nn >= 1.1.1, and the
ESP32-S3 formulas changed in 1.2.1/1.2.3, so a project may meet either generation.

The formulas follow esp-nn 1.2.3 (commit 5f0a807e08ff08bc565e52497cbd8be9ee92a3f7; unchanged at d45b843) and
esp-nn 1.2.0 (commit b859e50b9019a873f2c271ad51a005d18d1336aa; 1.1.1 and 1.1.2 differ only by asking 16 bytes
less in two depthwise branches). An op's estimate is the largest over every path and generation, so it is never
below what the firmware requests. ESP32-P4's path (`*_esp32p4`) is not modelled: no edgeq profile has a P4.
ESP-NN declares the shapes uint16_t; shapes that large do not fit a microcontroller, so Python ints are used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from edgeq.tflite import Operator, Subgraph

ESP_NN_VERSIONS = "esp-nn 1.2.3 (5f0a807) and 1.1.1-1.2.0 (b859e50)"
# What each esp-nn op with an ESP-NN scratch request costs TFLM on top of the scratch itself: the NodeData
# these kernels allocate instead of the reference OpData holds one more int (up to 16 bytes in a 16-byte-aligned
# persistent allocation), and the scratch request's handle (4 bytes) and request record (8 bytes).
BOOKKEEPING_BYTES = 32


@dataclass(frozen=True)
class Geometry:
    """What esp-tflite-micro passes to ESP-NN's size functions: data_dims_t, conv_params_t/dw_conv_params_t
    (padding as TFLM computes it, the leading side only)."""

    in_w: int
    in_h: int
    in_c: int
    k_w: int = 1
    k_h: int = 1
    out_w: int = 1
    out_h: int = 1
    out_c: int = 1
    stride_w: int = 1
    stride_h: int = 1
    pad_w: int = 0
    pad_h: int = 0
    ch_mult: int = 1


def _a8(n: int) -> int:
    return (n + 7) & ~7


def _a16(n: int) -> int:
    return (n + 15) & ~15


def _is_1x1_s1_unpadded(g: Geometry) -> bool:
    return g.k_w == 1 and g.k_h == 1 and g.pad_w == 0 and g.pad_h == 0 and g.stride_w == 1 and g.stride_h == 1


def _conv_1x1(g: Geometry, align: int) -> int:
    """The 1x1/stride-1/unpadded branch, the same in both generations but for the alignment slack."""
    new_c = _a8(g.in_c)
    transpose = 0 if g.in_w * g.in_h < 8 else 2 * 8 * new_c
    padded_input = g.in_w * g.in_h * new_c if g.in_c % 8 else 0
    return padded_input + new_c * g.out_c + transpose + align


def conv_esp32s3(g: Geometry) -> int:
    """esp_nn_get_conv_scratch_size_esp32s3, esp-nn 1.2.3 (src/convolution/esp_nn_conv_esp32s3.c)."""
    align = 64  # alignment (16) + the assembly's pre/post access margin (48)
    if _is_1x1_s1_unpadded(g):
        return _conv_1x1(g, align)
    row = g.k_w * g.in_c
    window = g.k_w * g.k_h * g.in_c
    if row < 16 <= window:  # im2col path
        window16 = _a16(window)
        return g.out_c * 4 + 16 + g.out_c * window16 + 16 + window16 + align
    padded_input = 0 if g.pad_w == 0 and g.pad_h == 0 else \
        (g.in_w + 2 * g.pad_w) * (g.in_h + 2 * g.pad_h) * g.in_c
    filters = g.k_w * g.k_h * _a16(g.in_c) * g.out_c
    filter_alignment = _a16(row) * g.k_h * g.out_c
    pad_right = max(0, g.out_w * g.stride_w + g.k_w - 1 - g.in_w)
    pad_bottom = max(0, g.out_h * g.stride_h + g.k_h - 1 - g.in_h)
    boundary = (g.in_w + pad_right) * (g.in_h + pad_bottom) * g.in_c if pad_right > 0 or pad_bottom > 0 else 0
    return padded_input + filters + filter_alignment + boundary + align + g.out_c * 4


def conv_esp32s3_v1_1(g: Geometry) -> int:
    """esp_nn_get_conv_scratch_size_esp32s3, esp-nn 1.1.1 to 1.2.0 (1.2.1/1.2.2: the same with 32 -> 64 above)."""
    align = 32
    if _is_1x1_s1_unpadded(g):
        return _conv_1x1(g, align)
    padded_input = 0 if g.pad_w == 0 and g.pad_h == 0 else \
        (g.in_w + 2 * g.pad_w) * (g.in_h + 2 * g.pad_h) * g.in_c
    return padded_input + g.k_w * g.k_h * _a16(g.in_c) * g.out_c + align + g.out_c * 4


def _dw_3x3_mult1_c16(g: Geometry, filter_size: int, tiled: bool) -> int:
    """3x3, multiplier 1, channels a multiple of 16: the filter, plus the padded input when padding is needed."""
    if g.pad_w or g.pad_h:
        pad_width, pad_height = 2 * g.pad_w, 2 * g.pad_h
    else:
        pad_width = g.out_w * g.stride_w + g.k_w - 1 - g.in_w
        pad_height = g.out_h * g.stride_h + g.k_h - 1 - g.in_h
    if not (pad_width or pad_height):
        return filter_size + 16
    full_input = (g.in_w + pad_width) * (g.in_h + pad_height) * g.in_c
    if tiled and full_input > 40 * 1024:  # 1.2.3 keeps only filter_ht rows of the padded input
        return filter_size + (g.in_w + pad_width) * g.k_h * g.in_c + 16
    return filter_size + full_input + 16


def depthwise_esp32s3(g: Geometry) -> int:
    """esp_nn_get_depthwise_conv_scratch_size_esp32s3, esp-nn 1.2.3
    (src/convolution/esp_nn_depthwise_conv_s8_esp32s3.c)."""
    filter_size = g.k_w * g.k_h * g.in_c * g.ch_mult
    input_size = g.in_w * g.in_h * g.in_c
    if g.ch_mult == 1 and g.in_c % 8 == 0:
        if g.k_w == 3 and g.k_h == 3:
            if g.in_c % 16 == 0:
                return _dw_3x3_mult1_c16(g, filter_size, tiled=True)
            if g.in_c >= 12:  # channels padded to 16, s8 path and compaction
                c16 = _a16(g.in_c)
                pad_w = 2 * g.pad_w + max(0, g.out_w * g.stride_w + 2 - g.in_w)
                pad_h = 2 * g.pad_h + max(0, g.out_h * g.stride_h + 2 - g.in_h)
                return 9 * c16 + (g.in_w + pad_w) * (g.in_h + pad_h) * c16 + g.out_w * g.out_h * c16 + 64
            return 2 * (filter_size + input_size) + 32
        if 2 * (filter_size + input_size) <= 48 * 1024:
            return 2 * (filter_size + input_size) + 32
        return 2 * filter_size + 2 * g.in_w * g.k_h * g.in_c + 32  # tiled: filter_ht rows of the s16 input
    if g.ch_mult == 1 and g.in_c > 3:  # channels padded to 8, int16 copies laid out 16-byte aligned
        c8 = _a8(g.in_c)
        input_start = _a16(2 * g.k_w * g.k_h * c8)
        out_start = _a16(input_start + 2 * g.in_w * g.in_h * c8)
        bias_start = _a16(out_start + g.out_w * g.out_h * c8)
        return bias_start + 3 * 4 * c8 + 16
    if g.ch_mult % 4 == 0:
        return 2 * (filter_size + input_size) + 32
    return 32


def depthwise_esp32s3_v1_1(g: Geometry) -> int:
    """esp_nn_get_depthwise_conv_scratch_size_esp32s3, esp-nn 1.2.0 (1.1.1/1.1.2: 16 instead of 32 twice)."""
    filter_size = g.k_w * g.k_h * g.in_c * g.ch_mult
    input_size = g.in_w * g.in_h * g.in_c
    if g.ch_mult == 1 and g.in_c % 8 == 0 and g.k_w == 3 and g.k_h == 3:
        if g.in_c % 16 == 0:
            return _dw_3x3_mult1_c16(g, filter_size, tiled=False)
        return 2 * (filter_size + input_size) + 32
    if g.ch_mult % 4 == 0:
        return 2 * (filter_size + input_size) + 32
    return 32


def softmax_request(width: int) -> int:
    """esp_nn_get_softmax_scratch_size_esp32s3 / _opt (both 1.2.3 and 1.1.1): 4 bytes per value of `width`."""
    return 4 * width


def _zero(_: Geometry) -> int:
    return 0


# path -> op -> size function (the generic *_opt and *_ansi conv/depthwise functions return 0 in every version)
PATHS: dict[str, dict[str, Callable[[Geometry], int]]] = {
    "esp32s3 (esp-nn 1.2.3)": {"CONV_2D": conv_esp32s3, "DEPTHWISE_CONV_2D": depthwise_esp32s3},
    "esp32s3 (esp-nn 1.1.1-1.2.0)": {"CONV_2D": conv_esp32s3_v1_1, "DEPTHWISE_CONV_2D": depthwise_esp32s3_v1_1},
    "generic (*_opt)": {"CONV_2D": _zero, "DEPTHWISE_CONV_2D": _zero},
    "ansi (*_ansi)": {"CONV_2D": _zero, "DEPTHWISE_CONV_2D": _zero},
}


def scratch_bytes(opcode: str, g: Geometry) -> int:
    """The largest scratch any ESP-NN path and version requests for a CONV_2D or DEPTHWISE_CONV_2D."""
    return max(path[opcode](g) for path in PATHS.values())


def _padding(padding: int, in_size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    """(output size, leading padding) as TFLM's ComputePaddingHeightWidth computes them (padding 0: SAME)."""
    effective = (k - 1) * dilation + 1
    out = (in_size + stride - 1) // stride if padding == 0 else (in_size + stride - effective) // stride
    return out, max(0, (out - 1) * stride + effective - in_size) // 2


def geometry(sg: Subgraph, op: Operator) -> Geometry:
    """The Geometry esp-tflite-micro builds for a CONV_2D or DEPTHWISE_CONV_2D in Prepare."""
    _, in_h, in_w, in_c = sg.tensors[op.inputs[0]].shape
    _, k_h, k_w, filter_c = sg.tensors[op.inputs[1]].shape
    out_c = sg.tensors[op.outputs[0]].shape[-1]
    o = op.options
    out_h, pad_h = _padding(o.padding, in_h, k_h, o.strideH, o.dilationHFactor or 1)
    out_w, pad_w = _padding(o.padding, in_w, k_w, o.strideW, o.dilationWFactor or 1)
    # depthwise: the kernel passes the option as is; an option of 0 would take ESP-NN's multiplier-%-4 branch,
    # so the multiplier the shapes imply is also tried (see op_buffers)
    ch_mult = int(getattr(o, "depthMultiplier", 1))
    return Geometry(in_w=in_w, in_h=in_h, in_c=in_c, k_w=k_w, k_h=k_h, out_w=out_w, out_h=out_h, out_c=out_c,
                    stride_w=o.strideW, stride_h=o.strideH, pad_w=pad_w, pad_h=pad_h, ch_mult=ch_mult)


def op_buffers(sg: Subgraph, op: Operator) -> tuple[int, int]:
    """(scratch, persistent) bytes ESP-NN's kernels add to one int8 op beyond TFLM's reference kernels."""
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        g = geometry(sg, op)
        scratch = scratch_bytes(op.opcode, g)
        if op.opcode == "DEPTHWISE_CONV_2D" and g.in_c and g.out_c // g.in_c != g.ch_mult:
            scratch = max(scratch, scratch_bytes(op.opcode, replace(g, ch_mult=g.out_c // g.in_c)))
        return scratch, BOOKKEEPING_BYTES
    if op.opcode == "SOFTMAX":
        shape = sg.tensors[op.inputs[0]].shape
        # softmax.cc passes dims[1] as the width, but the kernel fills one int32 per value of the last dimension:
        # the larger of the two is what a 4-D softmax really needs
        width = shape[1] if len(shape) > 1 else shape[0]
        return max(softmax_request(width), softmax_request(shape[-1])), BOOKKEEPING_BYTES
    return 0, 0
