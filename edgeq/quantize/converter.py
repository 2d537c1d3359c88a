"""TFLiteConverter settings per quantization mode, and the proof that the result is integer-only."""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Container, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeq.errors import ConversionError, QuantizationError, UnsupportedOpError, UsageError
from edgeq.load.legacy import TF_KERAS
from edgeq.load.loader import LoadedModel, batch_one_specs, fixed_batch_function
from edgeq.quantize.modes import INTEGER_MODES, IO_TYPES, MODES
from edgeq.samples import SampleSet
from edgeq.tfenv import captured_output, keras, tensorflow
from edgeq.tflite import TFLiteModel, read_model
from edgeq.tflite.reader import FLOAT_DTYPES


@dataclass(frozen=True)
class QuantizeOptions:
    """How to convert: mode, I/O type (int8 means int16 for int16x8 models)."""

    mode: str = "int8"
    io_type: str = "int8"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise UsageError(f"unknown mode {self.mode!r}; choose one of {', '.join(MODES)}")
        if self.io_type not in IO_TYPES:
            raise UsageError(f"unknown I/O type {self.io_type!r}; choose one of {', '.join(IO_TYPES)}")
        if self.mode == "int16x8" and self.io_type == "uint8":
            raise UsageError("int16x8 models take int16 or float32 I/O, not uint8")

    @property
    def needs_calibration(self) -> bool:
        return self.mode in INTEGER_MODES

    @property
    def effective_io_type(self) -> str:
        if self.mode in ("float16", "dynamic"):
            return "float32"
        if self.mode == "int16x8" and self.io_type == "int8":
            return "int16"
        return self.io_type


ProgressCallback = Callable[[int], None]


FLOAT_INPUTS = ("float32", "float16", "float64")


def check_input_types(model: LoadedModel) -> None:
    """Refuse inputs edgeq cannot feed: calibration and validation samples are real numbers, quantized to the
    int8 input; token ids (an Embedding's int32), bool flags or strings have no such scale."""
    for spec in model.inputs:
        if spec.dtype not in FLOAT_INPUTS:
            raise UnsupportedOpError(
                f"{model.path.name}: input {spec.name!r} has dtype {spec.dtype}; edgeq converts models whose "
                "inputs are floating point (float32: images, audio, sensor values), not integer, bool or string "
                "inputs (e.g. token ids for an Embedding): move the lookup or cast out of the model and feed "
                "its float output")


def convert(model: LoadedModel, options: QuantizeOptions, samples: SampleSet | None,
            on_sample: ProgressCallback | None = None) -> bytes:
    """Convert a loaded float model to .tflite bytes with the given settings."""
    tf = tensorflow()
    if options.needs_calibration and samples is None:
        raise ConversionError(f"mode {options.mode} needs calibration data (--calib)")
    with tempfile.TemporaryDirectory(prefix="edgeq-savedmodel-") as tmp, captured_output() as log:
        try:
            _export_fixed_batch(model, Path(tmp))
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            _configure(converter, options, samples, model, on_sample)
            result = converter.convert()
        except QuantizationError:
            raise
        except Exception as exc:
            raise ConversionError(f"TFLite conversion failed: {_first_error_line(str(exc))}") from None
    if not result:  # pragma: no cover - the converter raises instead
        raise ConversionError(f"TFLite conversion produced nothing: {_first_error_line(''.join(log))}")
    return bytes(result)


def calibrated_model(model: LoadedModel, options: QuantizeOptions, samples: SampleSet) -> bytes:
    """The converter's calibrate-only step: a float .tflite whose activation tensors carry the min/max seen on
    `samples`, which `quantize_calibrated` turns into the integer model (what `convert` does in one go)."""
    tf = tensorflow()
    if options.mode != "int8":
        raise UsageError(f"calibrate-then-quantize is an int8 path, not {options.mode}")
    with tempfile.TemporaryDirectory(prefix="edgeq-savedmodel-") as tmp, captured_output():
        try:
            _export_fixed_batch(model, Path(tmp))
            converter = tf.lite.TFLiteConverter.from_saved_model(tmp)
            _configure(converter, options, samples, model, None)
            converter._experimental_calibrate_only = True  # TF's own QuantizationDebugger uses this switch
            return bytes(converter.convert())
        except Exception as exc:
            raise ConversionError(f"TFLite calibration failed: {_first_error_line(str(exc))}") from None


def quantize_calibrated(calibrated: bytes, options: QuantizeOptions) -> bytes:
    """A calibrated model (ranges possibly adjusted) -> the full-integer model, with the converter's own
    quantizer and the settings `convert` uses for int8 (per-channel weights, the I/O type asked for)."""
    tf = tensorflow()
    from tensorflow.lite.python.convert import mlir_quantize

    io_dtype = {"int8": tf.int8, "uint8": tf.uint8, "float32": tf.float32}[options.effective_io_type]
    with captured_output():
        try:
            return bytes(mlir_quantize(calibrated, disable_per_channel=False, input_data_type=io_dtype,
                                       output_data_type=io_dtype))
        except Exception as exc:
            raise ConversionError(f"TFLite quantization failed: {_first_error_line(str(exc))}") from None


def _export_fixed_batch(model: LoadedModel, directory: Path) -> None:
    """Re-export with a batch-1 signature (no SHAPE/STRIDED_SLICE ops from a dynamic batch)."""
    tf = tensorflow()
    specs = batch_one_specs(model)
    if model.keras_model is not None and model.loader != TF_KERAS:
        _export_named_outputs(model, _unrolled_recurrent(model), specs, directory)
        return
    module = tf.Module()
    # A tf-keras model saved as such would be traced layer by layer by Keras 2's own SavedModel code: only its
    # variables need to travel with the batch-1 function.
    module.trackable = model.trackable if model.keras_model is None else list(model.keras_model.weights)
    function = fixed_batch_function(model)
    tf.saved_model.save(module, str(directory), signatures={"serving_default": function.get_concrete_function()})


def signature_output_names(model: LoadedModel) -> list[str]:
    """The Keras output names, unique (a repeated name gets its position appended)."""
    names = [spec.name for spec in model.outputs]
    return [name if names.count(name) == 1 else f"{name}_{i}" for i, name in enumerate(names)]


def _export_named_outputs(model: LoadedModel, keras_model: Any, specs: list[Any], directory: Path) -> None:
    """Export like `keras_model.export(format="tf_saved_model")`, with the signature's outputs keyed by the Keras
    output names: the .tflite's signature then says `probs`, not `output_0`, for firmware and validation."""
    names = signature_output_names(model)

    def serve(*args: Any) -> dict[str, Any]:
        outputs = keras_model(list(args) if len(args) > 1 else args[0], training=False)
        if isinstance(outputs, dict):
            return outputs
        outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        return dict(zip(names, outputs, strict=True))

    archive = keras().export.ExportArchive()
    archive.track(keras_model)
    archive.add_endpoint("serving_default", serve, input_signature=specs)
    archive.write_out(str(directory), verbose=False)


def _rolled_recurrent_layers(keras_model) -> list:
    keras_layers = keras().layers
    recurrent = (keras_layers.RNN, keras_layers.Bidirectional)
    return [layer for layer in getattr(keras_model, "layers", [])
            if isinstance(layer, recurrent) and not _config_unrolled(layer.get_config())]


def _config_unrolled(config: dict) -> bool:
    """True when every `unroll` key in a (possibly nested, for Bidirectional) layer config is True."""
    values = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if "unroll" in node:
                values.append(bool(node["unroll"]))
            for value in node.values():
                walk(value)

    walk(config)
    return all(values)


def _set_unroll(node: object) -> object:
    if isinstance(node, dict):
        return {key: True if key == "unroll" else _set_unroll(value) for key, value in node.items()}
    return node


def _unrolled_recurrent(model: LoadedModel):
    """The Keras model with its recurrent layers (LSTM, GRU, SimpleRNN, Bidirectional) unrolled.

    Keras 3 exports a rolled recurrent layer as a WHILE loop (no fused UNIDIRECTIONAL_SEQUENCE_LSTM any
    more), and TFLite's int8 calibrator crashes the process (segfault) on it. With the fixed input shape
    edgeq requires, unrolling gives the same function as plain FULLY_CONNECTED/LOGISTIC/TANH/MUL/ADD ops.
    """
    keras_model = model.keras_model
    rolled = _rolled_recurrent_layers(keras_model)
    if not rolled:
        return keras_model
    names = ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in rolled)
    rolled_ids = {id(layer) for layer in rolled}

    def clone(layer):
        if id(layer) in rolled_ids:
            return type(layer).from_config(_set_unroll(layer.get_config()))
        return type(layer).from_config(layer.get_config())

    try:
        clone_model = keras().models.clone_model
        unrolled = clone_model(keras_model, clone_function=clone)
        unrolled.set_weights(keras_model.get_weights())
    except Exception as exc:  # subclassed or custom layers clone_model cannot rebuild
        reason = " ".join(str(exc).split())[:200]
        raise ConversionError(f"recurrent layer(s) {names} would export as a WHILE loop that TFLite's int8 "
                              f"calibrator crashes on, and unrolling them failed ({reason}); build them with "
                              "unroll=True") from None
    note = f"{names}: unrolled over the fixed time steps for export (a rolled layer becomes a WHILE loop)"
    if note not in model.compat_fixes:
        model.compat_fixes.append(note)
    return unrolled


def _configure(converter, options: QuantizeOptions, samples: SampleSet | None, model: LoadedModel,
               on_sample: ProgressCallback | None) -> None:
    tf = tensorflow()
    if options.mode == "float16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if options.mode == "dynamic":
        return
    converter.representative_dataset = _representative(samples, model, on_sample)
    if options.mode == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    else:
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
    io_dtype = {"int8": tf.int8, "uint8": tf.uint8, "int16": tf.int16, "float32": tf.float32}[options.effective_io_type]
    converter.inference_input_type = io_dtype
    converter.inference_output_type = io_dtype


def _representative(samples: SampleSet | None, model: LoadedModel,
                    on_sample: ProgressCallback | None) -> Callable[[], Iterator[dict[str, np.ndarray]]]:
    assert samples is not None
    names = [spec.name for spec in model.inputs]

    def generate() -> Iterator[dict[str, np.ndarray]]:
        for i in range(samples.count):
            yield dict(zip(names, samples.sample(i), strict=True))
            if on_sample:
                on_sample(i + 1)

    return generate


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_CALL = re.compile(r"Exception encountered when calling ([\w.]+)\(\)\.")
_SCOPE_NAME = re.compile(r"'(.*)' is not a valid scope name")


def _first_error_line(text: str) -> str:
    """The converter's or Keras' reason in one line. Keras wraps an exception raised inside a layer as
    'Exception encountered when calling X.call().' + the reason (in bold) + the arguments: keep the reason."""
    text = _ANSI.sub("", text)
    call = _KERAS_CALL.search(text)
    if call:
        paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", text[call.end():])]
        reason = next((p for p in paragraphs if p and not p.startswith("Arguments received")), "")
        scope = _SCOPE_NAME.search(reason)
        if scope:
            return (f"layer name {scope.group(1)!r} is not a valid TensorFlow name (letters, digits and _ . / > - "
                    "only): rename the layer (keras layer `name=`) and save the model again")
        if reason:
            return f"{reason[:300]} (in {call.group(1)})"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if "error" in line.lower():
            return line[:300]
    return (lines[0] if lines else "unknown error")[:300]


# ---------------------------------------------------------------------------------------------- integer proof

@dataclass(frozen=True)
class FloatOp:
    """An operator that still computes in floating point, with the Keras layer it came from."""

    index: int
    opcode: str
    tensors: tuple[str, ...]
    layer: str

    def describe(self) -> str:
        layer = f" from layer {self.layer!r}" if self.layer else ""
        return f"op {self.index} {self.opcode}{layer} (float tensors: {', '.join(self.tensors)})"


def float_ops(model: TFLiteModel, layer_names: list[str] | None = None) -> list[FloatOp]:
    """Operators with a floating-point tensor, except QUANTIZE/DEQUANTIZE at float model I/O boundaries."""
    found = []
    for subgraph in model.subgraphs:
        graph_inputs, graph_outputs = set(subgraph.inputs), set(subgraph.outputs)
        for op in subgraph.operators:
            boundary = ((op.opcode == "QUANTIZE" and set(op.inputs) <= graph_inputs)
                        or (op.opcode == "DEQUANTIZE" and set(op.outputs) <= graph_outputs))
            if boundary:
                continue
            floats = [subgraph.tensors[i] for i in (*op.inputs, *op.outputs)
                      if i >= 0 and subgraph.tensors[i].dtype in FLOAT_DTYPES]
            if floats:
                names = tuple(t.name for t in floats)
                found.append(FloatOp(op.index, op.opcode, names, keras_layer(names, layer_names or [])))
    return found


def mentioned_layers(tensor_name: str, known: Container[str]) -> list[str]:
    """The known Keras layer names a converted tensor's name mentions, in order of appearance."""
    # The exported graph scopes layer 'fc1' as 'fc1_1' (and 'fc1_1' as 'fc1_1_1'): try each part as it
    # stands and without one numeric suffix; callers that can check sizes settle ambiguous cases.
    found = []
    for part in re.split(r"[/;]", tensor_name):
        for option in (part, re.sub(r"_\d+$", "", part)):
            if option in known and option not in found:
                found.append(option)
    return found


def keras_layer(tensor_names: tuple[str, ...] | list[str], layer_names: list[str]) -> str:
    """The Keras layer a converted tensor came from, matched on its name ('model/fc1_1/MatMul' -> 'fc1')."""
    known = set(layer_names)
    return next((found[0] for name in tensor_names if (found := mentioned_layers(name, known))), "")


def prove_integer_only(model: TFLiteModel, layer_names: list[str] | None = None) -> None:
    """Raise QuantizationError naming every op (and its Keras layer) that still computes in float."""
    offenders = float_ops(model, layer_names)
    if offenders:
        listed = "; ".join(op.describe() for op in offenders[:5])
        more = f" and {len(offenders) - 5} more" if len(offenders) > 5 else ""
        raise QuantizationError(f"the converted model is not integer-only: {listed}{more}")


# TFLite's and TFLM's int8 SOFTMAX prepare calls QuantizeMultiplierGreaterThanOne(beta * input_scale * 2^26),
# which CHECK-fails (aborts the whole process, no message) unless that product exceeds 1.
_SOFTMAX_MIN_SCALED_BETA = 1.0
_SOFTMAX_INPUT_SCALE_BITS = 26


def check_interpreter_limits(model: TFLiteModel, layer_names: list[str] | None = None) -> None:
    """Raise QuantizationError for quantization parameters the int8 kernels abort on (instead of the
    interpreters killing the process later): a SOFTMAX whose input scale is too small."""
    for subgraph in model.subgraphs:
        for op in subgraph.operators:
            if op.opcode != "SOFTMAX" or op.inputs[0] < 0:
                continue
            tensor = subgraph.tensors[op.inputs[0]]
            if tensor.dtype not in ("int8", "uint8") or tensor.quantization is None:
                continue
            scale = float(tensor.quantization.scale[0])
            beta = float(getattr(op.options, "beta", 1.0) or 1.0)
            if beta * scale * 2.0 ** _SOFTMAX_INPUT_SCALE_BITS > _SOFTMAX_MIN_SCALED_BETA:
                continue
            layer = keras_layer((tensor.name, *(subgraph.tensors[i].name for i in op.outputs)), layer_names or [])
            where = f" from layer {layer!r}" if layer else ""
            raise QuantizationError(
                f"op {op.index} SOFTMAX{where}: its input scale {scale:.3g} is below {2.0 ** -26 / beta:.3g}, "
                f"which the int8 softmax kernels of TFLM and LiteRT cannot run (they abort): the logits span only "
                f"about ±{scale * 128:.2g} on the calibration data; check that the weights are trained and the "
                "calibration data is preprocessed like the training data")


def quantize(model: LoadedModel, options: QuantizeOptions, samples: SampleSet | None, *,
             integer_only: bool, on_sample: ProgressCallback | None = None) -> TFLiteModel:
    """Convert, parse and (for microcontroller targets) prove the result integer-only."""
    check_input_types(model)
    tflite = read_model(convert(model, options, samples, on_sample))
    if integer_only:
        prove_integer_only(tflite, model.layer_names)
    if options.mode in INTEGER_MODES:
        check_interpreter_limits(tflite, model.layer_names)
    return tflite
