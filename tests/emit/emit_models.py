"""Small integer .tflite models for the emit tests, built byte by byte with the TFLite schema's object API
(no TensorFlow conversion, so golden files do not move with TF versions)."""

from __future__ import annotations

import flatbuffers
import numpy as np

from edgeq.tflite.schema import schema


def _tensor(fb, name: str, shape: list[int], dtype: int, buffer: int, scale: float | None = None,
            zero_point: int = 0):
    t = fb.TensorT()
    t.name, t.shape, t.type, t.buffer = name.encode(), shape, dtype, buffer
    if scale is not None:
        q = fb.QuantizationParametersT()
        q.scale, q.zeroPoint = [scale], [zero_point]
        t.quantization = q
    return t


def build_tiny_model(float_io: bool = False, tensor_name: str = "input") -> bytes:
    """An int8 classifier: [1,2,2,2] -> RESHAPE [1,8] -> FULLY_CONNECTED [1,4] -> SOFTMAX [1,4].

    Two outputs (the softmax and the logits) so multi-output code paths are exercised. With `float_io`,
    float32 input/outputs wrapped in QUANTIZE/DEQUANTIZE, as the converter makes for --io-type float32.
    """
    fb = schema()
    T = fb.TensorType
    rng = np.random.default_rng(7)
    weights = rng.integers(-127, 128, size=(4, 8), dtype=np.int64).astype(np.int8)
    bias = rng.integers(-500, 500, size=(4,), dtype=np.int64).astype(np.int32)
    shape = np.array([1, 8], dtype=np.int32)
    buffers = [b"", weights.tobytes(), bias.tobytes(), shape.tobytes()]
    tensors = [
        _tensor(fb, tensor_name, [1, 2, 2, 2], T.INT8, 0, 0.05, -3),           # 0
        _tensor(fb, "flat", [1, 8], T.INT8, 0, 0.05, -3),                       # 1
        _tensor(fb, "dense/weights", [4, 8], T.INT8, 1, 0.02, 0),              # 2
        _tensor(fb, "dense/bias", [4], T.INT32, 2, 0.001, 0),                  # 3
        _tensor(fb, "logits", [1, 4], T.INT8, 0, 0.25, 10),                    # 4
        _tensor(fb, "probabilities", [1, 4], T.INT8, 0, 1.0 / 256, -128),      # 5
        _tensor(fb, "new_shape", [2], T.INT32, 3),                             # 6
    ]
    codes = ["RESHAPE", "FULLY_CONNECTED", "SOFTMAX"]
    ops = [(0, [0, 6], [1]), (1, [1, 2, 3], [4]), (2, [4], [5])]
    inputs, outputs = [0], [5, 4]
    if float_io:
        codes += ["QUANTIZE", "DEQUANTIZE"]
        tensors += [_tensor(fb, tensor_name + "_float", [1, 2, 2, 2], T.FLOAT32, 0),   # 7
                    _tensor(fb, "probabilities_float", [1, 4], T.FLOAT32, 0),       # 8
                    _tensor(fb, "logits_float", [1, 4], T.FLOAT32, 0)]              # 9
        ops = [(3, [7], [0]), *ops, (4, [5], [8]), (4, [4], [9])]
        inputs, outputs = [7], [8, 9]
    model = fb.ModelT()
    model.version = 3
    model.description = b"edgeq emit test model"
    opcodes = []
    for code in codes:
        oc = fb.OperatorCodeT()
        value = getattr(fb.BuiltinOperator, code)
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = value, min(value, 127), 1
        opcodes.append(oc)
    model.operatorCodes = opcodes
    sg = fb.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.name = tensors, inputs, outputs, b"main"
    sg.operators = []
    for code_index, op_inputs, op_outputs in ops:
        op = fb.OperatorT()
        op.opcodeIndex, op.inputs, op.outputs = code_index, op_inputs, op_outputs
        if codes[code_index] == "SOFTMAX":
            op.builtinOptionsType = fb.BuiltinOptions.SoftmaxOptions
            op.builtinOptions = fb.SoftmaxOptionsT()
            op.builtinOptions.beta = 1.0
        elif codes[code_index] == "FULLY_CONNECTED":
            op.builtinOptionsType = fb.BuiltinOptions.FullyConnectedOptions
            op.builtinOptions = fb.FullyConnectedOptionsT()
        elif codes[code_index] == "RESHAPE":
            op.builtinOptionsType = fb.BuiltinOptions.ReshapeOptions
            op.builtinOptions = fb.ReshapeOptionsT()
            op.builtinOptions.newShape = [1, 8]
        sg.operators.append(op)
    model.subgraphs = [sg]
    model.buffers = []
    for data in buffers:
        b = fb.BufferT()
        b.data = list(data) if data else None
        model.buffers.append(b)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def build_quantize_model(quantizations: list[tuple[float, int]], values: int, dtype: str = "int8") -> bytes:
    """For each (scale, zero point) k: float32 input f_k [values] -> QUANTIZE -> output k, and integer input
    q_k [256] -> DEQUANTIZE -> float32 output. The integer inputs and outputs carry the quantizations, so the
    model_io.h rendered for this model has a quantize and a dequantize helper per k, and the interpreter
    running the model computes TFLite's QUANTIZE and DEQUANTIZE for the same parameters."""
    fb = schema()
    T = fb.TensorType
    kind = {"int8": T.INT8, "uint8": T.UINT8, "int16": T.INT16}[dtype]
    count = len(quantizations)
    tensors = []
    for k, (scale, zp) in enumerate(quantizations):  # 4 tensors per k: f_k, quantized_k, q_k, dequantized_k
        tensors += [_tensor(fb, f"real{k}", [values], T.FLOAT32, 0),
                    _tensor(fb, f"quantized{k}", [values], kind, 0, scale, zp),
                    _tensor(fb, f"raw{k}", [256], kind, 0, scale, zp),
                    _tensor(fb, f"dequantized{k}", [256], T.FLOAT32, 0)]
    codes = []
    for code in ("QUANTIZE", "DEQUANTIZE"):
        oc = fb.OperatorCodeT()
        value = getattr(fb.BuiltinOperator, code)
        oc.builtinCode, oc.deprecatedBuiltinCode, oc.version = value, min(value, 127), 1
        codes.append(oc)
    sg = fb.SubGraphT()
    sg.tensors, sg.name, sg.operators = tensors, b"main", []
    for k in range(count):
        for code, src, dst in ((0, 4 * k, 4 * k + 1), (1, 4 * k + 2, 4 * k + 3)):
            op = fb.OperatorT()
            op.opcodeIndex, op.inputs, op.outputs = code, [src], [dst]
            sg.operators.append(op)
    # Inputs: the float ones, then the integer ones; outputs: the integer ones, then the float ones.
    sg.inputs = [4 * k for k in range(count)] + [4 * k + 2 for k in range(count)]
    sg.outputs = [4 * k + 1 for k in range(count)] + [4 * k + 3 for k in range(count)]
    model = fb.ModelT()
    model.version, model.description = 3, b"edgeq QUANTIZE/DEQUANTIZE reference"
    model.operatorCodes, model.subgraphs, model.buffers = codes, [sg], [fb.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


_TYPES = {"float32": "FLOAT32", "int8": "INT8", "uint8": "UINT8", "int16": "INT16", "int32": "INT32"}


def build_single_op_model(op: str, in_dtype: str, out_dtype: str, size: int,
                          in_quant: tuple[float, int] | None = None,
                          out_quant: tuple[float, int] | None = None) -> bytes:
    """input [1, size] -> one RESHAPE, QUANTIZE or DEQUANTIZE -> output [1, size], with the given types and
    (scale, zero point) pairs: the I/O helpers' test models and TFLite's own QUANTIZE/DEQUANTIZE to compare with."""
    fb = schema()
    T = fb.TensorType
    tensors = [_tensor(fb, "x", [1, size], getattr(T, _TYPES[in_dtype]), 0, *(in_quant or (None,))),
               _tensor(fb, "y", [1, size], getattr(T, _TYPES[out_dtype]), 0, *(out_quant or (None,)))]
    buffers = [b""]
    inputs = [0]
    if op == "RESHAPE":
        buffers.append(np.array([1, size], dtype=np.int32).tobytes())
        tensors.append(_tensor(fb, "new_shape", [2], T.INT32, 1))
        inputs.append(2)
    model = fb.ModelT()
    model.version = 3
    code = fb.OperatorCodeT()
    value = getattr(fb.BuiltinOperator, op)
    code.builtinCode, code.deprecatedBuiltinCode, code.version = value, min(value, 127), 1
    model.operatorCodes = [code]
    sg = fb.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.name = tensors, [0], [1], b"main"
    operator = fb.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, inputs, [1]
    if op == "RESHAPE":
        operator.builtinOptionsType = fb.BuiltinOptions.ReshapeOptions
        operator.builtinOptions = fb.ReshapeOptionsT()
        operator.builtinOptions.newShape = [1, size]
    sg.operators = [operator]
    model.subgraphs = [sg]
    model.buffers = []
    for data in buffers:
        b = fb.BufferT()
        b.data = list(data) if data else None
        model.buffers.append(b)
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())
