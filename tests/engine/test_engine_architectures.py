"""Keras architectures users bring, through edgeq's loader and quantizer, then the compiled-C engine.

Each model is converted once (module scope) with synthetic calibration, generated with the engine, built into
one host executable with ASan + UBSan and compared with the TFLM interpreter: 0 LSB on every output. Layers
outside the engine's op set must fail with an UnsupportedOpError naming the op and `--runtime tflm`; a
two-input, two-output float32 model also runs on the emulated Cortex-M4.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_harness import build_executable, run_cases

from edgeq.engine import generate, write_engine_project
from edgeq.errors import UnsupportedOpError
from edgeq.samples import synthetic_samples
from edgeq.tflite.golden import golden_inputs, golden_vectors
from edgeq.tflite.runners import TFLMRunner, quantize_input


def _mlp(k):
    x = k.Input((13,), name="features")
    y = k.layers.Dense(32, activation="relu")(x)
    y = k.layers.Dense(16, activation="tanh")(y)
    return k.Model(x, k.layers.Dense(1, name="value")(y), name="mlp")


def _keyword_spotting(k):
    """Conv1D (RESHAPE + CONV_2D), causal padding (PAD), 1-D pools and GlobalAveragePooling1D (MEAN)."""
    layers = k.layers
    x = k.Input((49, 10), name="mfcc")
    y = layers.Conv1D(16, 3, activation="relu")(x)
    y = layers.Conv1D(16, 3, strides=2, padding="same", activation="relu")(y)
    y = layers.Conv1D(16, 3, dilation_rate=2, padding="causal", activation="relu")(y)
    y = layers.MaxPooling1D(2)(y)
    y = layers.AveragePooling1D(2, padding="same")(y)
    y = layers.GlobalAveragePooling1D()(y)
    return k.Model(x, layers.Dense(12, activation="softmax")(y), name="kws")


def _bn_relu6(k):
    """BatchNormalization folded into convs, ReLU6 three ways, depth multiplier 3, dilation, 'same' average pool."""
    layers = k.layers
    x = k.Input((16, 16, 3), name="image")
    y = layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False)(x)
    y = layers.ReLU(6.0)(layers.BatchNormalization()(y))
    y = layers.DepthwiseConv2D(3, depth_multiplier=3, padding="same")(y)
    y = layers.Activation("relu6")(layers.BatchNormalization()(y))
    y = layers.Conv2D(8, 3, dilation_rate=2, padding="same")(y)
    y = layers.ReLU(max_value=6.0)(layers.BatchNormalization()(y))
    y = layers.AveragePooling2D(3, strides=2, padding="same")(y)
    return k.Model(x, layers.Dense(5)(layers.Flatten()(y)), name="bn_relu6")


def _broadcast_residual(k):
    """ADD/MUL/SUB whose operands broadcast over space (1x1xC) and over channels (HxWx1); x+x and x*x."""
    layers = k.layers
    x = k.Input((8, 8, 4), name="image")
    a = layers.Conv2D(4, 1)(x)
    pooled = layers.GlobalAveragePooling2D(keepdims=True)(a)
    y = layers.Add()([a, pooled])
    gate = layers.Conv2D(1, 1)(y)
    y = layers.Multiply()([layers.Add()([y, gate]), gate])
    y = layers.Subtract()([pooled, y])
    square = layers.Multiply()([a, a])
    return k.Model(x, [y, layers.Add()([square, square])], name="broadcast_residual")


def _concat_axes(k):
    """Concatenate along channels (three inputs, one the model input), height and width."""
    layers = k.layers
    x = k.Input((6, 6, 4), name="image")
    a, b = layers.Conv2D(3, 1)(x), layers.Conv2D(5, 1)(x)
    channels = layers.Concatenate(axis=-1)([a, b, x])
    rows = layers.Concatenate(axis=1)([channels, channels])
    cols = layers.Concatenate(axis=2)([layers.Conv2D(12, 1)(x), channels])
    return k.Model(x, [rows, cols], name="concat_axes")


def _padding_and_strides(k):
    """Asymmetric ZeroPadding2D (PAD), a strided non-square kernel, 'same' pools on odd sizes, a depthwise
    conv with depth multiplier 4 and unequal strides, a separable conv."""
    layers = k.layers
    x = k.Input((15, 15, 2), name="image")
    y = layers.ZeroPadding2D(((1, 2), (0, 3)))(x)
    y = layers.Conv2D(6, (3, 5), strides=(2, 1), activation="relu")(y)
    y = layers.AveragePooling2D(3, strides=2, padding="same")(y)
    y = layers.MaxPooling2D(2, padding="same")(y)
    y = layers.DepthwiseConv2D((3, 2), strides=(2, 1), depth_multiplier=4, padding="same")(y)
    y = layers.DepthwiseConv2D(3, dilation_rate=(2, 1), padding="same", activation="relu6")(y)
    y = layers.SeparableConv2D(6, 3, depth_multiplier=2, padding="same")(y)
    return k.Model(x, y, name="padding_strides")


def _two_in_two_out(k):
    """Inputs the converter reorders (the .tflite takes 'b' first), a concatenation joining them, two heads."""
    layers = k.layers
    a = k.Input((10,), name="a")
    b = k.Input((4, 4, 2), name="b")
    joined = layers.Concatenate()([layers.Dense(8, activation="relu")(a), layers.Flatten()(layers.Conv2D(4, 3)(b))])
    return k.Model([a, b], [layers.Dense(3, name="o1")(joined),
                            layers.Dense(2, activation="sigmoid", name="o2")(joined)], name="two_io")


def _activations(k):
    """sigmoid, tanh, swish (LOGISTIC + MUL) and softmax on a 4-D tensor; a Dense over a sequence axis."""
    layers = k.layers
    x = k.Input((6, 6, 3), name="image")
    y = layers.Conv2D(4, 3, padding="same")(x)
    seq = layers.Dense(5, activation="relu")(layers.Reshape((36, 4))(y))
    return k.Model(x, [layers.Activation("sigmoid")(y), layers.Activation("tanh")(y),
                       layers.Activation("swish")(y), layers.Softmax()(y), layers.Softmax()(seq)],
                   name="activations")


def _normalized_input(k):
    """Rescaling + per-channel Normalization at the input (MUL/SUB by constants, broadcast over channels)."""
    layers = k.layers
    x = k.Input((8, 8, 3), name="image")
    y = layers.Rescaling(1 / 255.0)(x)
    y = layers.Normalization(mean=[0.4, 0.5, 0.6], variance=[0.04, 0.05, 0.06])(y)
    return k.Model(x, layers.Conv2D(4, 3)(y), name="normalized_input")


# name -> (builder, I/O type)
ARCHITECTURES = {
    "mlp": (_mlp, "int8"),
    "kws": (_keyword_spotting, "int8"),
    "kws_float": (_keyword_spotting, "float32"),
    "bn_relu6": (_bn_relu6, "int8"),
    "broadcast_residual": (_broadcast_residual, "int8"),
    "concat_axes": (_concat_axes, "int8"),
    "padding_strides": (_padding_and_strides, "int8"),
    "two_io": (_two_in_two_out, "int8"),
    "two_io_float": (_two_in_two_out, "float32"),
    "two_io_uint8": (_two_in_two_out, "uint8"),
    "activations": (_activations, "int8"),
    "normalized_input_float": (_normalized_input, "float32"),
}


def _unsupported_upsampling(k):
    x = k.Input((4, 4, 2))
    return k.Model(x, k.layers.Conv2D(2, 1)(k.layers.UpSampling2D()(x)), name="upsampling")


def _unsupported_resize(k):
    x = k.Input((4, 4, 2))
    return k.Model(x, k.layers.Conv2D(2, 1)(k.layers.Resizing(8, 8, interpolation="nearest")(x)), name="resize")


def _unsupported_global_max(k):
    x = k.Input((5, 5, 3))
    return k.Model(x, k.layers.Dense(2)(k.layers.GlobalMaxPooling2D()(x)), name="global_max")


# name -> (builder, the op the engine must name)
UNSUPPORTED = {
    "upsampling": (_unsupported_upsampling, "TILE"),
    "resize": (_unsupported_resize, "RESIZE_NEAREST_NEIGHBOR"),
    "global_max": (_unsupported_global_max, "REDUCE_MAX"),
}


def _convert(builder, io_type: str, tmp, seed: int = 11):
    """Through edgeq's own path: save as .keras, load it, calibrate on seeded synthetic data, quantize."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.tfenv import keras

    k = keras()
    k.utils.set_random_seed(seed)
    model = builder(k)
    path = tmp / f"{model.name}_{io_type}.keras"
    model.save(path)
    loaded = load_model(path)
    samples = synthetic_samples(loaded.inputs, 32, seed=seed)
    return quantize(loaded, QuantizeOptions("int8", io_type), samples, integer_only=True), samples


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict:
    """name -> (TFLiteModel, the SampleSet it was calibrated on)."""
    tmp = tmp_path_factory.mktemp("architectures")
    return {name: _convert(builder, io, tmp) for name, (builder, io) in ARCHITECTURES.items()}


@pytest.fixture(scope="module")
def engine_runs(converted, tmp_path_factory, gcc) -> dict:
    """name -> (TFLM outputs, engine outputs) for 3 random vectors and 2 calibration samples each."""
    names = list(converted)
    models = [converted[n][0] for n in names]
    inputs = [golden_inputs(m, 3) + golden_inputs(m, 2, converted[n][1]) for n, m in zip(names, models, strict=True)]
    builds = [generate(m, n) for n, m in zip(names, models, strict=True)]
    exe = build_executable(builds, tmp_path_factory.mktemp("architectures-build"), sanitize=True)
    got = run_cases(exe, builds, models, inputs)
    expected = []
    for model, vectors in zip(models, inputs, strict=True):
        runner = TFLMRunner(model)
        expected.append([runner.run(x) for x in vectors])
    return {n: (e, g) for n, e, g in zip(names, expected, got, strict=True)}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(ARCHITECTURES))
def test_architecture_is_bit_exact_with_tflm(engine_runs, name):
    expected, got = engine_runs[name]
    for v, (e_vec, g_vec) in enumerate(zip(expected, got, strict=True)):
        assert len(e_vec) == len(g_vec)
        for o, (e, g) in enumerate(zip(e_vec, g_vec, strict=True)):
            assert e.dtype == g.dtype and e.shape == g.shape, (name, v, o)
            assert np.array_equal(e, g), f"{name} vector {v} output {o}: {np.flatnonzero(e != g)[:10]}"


@pytest.mark.slow
def test_the_converted_models_use_the_ops_they_are_meant_to_cover(converted):
    """Guards the test's own premise: a converter change that drops an op would quietly shrink coverage."""
    ops = {name: set(model.op_counts()) for name, (model, _) in converted.items()}
    assert {"CONV_2D", "PAD", "MEAN", "MAX_POOL_2D", "AVERAGE_POOL_2D", "SOFTMAX"} <= ops["kws"]
    assert {"QUANTIZE", "DEQUANTIZE"} <= ops["kws_float"]
    assert {"ADD", "SUB", "MUL", "MEAN"} <= ops["broadcast_residual"]
    assert {"PAD", "DEPTHWISE_CONV_2D", "AVERAGE_POOL_2D", "MAX_POOL_2D"} <= ops["padding_strides"]
    assert {"LOGISTIC", "TANH", "MUL", "SOFTMAX", "FULLY_CONNECTED"} <= ops["activations"]
    assert ops["concat_axes"] >= {"CONCATENATION"}
    two_io = converted["two_io"][0].main
    # The premise of the I/O-order test: the .tflite takes the Keras model's second input first.
    assert [tuple(t.shape) for t in two_io.input_tensors()] == [(1, 4, 4, 2), (1, 10)]


@pytest.mark.slow
def test_golden_inputs_follow_the_tflite_input_order(converted):
    """Calibration samples come in Keras input order; the .tflite orders its inputs b, a. The golden vector
    (what emit and `convert` embed) must give each .tflite input its own sample (it used to make TFLM fail
    with 'Dimension mismatch' and stop `edgeq convert` for this model on every runtime)."""
    model, samples = converted["two_io_float"]
    b_tensor, a_tensor = model.main.input_tensors()
    vectors = golden_vectors(model, 2, samples)
    for i, vector in enumerate(vectors):
        b, a = vector.inputs
        assert np.array_equal(b, quantize_input(samples.arrays[1][i:i + 1], b_tensor))
        assert np.array_equal(a, quantize_input(samples.arrays[0][i:i + 1], a_tensor))
        assert [y.shape for y in vector.outputs] == [tuple(t.shape) for t in model.main.output_tensors()]


@pytest.mark.slow
def test_golden_inputs_refuse_samples_of_the_wrong_shape(converted):
    from edgeq.errors import CalibrationError

    model, _ = converted["two_io"]
    wrong = synthetic_samples([_spec("a", (10,)), _spec("b", (4, 4, 3))], 2)
    with pytest.raises(CalibrationError, match=r"no sample array of shape \(4, 4, 2\)"):
        golden_inputs(model, 1, wrong)


@pytest.mark.slow
def test_tflm_refusing_an_input_says_why(converted):
    """TFLM refuses a wrongly shaped input before logging anything; the error used to say 'no reason given'."""
    from edgeq.errors import EdgeqError

    model, _ = converted["two_io"]
    swapped = [np.zeros((1, 10), np.int8), np.zeros((1, 4, 4, 2), np.int8)]
    with pytest.raises(EdgeqError, match="TFLM failed to invoke the model: .*Dimension mismatch"):
        TFLMRunner(model).run(swapped)


def _spec(name: str, shape: tuple[int, ...]):
    from edgeq.tflite.signature import TensorSpec

    return TensorSpec(name, shape, "float32")


@pytest.mark.slow
@pytest.mark.parametrize("name", list(UNSUPPORTED))
def test_layers_outside_the_op_set_name_the_op_and_the_tflm_runtime(name, tmp_path):
    builder, opcode = UNSUPPORTED[name]
    model, _ = _convert(builder, "int8", tmp_path)
    assert opcode in model.op_counts()
    with pytest.raises(UnsupportedOpError) as info:
        generate(model, name)
    message = str(info.value)
    assert f"does not support {opcode} (op " in message
    assert "--runtime tflm" in message and "\n" not in message


@pytest.mark.qemu
@pytest.mark.slow
def test_two_input_float_model_verifies_on_the_emulated_cortex_m4(converted, tmp_path, monkeypatch):
    """Two reordered float32 inputs, two float32 outputs: the firmware (QUANTIZE/DEQUANTIZE at the edges)
    gives exactly the host TFLM's floats on the emulated board."""
    from edgeq.emulate import find_toolchain, verify

    find_toolchain()  # without the Arm toolchain and QEMU: ToolMissingError naming the packages, not a skip
    monkeypatch.setenv("EDGEQ_CACHE_DIR", str(tmp_path / "cache"))
    model, samples = converted["two_io_float"]
    out = tmp_path / "out"
    out.mkdir()
    (out / "model.tflite").write_bytes(model.data)
    write_engine_project(model, "two_io", golden_vectors(model, 2, samples), out)
    report = verify(out, samples=4, target="cortex-m4")
    assert report.passed, report.summary()
    assert report.outputs_equal is True and report.max_abs_diff == 0
    assert report.values_compared == 4 * (3 + 2)
