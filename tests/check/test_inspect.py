"""`inspect` checked op by op and tensor by tensor against the raw flatbuffer, read with the schema's
table accessors (not edgeq's reader, which uses the object API)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeq.check.inspection import inspect
from edgeq.tflite.schema import schema

_ITEMSIZE = {"FLOAT32": 4, "FLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "INT16": 2, "INT8": 1, "BOOL": 1}


def _names(enum_class) -> dict[int, str]:
    return {v: k for k, v in vars(enum_class).items() if not k.startswith("_")}


def _expected(data: bytes) -> dict:
    """Ops and tensors of subgraph 0, straight from the flatbuffer tables."""
    fb = schema()
    model = fb.Model.GetRootAsModel(data, 0)
    ops_names, types = _names(fb.BuiltinOperator), _names(fb.TensorType)
    sg = model.Subgraphs(0)
    codes = []
    for i in range(model.OperatorCodesLength()):
        code = model.OperatorCodes(i)
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        codes.append((code.CustomCode().decode() if code.CustomCode() else ops_names[builtin], code.Version()))
    ops = []
    for i in range(sg.OperatorsLength()):
        op = sg.Operators(i)
        name, version = codes[op.OpcodeIndex()]
        ops.append({"op": name, "version": version, "inputs": op.InputsAsNumpy().tolist(),
                    "outputs": op.OutputsAsNumpy().tolist()})
    tensors = []
    for i in range(sg.TensorsLength()):
        t = sg.Tensors(i)
        shape = t.ShapeAsNumpy().tolist() if t.ShapeLength() else []
        dtype = types[t.Type()]
        q = t.Quantization()
        quant = None
        if q is not None and q.ScaleLength() > 0:
            quant = {"scale": q.ScaleAsNumpy().tolist(), "zero_point": q.ZeroPointAsNumpy().tolist(),
                     "quantized_dimension": q.QuantizedDimension()}
        buffer = model.Buffers(t.Buffer())
        constant = t.Buffer() != 0 and (buffer.DataLength() > 0 or buffer.Size() > 0)
        tensors.append({"name": t.Name().decode(), "shape": shape, "dtype": dtype.lower(), "quantization": quant,
                        "bytes": int(np.prod(shape, dtype=np.int64)) * _ITEMSIZE[dtype] if shape
                        else _ITEMSIZE[dtype], "constant": constant})
    return {"ops": ops, "tensors": tensors}


@pytest.mark.parametrize("model_path", ["person_path", "lstm_path", "sine_float_path"])
def test_inspect_matches_the_schema_op_by_op(request, model_path):
    path = request.getfixturevalue(model_path)
    expected = _expected(path.read_bytes())
    result = inspect(path, measure=False).to_dict()
    sg = result["subgraphs"][0]
    assert len(sg["operators"]) == len(expected["ops"]) > 0
    for got, want in zip(sg["operators"], expected["ops"], strict=True):
        assert (got["op"], got["version"], got["inputs"], got["outputs"]) == (
            want["op"], want["version"], want["inputs"], want["outputs"])
    assert len(sg["tensors"]) == len(expected["tensors"])
    for got, want in zip(sg["tensors"], expected["tensors"], strict=True):
        assert (got["name"], got["shape"], got["dtype"], got["bytes"]) == (
            want["name"], want["shape"], want["dtype"], want["bytes"])
        assert (got["kind"] == "constant") == want["constant"]
        if want["quantization"] is None:
            assert got["quantization"] is None
        else:
            assert np.allclose(got["quantization"]["scale"], want["quantization"]["scale"], rtol=0, atol=0)
            assert got["quantization"]["zero_point"] == want["quantization"]["zero_point"]
            assert got["quantization"]["quantized_dimension"] == want["quantization"]["quantized_dimension"]
    counts: dict[str, int] = {}
    for op in expected["ops"]:
        counts[op["op"]] = counts.get(op["op"], 0) + 1
    assert result["ops"] == dict(sorted(counts.items()))
    assert result["macs"]["total"] == sum(op["macs"] for op in sg["operators"]) > 0


def test_inspect_reports_options_arena_and_peak(digits_int8):
    result = inspect(digits_int8).to_dict()
    json.dumps(result)  # JSON-clean
    conv = result["subgraphs"][0]["operators"][0]
    assert conv["op"] == "CONV_2D" and conv["options"]["padding"] == "SAME"
    assert conv["options"]["fusedActivationFunction"] in ("RELU", "NONE", "RELU6")
    assert result["arena"]["host_bytes"] > result["activation_peak"]["bytes"] > 0
    assert result["sha256"] == digits_int8.sha256 and result["size_bytes"] == len(digits_int8.data)


def test_inspect_of_a_model_tflm_cannot_run_still_describes_it(tflite_builder):
    T, Op = tflite_builder.T, tflite_builder.Op
    data = tflite_builder.build([T((1, 3), "float32"), T((1, 3), "float32")], [Op("TOPK_V2", [0], [1])], [0], [1])
    result = inspect(data).to_dict()
    assert result["ops"] == {"TOPK_V2": 1}
    assert result["arena"]["host_bytes"] is None and "TOPK_V2" in result["arena"]["error"]
