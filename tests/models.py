"""Models the tests build themselves, so a fresh clone needs nothing outside the repository.

Three stand-ins for TensorFlow Lite Micro's example models, with the properties the tests relied on:

- `sine`: hello_world's regressor (Dense 1 -> 16 -> 16 -> 1 trained on sin(x), x in [0, 2pi]), as an int8 model
  with int8 I/O (through edgeq's quantizer) and as a float model (TFLiteConverter without optimizations).
- `person`: person_detect's layer geometry (MobileNet v1, width 0.25, 96x96x1 -> 2 classes: 14 DEPTHWISE_CONV_2D,
  14 CONV_2D, AVERAGE_POOL_2D, RESHAPE, SOFTMAX; per-channel int8 weights), trained to tell an image holding a
  bright blob (class 1) from noise (class 0). `with_person_detect_quirk` rewrites the depthwise biases'
  `quantized_dimension` to 3 as in TFLM's person_detect.tflite: TFLM runs such a model, LiteRT refuses it.
- `lstm`: trained_lstm's structure (int8 UNIDIRECTIONAL_SEQUENCE_LSTM over 28 steps of 28 inputs, 20 units,
  RESHAPE, FULLY_CONNECTED 560 -> 10, SOFTMAX), packed with the schema module: an op outside the compiled-C
  engine's set that TFLM runs.

Plus `build_tflite`, which packs any small model with the official schema module's object API.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

PERSON_SIDE = 96
# (stride, output channels) of MobileNet v1's 13 depthwise-separable blocks at width 0.25
PERSON_BLOCKS = ((1, 16), (2, 32), (1, 32), (2, 64), (1, 64), (2, 128), (1, 128), (1, 128), (1, 128), (1, 128),
                 (1, 128), (2, 256), (1, 256))
LSTM_STEPS, LSTM_INPUTS, LSTM_UNITS, LSTM_CLASSES = 28, 28, 20, 10


@dataclass
class T:
    """A tensor for `build_tflite`: data=None makes it an activation (variable=True: a state tensor)."""

    shape: tuple[int, ...]
    dtype: str = "int8"
    scale: list[float] | None = None
    zero_point: list[int] | None = None
    data: np.ndarray | None = None
    name: str = ""
    axis: int = 0
    variable: bool = False


@dataclass
class Op:
    """An operator for `build_tflite`: a builtin name (or custom code when custom=True)."""

    name: str
    inputs: list[int]
    outputs: list[int]
    options: Any = None
    custom: bool = False
    intermediates: list[int] = field(default_factory=list)


def build_tflite(tensors: list[T], ops: list[Op], inputs: list[int], outputs: list[int]) -> bytes:
    """Pack a single-subgraph TFLite model with the schema module's object API."""
    from edgeq.tflite.schema import schema

    fb = schema()
    model = fb.ModelT()
    model.version = 3
    model.buffers = [fb.BufferT()]
    codes: list[tuple[str, bool]] = []
    for op in ops:
        if (op.name, op.custom) not in codes:
            codes.append((op.name, op.custom))
    model.operatorCodes = []
    for name, custom in codes:
        code = fb.OperatorCodeT()
        if custom:
            code.builtinCode = fb.BuiltinOperator.CUSTOM
            code.customCode = name.encode()
        else:
            code.builtinCode = getattr(fb.BuiltinOperator, name)
        code.deprecatedBuiltinCode = min(code.builtinCode, 127)
        code.version = 1
        model.operatorCodes.append(code)
    sg = fb.SubGraphT()
    sg.tensors = []
    for i, t in enumerate(tensors):
        tensor = fb.TensorT()
        tensor.shape = np.asarray(t.shape, dtype=np.int32)
        tensor.type = getattr(fb.TensorType, t.dtype.upper())
        tensor.name = (t.name or f"t{i}").encode()
        tensor.buffer = 0
        tensor.isVariable = t.variable
        if t.data is not None:
            buffer = fb.BufferT()
            buffer.data = np.frombuffer(np.ascontiguousarray(t.data).tobytes(), dtype=np.uint8)
            model.buffers.append(buffer)
            tensor.buffer = len(model.buffers) - 1
        if t.scale is not None:
            q = fb.QuantizationParametersT()
            q.scale = np.asarray(t.scale, dtype=np.float32)
            q.zeroPoint = np.asarray(t.zero_point or [0] * len(t.scale), dtype=np.int64)
            q.quantizedDimension = t.axis
            tensor.quantization = q
        sg.tensors.append(tensor)
    sg.inputs = np.asarray(inputs, dtype=np.int32)
    sg.outputs = np.asarray(outputs, dtype=np.int32)
    sg.operators = []
    for op in ops:
        operator = fb.OperatorT()
        operator.opcodeIndex = codes.index((op.name, op.custom))
        operator.inputs = np.asarray(op.inputs, dtype=np.int32)
        operator.outputs = np.asarray(op.outputs, dtype=np.int32)
        if op.intermediates:
            operator.intermediates = np.asarray(op.intermediates, dtype=np.int32)
        if op.options is not None:
            operator.builtinOptionsType = getattr(fb.BuiltinOptions, type(op.options).__name__[:-1])
            operator.builtinOptions = op.options
        sg.operators.append(operator)
    model.subgraphs = [sg]
    return _pack(model)


def _pack(model: Any) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _quantize_keras(keras_model, tmp: Path, calibration: np.ndarray) -> bytes:
    """A Keras model -> int8 .tflite bytes (int8 I/O) through edgeq's own loader and quantizer."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import SampleSet

    path = tmp / f"{keras_model.name}.keras"
    keras_model.save(path)
    samples = SampleSet("calibration", "", [calibration.astype(np.float32)])
    return quantize(load_model(path), QuantizeOptions("int8", "int8"), samples, integer_only=True).data


def _train(model, x: np.ndarray, y: np.ndarray, loss, steps: int, batch: int, learning_rate: float,
           compiled: bool) -> float:
    """Adam on consecutive batches of (x, y). compiled=True runs the steps in one tf.function: cheaper for
    many steps of a small model (Keras' fit costs seconds per epoch); tracing a deep model costs more than a
    few eager steps."""
    from edgeq.tfenv import keras, tensorflow

    tf = tensorflow()
    optimizer = keras().optimizers.Adam(learning_rate)
    xs, ys = tf.constant(x), tf.constant(y)

    def step(i):
        start = (i * batch) % xs.shape[0]
        with tf.GradientTape() as tape:
            value = loss(ys[start:start + batch], model(xs[start:start + batch], training=True))
        gradients = tape.gradient(value, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return value

    @tf.function
    def run_compiled() -> object:
        value = tf.constant(0.0)
        for i in tf.range(steps):
            value = step(i)
        return value

    if compiled:
        return float(run_compiled())
    return float([step(i) for i in range(steps)][-1])


# -- sine (hello_world) ---------------------------------------------------------------------------------------


def sine_points(count: int, seed: int) -> np.ndarray:
    """x in [0, 2pi] as [count, 1] float32, seeded."""
    return np.random.default_rng(seed).uniform(0, 2 * np.pi, (count, 1)).astype(np.float32)


def sine_keras():
    """Dense 1 -> 16 -> 16 -> 1 (ReLU), seeded and trained on sin(x) for 1,500 full-batch steps (~1 s)."""
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(3)
    x = k.Input((1,), name="x")
    y = k.layers.Dense(16, activation="relu", name="dense_1")(x)
    y = k.layers.Dense(16, activation="relu", name="dense_2")(y)
    model = k.Model(x, k.layers.Dense(1, name="y")(y), name="sine")
    train = sine_points(512, seed=1)
    _train(model, train, np.sin(train), k.losses.MeanSquaredError(), steps=1500, batch=512, learning_rate=0.01,
           compiled=True)
    return model


def sine_int8(keras_model, tmp: Path) -> bytes:
    """The sine regressor as int8 with int8 I/O, calibrated on 200 points of [0, 2pi] (both ends included)."""
    calibration = np.concatenate([[[0.0], [2 * np.pi]], sine_points(198, seed=2)])
    return _quantize_keras(keras_model, tmp, calibration)


def sine_float(keras_model, tmp: Path) -> bytes:
    """The sine regressor as a float .tflite: a batch-1 SavedModel through TFLiteConverter, no optimizations."""
    from edgeq.tfenv import captured_output, tensorflow

    tf = tensorflow()
    directory = tmp / "sine_float_savedmodel"
    with captured_output():
        keras_model.export(str(directory), format="tf_saved_model", verbose=False,
                           input_signature=[tf.TensorSpec([1, 1], tf.float32, name="x")])
        return bytes(tf.lite.TFLiteConverter.from_saved_model(str(directory)).convert())


# -- person (person_detect) -----------------------------------------------------------------------------------


def person_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """[count, 96, 96, 1] float32 in [-1, 1] and labels alternating 0, 1: class 1 has a bright rectangle
    (32 to 63 pixels a side) on the dark noise that fills class 0."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, -0.5, (count, PERSON_SIDE, PERSON_SIDE, 1)).astype(np.float32)
    labels = np.arange(count) % 2
    for image, label in zip(images, labels, strict=True):
        if label:
            h, w = rng.integers(32, 64, 2)
            top, left = rng.integers(0, PERSON_SIDE - h), rng.integers(0, PERSON_SIDE - w)
            image[top:top + h, left:left + w] = rng.uniform(0.5, 1.0, (h, w, 1))
    return images, labels


def person_keras():
    """MobileNet v1 at width 0.25 on 96x96x1 with person_detect's layers (batch norm folded away, ReLU6),
    trained for 10 steps of 16 images. The head is then re-centred and scaled so the logits differ by 3 at
    most on training images (TFLM's example scores are not saturated either)."""
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(5)
    layers = k.layers
    # He initialisation for a depthwise kernel: fan-in 9 (Keras would count the channels too).
    depthwise = k.initializers.RandomNormal(stddev=(2 / 9) ** 0.5)
    x = k.Input((PERSON_SIDE, PERSON_SIDE, 1), name="image")
    # A 1-channel input: the first convolution is a depthwise one, 8 filters per channel, as in person_detect.
    y = layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=8, activation="relu6",
                               depthwise_initializer=depthwise)(x)
    for stride, channels in PERSON_BLOCKS:
        y = layers.DepthwiseConv2D(3, strides=stride, padding="same", activation="relu6",
                                   depthwise_initializer=depthwise)(y)
        y = layers.Conv2D(channels, 1, activation="relu6", kernel_initializer="he_normal")(y)
    y = layers.AveragePooling2D(3)(y)
    head = layers.Conv2D(2, 1, name="logits")
    logits = layers.Reshape((2,))(head(y))
    images, labels = person_images(160, seed=1)
    _train(k.Model(x, logits), images, labels, k.losses.SparseCategoricalCrossentropy(from_logits=True),
           steps=10, batch=16, learning_rate=0.003, compiled=False)
    # The boundary midway between the classes' mean logit difference, the largest difference scaled to 3.
    difference = np.diff(np.asarray(k.Model(x, logits)(images[:32])), axis=1)[:, 0]
    shift = -(difference[labels[:32] == 1].mean() + difference[labels[:32] == 0].mean()) / 2
    scale = 3 / np.abs(difference + shift).max()
    kernel, bias = head.get_weights()
    head.set_weights([kernel * scale, (bias + np.array([-shift / 2, shift / 2], np.float32)) * scale])
    return k.Model(x, layers.Softmax(name="probs")(logits), name="person")


def person_int8(keras_model, tmp: Path) -> bytes:
    """The person classifier as int8 (per-channel weights, int8 I/O), calibrated on 16 images."""
    return _quantize_keras(keras_model, tmp, person_images(16, seed=2)[0])


def with_person_detect_quirk(data: bytes) -> bytes:
    """The model with every DEPTHWISE_CONV_2D bias's quantized_dimension set to 3, as TFLM's person_detect.tflite
    has it: TFLM ignores it, LiteRT refuses the model ("quantized_dimension must be in range [0, 1)")."""
    from edgeq.tflite.schema import schema

    fb = schema()
    model = fb.ModelT.InitFromObj(fb.Model.GetRootAsModel(data, 0))
    sg = model.subgraphs[0]
    for op in sg.operators:
        if model.operatorCodes[op.opcodeIndex].builtinCode == fb.BuiltinOperator.DEPTHWISE_CONV_2D:
            sg.tensors[op.inputs[2]].quantization.quantizedDimension = 3
    return _pack(model)


# -- lstm (trained_lstm) --------------------------------------------------------------------------------------


def lstm_int8(seed: int = 3) -> bytes:
    """[1, 28, 28] int8 -> UNIDIRECTIONAL_SEQUENCE_LSTM (20 units; int8 weights, int16 cell state) -> RESHAPE
    -> FULLY_CONNECTED 560 -> 10 -> SOFTMAX, with the tensors and intermediates the TFLite converter writes."""
    from edgeq.tflite.schema import schema

    fb = schema()
    rng = np.random.default_rng(seed)
    steps, inputs, units = LSTM_STEPS, LSTM_INPUTS, LSTM_UNITS
    in_scale, state_scale, weight_scale = 1 / 255, 1 / 128, 0.01
    tensors = [T((1, steps, inputs), scale=[in_scale], zero_point=[-128], name="input")]

    def add(tensor: T) -> int:
        tensors.append(tensor)
        return len(tensors) - 1

    def weights(shape: tuple[int, ...], name: str) -> int:
        return add(T(shape, scale=[weight_scale], data=rng.integers(-127, 128, shape, dtype=np.int8), name=name))

    gates = ("input", "forget", "cell", "output")
    to_gate = [weights((units, inputs), f"input_to_{g}") for g in gates]
    recurrent = [weights((units, units), f"recurrent_to_{g}") for g in gates]
    biases = [add(T((units,), "int32", scale=[in_scale * weight_scale],
                    data=rng.integers(-2000, 2000, units, dtype=np.int32), name=f"{g}_gate_bias")) for g in gates]
    hidden = add(T((1, units), scale=[state_scale], name="output_state", variable=True))
    cell = add(T((1, units), "int16", scale=[2.0 ** -12], name="cell_state", variable=True))
    intermediates = [add(T((0,), "float32", name=f"input_to_{g}_intermediate")) for g in gates]
    intermediates.append(add(T((0,), scale=[state_scale], name="effective_hidden_scale_intermediate")))
    sequence = add(T((1, steps, units), scale=[state_scale], name="sequence"))
    shape = add(T((2,), "int32", data=np.array([1, steps * units], np.int32), name="shape"))
    flat = add(T((1, steps * units), scale=[state_scale], name="flat"))
    dense_w = weights((LSTM_CLASSES, steps * units), "dense_weights")
    dense_b = add(T((LSTM_CLASSES,), "int32", scale=[state_scale * weight_scale],
                    data=rng.integers(-500, 500, LSTM_CLASSES, dtype=np.int32), name="dense_bias"))
    logits = add(T((1, LSTM_CLASSES), scale=[0.1], zero_point=[3], name="logits"))
    probs = add(T((1, LSTM_CLASSES), scale=[1 / 256], zero_point=[-128], name="probs"))

    options = fb.UnidirectionalSequenceLSTMOptionsT()
    options.fusedActivationFunction = fb.ActivationFunctionType.TANH
    options.cellClip = 10.0
    lstm_inputs = [0, *to_gate, *recurrent, -1, -1, -1, *biases, -1, -1, hidden, cell, -1, -1, -1, -1]
    reshape = fb.ReshapeOptionsT()
    reshape.newShape = [1, steps * units]
    softmax = fb.SoftmaxOptionsT()
    softmax.beta = 1.0
    ops = [Op("UNIDIRECTIONAL_SEQUENCE_LSTM", lstm_inputs, [sequence], options, intermediates=intermediates),
           Op("RESHAPE", [sequence, shape], [flat], reshape),
           Op("FULLY_CONNECTED", [flat, dense_w, dense_b], [logits], fb.FullyConnectedOptionsT()),
           Op("SOFTMAX", [logits], [probs], softmax)]
    return build_tflite(tensors, ops, [0], [probs])


# -- running them without edgeq -------------------------------------------------------------------------------


def tflm_quantize(path: Path, images: np.ndarray) -> list[np.ndarray]:
    """Each image quantized to int8 (batch 1) with the input parameters tflite-micro reads from the file."""
    from tflite_micro import runtime

    params = runtime.Interpreter.from_file(str(path)).get_input_details(0)["quantization_parameters"]
    q = np.clip(np.round(images / params["scales"][0]) + params["zero_points"][0], -128, 127).astype(np.int8)
    return [x[None] for x in q]


def tflm_outputs(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Output 0 for each single-input sample, from tflite-micro's own Python API (not edgeq's runner)."""
    from tflite_micro import runtime

    interpreter = runtime.Interpreter.from_file(str(path))
    outputs = []
    for x in inputs:
        interpreter.set_input(x, 0)
        interpreter.invoke()
        outputs.append(np.array(interpreter.get_output(0)))
    return outputs
