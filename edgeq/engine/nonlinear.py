"""Code-generation-time parameters of the int8 SOFTMAX, LOGISTIC and TANH kernels (kernels/eq_nonlinear.c).

Each function mirrors what TensorFlow Lite Micro computes in the op's Prepare step, in the same float64
arithmetic on the same float32 inputs, and refuses exactly what TFLM refuses (with an edgeq error rather
than TFLM's failed allocation). Together with the C kernels this gives 0-LSB agreement with TFLM.
The returned dicts list the C struct fields in declaration order.
"""

from __future__ import annotations

import math

from edgeq.engine.quant import INT32_MAX, f32, quantize_multiplier, round_half_away
from edgeq.errors import UnsupportedOpError
from edgeq.tflite import Tensor

# Integer bits of the fixed-point formats the reference kernels feed to exp/logistic/tanh.
SOFTMAX_SCALED_DIFF_INTEGER_BITS = 5
ACTIVATION_INPUT_INTEGER_BITS = 4
SOFTMAX_OUTPUT_SCALE = 1.0 / 256
SOFTMAX_OUTPUT_ZERO_POINT = -128
LOGISTIC_OUTPUT_ZERO_POINT = -128


def softmax_params(input: Tensor, output: Tensor, beta: float) -> dict[str, int]:
    """`eq_softmax_params` for an int8 SOFTMAX: beta * input_scale * 2^26 as multiplier and left shift
    (capped at 2^31 - 1 like TFLite's PreprocessSoftmaxScaling), and the smallest difference from the
    row maximum whose exp still counts."""
    input_scale, _ = _int8_quantization(input, "SOFTMAX", "input")
    output_scale, output_zero_point = _int8_quantization(output, "SOFTMAX", "output")
    if output_zero_point != SOFTMAX_OUTPUT_ZERO_POINT or output_scale != f32(SOFTMAX_OUTPUT_SCALE):
        raise UnsupportedOpError(
            f"SOFTMAX output {output.name!r} has scale {output_scale:g} and zero point {output_zero_point}; "
            "TFLM's int8 kernel needs 1/256 and -128: re-convert the model with TFLiteConverter")
    # Both factors are float32 values, so their float64 product is exact, as in TFLM.
    real = min(f32(beta) * input_scale * float(1 << (31 - SOFTMAX_SCALED_DIFF_INTEGER_BITS)),
               float(INT32_MAX))
    if not real > 1.0:
        raise UnsupportedOpError(
            f"SOFTMAX on {input.name!r}: beta {f32(beta):g} times input scale {input_scale:g} is too small "
            "(TFLM aborts on it): use a positive beta and a calibrated input range")
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -_input_radius(SOFTMAX_SCALED_DIFF_INTEGER_BITS, left_shift)
    return {"input_multiplier": multiplier, "input_left_shift": left_shift, "diff_min": diff_min}


def logistic_params(input: Tensor, output: Tensor) -> dict[str, int]:
    """`eq_logistic_params` for an int8 LOGISTIC. Like TFLM, the kernel writes 1/256 steps with zero
    point -128 whatever the output scale says; TFLM refuses only another zero point, and so do we."""
    input_scale, input_zero_point = _int8_quantization(input, "LOGISTIC", "input")
    _, output_zero_point = _int8_quantization(output, "LOGISTIC", "output")
    if output_zero_point != LOGISTIC_OUTPUT_ZERO_POINT:
        raise UnsupportedOpError(
            f"LOGISTIC output {output.name!r} has zero point {output_zero_point}; TFLM's int8 kernel needs "
            "-128 (scale 1/256): re-convert the model with TFLiteConverter")
    return _activation_params(input_scale, input_zero_point, "LOGISTIC", input.name)


def tanh_params(input: Tensor, output: Tensor) -> dict[str, int]:
    """`eq_tanh_params` for an int8 TANH. Like TFLM, the kernel writes 1/128 steps with zero point 0
    and does not read the output quantization (the converter always produces exactly that)."""
    input_scale, input_zero_point = _int8_quantization(input, "TANH", "input")
    _int8_quantization(output, "TANH", "output")
    return _activation_params(input_scale, input_zero_point, "TANH", input.name)


def _activation_params(input_scale: float, input_zero_point: int, opcode: str, name: str) -> dict[str, int]:
    """input_scale * 2^27 (the Q4 input format) split by frexp; TFLM rounds the significand itself
    instead of calling QuantizeMultiplier, which for float32 scales gives the same integers."""
    q, left_shift = math.frexp(input_scale * float(1 << (31 - ACTIVATION_INPUT_INTEGER_BITS)))
    multiplier = round_half_away(q * float(1 << 31))
    if left_shift < 0 or multiplier > INT32_MAX:
        raise UnsupportedOpError(
            f"{opcode} input {name!r} has scale {input_scale:g}, outside what TFLM's int8 kernel handles: "
            "calibrate with representative data")
    return {"input_zero_point": input_zero_point,
            "input_range_radius": _input_radius(ACTIVATION_INPUT_INTEGER_BITS, left_shift),
            "input_multiplier": multiplier,
            "input_left_shift": left_shift}


def _input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite's CalculateInputRadius: the largest |input| whose rescaled value fits the fixed-point
    format. TFLM divides powers of two in float64, which is exact, so integer shifts give the same floor."""
    return (((1 << integer_bits) - 1) << (total_signed_bits - integer_bits)) >> left_shift


def _int8_quantization(tensor: Tensor, opcode: str, role: str) -> tuple[float, int]:
    """(float32 scale, zero point) of a per-tensor quantized int8 tensor, or an UnsupportedOpError."""
    quantization = tensor.quantization
    if tensor.dtype != "int8" or quantization is None or quantization.scale.size == 0:
        raise UnsupportedOpError(
            f"{opcode} {role} {tensor.name!r} is {tensor.dtype}, not quantized int8: the compiled-C engine "
            "runs int8 models only (convert with edgeq's int8 mode)")
    if quantization.scale.size != 1:
        raise UnsupportedOpError(f"{opcode} {role} {tensor.name!r} is quantized per channel; TFLM's int8 "
                                 "kernel needs one scale per tensor")
    scale = f32(quantization.scale[0])
    if not (math.isfinite(scale) and scale > 0.0):
        raise UnsupportedOpError(f"{opcode} {role} {tensor.name!r} has scale {scale:g}: the model's "
                                 "quantization is broken; re-convert it")
    return scale, int(quantization.zero_point[0])
