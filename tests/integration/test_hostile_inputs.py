"""Hostile and odd inputs a user can give, each through the CLI: the file is built here, the command is run, and
the exact one-line message and exit code are asserted (no traceback, no "internal error", nothing written).
Inputs that are accepted with a warning assert the exact warning line and what was actually read."""

from __future__ import annotations

import json
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
MODEL = str(EXAMPLES / "digits.keras")
CALIB = str(EXAMPLES / "digits_calib.npz")
VAL_SAMPLES = 40
INPUT_TYPES = ("edgeq converts models whose inputs are floating point (float32: images, audio, sensor values), not "
               "integer, bool or string inputs (e.g. token ids for an Embedding): move the lookup or cast out of the "
               "model and feed its float output")


# ------------------------------------------------------------------------------------------------- the files

def _bmp_gray(path: Path, pixels: np.ndarray) -> None:
    """An 8-bit palette (grayscale) BMP, as image editors save a grayscale image."""
    height, width = pixels.shape
    row = (width + 3) // 4 * 4
    palette = b"".join(bytes([i, i, i, 0]) for i in range(256))
    data = b"".join(bytes(pixels[r].tolist()) + b"\0" * (row - width) for r in range(height - 1, -1, -1))
    offset = 14 + 40 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + len(data), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, len(data), 2835, 2835, 256, 0)
    path.write_bytes(header + info + palette + data)


def _gif_gray(path: Path, pixels: np.ndarray) -> None:
    """A GIF with a gray palette; LZW with a clear code every 200 pixels keeps every code 9 bits wide."""
    height, width = pixels.shape
    out = b"GIF89a" + struct.pack("<HHBBB", width, height, 0xF7, 0, 0) + b"".join(bytes([i] * 3) for i in range(256))
    out += b"," + struct.pack("<HHHHB", 0, 0, width, height, 0) + bytes([8])
    values = pixels.flatten().tolist()
    codes = [code for start in range(0, len(values), 200) for code in (256, *values[start:start + 200])] + [257]
    bits = count = 0
    packed = bytearray()
    for code in codes:
        bits |= code << count
        count += 9
        while count >= 8:
            packed.append(bits & 255)
            bits >>= 8
            count -= 8
    if count:
        packed.append(bits & 255)
    for start in range(0, len(packed), 255):
        chunk = packed[start:start + 255]
        out += bytes([len(chunk)]) + bytes(chunk)
    path.write_bytes(out + b"\0;")


def _keras_models(root: Path) -> None:
    import keras

    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    keras.Model([a, b], keras.layers.Dense(2, activation="softmax")(keras.layers.Concatenate()([a, b]))).save(
        root / "two.keras")
    ids = keras.Input((5,), dtype="int32", name="ids")
    embedded = keras.layers.Flatten()(keras.layers.Embedding(10, 4)(ids))
    keras.Model(ids, keras.layers.Dense(2)(embedded)).save(root / "embedding.keras")
    flags = keras.Input((4,), dtype="bool", name="flags")
    keras.Model(flags, keras.layers.Dense(2)(keras.ops.cast(flags, "float32"))).save(root / "bool.keras")
    words = keras.Input((1,), dtype="string", name="words")
    vocabulary = keras.layers.StringLookup(vocabulary=["a", "b", "c"], output_mode="one_hot")(words)
    keras.Model(words, keras.layers.Dense(2)(keras.layers.Flatten()(vocabulary))).save(root / "string.keras")
    values = keras.Input((4,), name="values")
    keras.Model(values, keras.layers.Dense(3, name='my "odd" <layer> é')(values)).save(root / "names.keras")
    keras.Model(values, keras.layers.Dense(2, activation=lambda t: t * 0.5, name="halve")(values)).save(
        root / "lambda_activation.keras")

    @keras.saving.register_keras_serializable(package="hostile")
    class Doubler(keras.layers.Layer):
        def call(self, t):
            return t * 2

    keras.Model(values, keras.layers.Dense(2)(Doubler(name="doubler")(values))).save(root / "custom.keras")
    keras.saving.get_custom_objects().pop("hostile>Doubler")  # as in a fresh process: the class is not registered


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, digits_int8) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(20)
    val = np.load(EXAMPLES / "digits_val.npz")
    x, y = val["x"][:VAL_SAMPLES], val["y"][:VAL_SAMPLES]
    (root / "model.tflite").write_bytes(digits_int8.data)
    np.savez(root / "onehot5.npz", x=x, y=np.eye(5, dtype=np.float32)[y % 5])
    np.savez(root / "y_column.npz", x=x, y=y.reshape(-1, 1))
    np.savez(root / "y_ids.npz", x=x, y=y)
    np.savez(root / "y_onehot10.npz", x=x, y=np.eye(10, dtype=np.float32)[y])
    np.savez(root / "labels_key.npz", x=x, labels=y)
    np.savez(root / "y_short.npz", x=x, y=y[:-1])
    np.savez(root / "one.npz", x=x[:1], y=y[:1])
    np.save(root / "no_batch.npy", np.load(CALIB)["x"][0])
    calib = np.load(CALIB)["x"]
    np.savez(root / "x_and_name.npz", x=calib[:100], image=calib[100:])
    with zipfile.ZipFile(root / "pickle.npz", "w") as archive:
        archive.writestr("x.npy", pickle.dumps(x[:4]))
    np.save(root / "two.npy", rng.random((20, 4), np.float32))
    np.save(root / "ids.npy", rng.integers(0, 10, (20, 5)).astype(np.int32))
    np.save(root / "flags.npy", rng.random((20, 4)) > 0.5)
    np.save(root / "words.npy", np.array([["a"], ["b"], ["c"]]))
    np.save(root / "values.npy", rng.random((60, 4), np.float32))
    for kind, write in (("gif", _gif_gray), ("bmp", _bmp_gray)):
        (root / kind).mkdir()
        for k in range(3):
            write(root / kind / f"{k}.{kind}", np.arange(64, dtype=np.uint8).reshape(8, 8) * 3 + k)
    profiles = root / "profiles"
    profiles.mkdir()
    (profiles / "latin.toml").write_bytes("name = 'caf\xe9'\n".encode("latin-1"))
    (profiles / "loop-a.toml").write_text('inherit = "loop-b"\n')
    (profiles / "loop-b.toml").write_text('inherit = "loop-a"\n')
    (profiles / "my-board.toml").write_text('inherit = "cortex-m7"\n')
    (profiles / "tiny-m4.toml").write_text('inherit = "cortex-m4"\n\n[memory]\nflash_kb = 150\n')
    _keras_models(root)
    return root


# ------------------------------------------------------------------------------------------------- refusals

def _error(code: int, err: str) -> tuple[int, str]:
    lines = [line for line in err.splitlines() if line.strip()]
    assert "Traceback" not in err and "internal error" not in err, err
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], err
    return code, errors[0].removeprefix("error: ")


REFUSED = [
    # (id, command with {d} for the folder of files, exit code, the message with {d})
    ("one-hot of the wrong width", "validate {d}/model.tflite --val {d}/onehot5.npz", 1,
     "validation data onehot5.npz: labels 'y' have shape (40, 5), which fits neither class ids [N] nor one-hot for "
     "the 10 classes of output 'probs': give class ids [N] (0..9) or one-hot [N, 10]"),
    ("labels under another key", "validate {d}/model.tflite --val {d}/labels_key.npz", 1,
     "validation data {d}/labels_key.npz: key(s) 'labels' are not read by edgeq (it reads 'x' and optionally 'y' "
     "for labels): rename or remove them"),
    ("label count differs", "validate {d}/model.tflite --val {d}/y_short.npz", 1,
     "validation data {d}/y_short.npz: inputs/labels have different sample counts (input 'image' 40, labels 'y' 39)"),
    ("bgr on one channel", f"convert {MODEL} --calib {CALIB} --channel-order bgr -o {{d}}/out", 2,
     "--channel-order bgr reverses 3 channels, but the samples have 1 channel (last axis): drop --channel-order"),
    ("scale nan", f"convert {MODEL} --calib {CALIB} --scale nan -o {{d}}/out", 2,
     "preprocessing --scale must be a finite number, not nan"),
    ("scale inf", f"convert {MODEL} --calib {CALIB} --scale inf -o {{d}}/out", 2,
     "preprocessing --scale must be a finite number, not inf"),
    ("npy for two inputs", "convert {d}/two.keras --calib {d}/two.npy -o {d}/out", 1,
     "calibration data {d}/two.npy: a .npy file holds one array, the model has 2 inputs ('a', 'b'): use a .npz with "
     "one key per input name"),
    ("pickle member, calibration", f"convert {MODEL} --calib {{d}}/pickle.npz -o {{d}}/out", 1,
     "calibration data {d}/pickle.npz: member 'x' is not a .npy array (edgeq never unpickles data); save the arrays "
     "with numpy.savez"),
    ("pickle member, validation", "validate {d}/model.tflite --val {d}/pickle.npz", 1,
     "validation data {d}/pickle.npz: member 'x' is not a .npy array (edgeq never unpickles data); save the arrays "
     "with numpy.savez"),
    ("int32 Embedding input", "convert {d}/embedding.keras --calib {d}/ids.npy -o {d}/out", 1,
     f"embedding.keras: input 'ids' has dtype int32; {INPUT_TYPES}"),
    ("bool input", "convert {d}/bool.keras --calib {d}/flags.npy -o {d}/out", 1,
     f"bool.keras: input 'flags' has dtype bool; {INPUT_TYPES}"),
    ("string input", "convert {d}/string.keras --calib {d}/words.npy -o {d}/out", 1,
     f"string.keras: input 'words' has dtype string; {INPUT_TYPES}"),
    ("-o component over NAME_MAX", f"convert {MODEL} --calib {CALIB} -o {{d}}/{'a' * 300}/{'b' * 4500}", 1,
     f"the output folder: the name '{'a' * 24}…{'a' * 8}' is 300 bytes, over the file system's limit of 255 for one "
     "path component; choose a shorter name"),
    ("layer name TF refuses", "convert {d}/names.keras --calib {d}/values.npy -o {d}/out", 1,
     "TFLite conversion failed: layer name 'my \"odd\" <layer> é' is not a valid TensorFlow name (letters, digits "
     "and _ . / > - only): rename the layer (keras layer `name=`) and save the model again"),
    ("unregistered custom layer", "convert {d}/custom.keras --calib {d}/values.npy -o {d}/out", 1,
     "{d}/custom.keras: the model uses the custom class 'Doubler' (saved as 'hostile>Doubler'), which is not part of "
     "Keras: from the command line edgeq loads built-in layers only; rebuild the model from built-in layers, or "
     "import the module that registers the class (@keras.saving.register_keras_serializable) and call "
     "edgeq.convert() from Python"),
    ("lambda as an activation", "convert {d}/lambda_activation.keras --calib {d}/values.npy -o {d}/out", 1,
     "{d}/lambda_activation.keras: layer(s) 'halve' hold Python code (a Lambda layer or a lambda function, e.g. as "
     "an activation) that runs when the model loads; re-run with --unsafe-load only if you trust the file"),
    ("profile not UTF-8", "targets show latin", 1,
     "{d}/profiles/latin.toml: not UTF-8 text (byte 11); save the profile as UTF-8"),
    ("profile inheritance cycle", "targets show loop-a", 1,
     "target loop-a ({d}/profiles/loop-a.toml): inheritance cycle loop-a -> loop-b -> loop-a"),
    ("runtime c for android", f"convert {MODEL} --calib {CALIB} --target android-arm64 --runtime c -o {{d}}/out", 2,
     "--runtime c generates MCU firmware; android-arm64 is an android target"),
]


@pytest.mark.parametrize(("command", "code", "message"), [c[1:] for c in REFUSED], ids=[c[0] for c in REFUSED])
def test_hostile_input_is_one_exact_line_and_writes_nothing(hostile, run_cli, monkeypatch, command, code, message):
    monkeypatch.setenv("EDGEQ_TARGET_PATH", str(hostile / "profiles"))
    before = sorted(p.name for p in hostile.iterdir())
    exit_code, stdout, err = run_cli(command.format(d=hostile).split(" "))
    assert _error(exit_code, err) == (code, message.format(d=hostile))
    assert stdout == ""
    assert sorted(p.name for p in hostile.iterdir()) == before  # no OUT, no staging folder


def test_emit_of_a_float_model_counts_the_ops_it_lists(sine_float_path, tmp_path, run_cli):
    code, _, err = run_cli(["emit", str(sine_float_path), "-o", str(tmp_path / "out")])
    assert _error(code, err) == (2, "the model computes in floating point (3 float op(s): FULLY_CONNECTED×3); "
                                    "cortex-m4 is a microcontroller target: convert it to int8 first (`edgeq "
                                    "convert`), or emit for an Android target")


# --------------------------------------------------------------------------------------- accepted, with a word

def _warnings(err: str) -> list[str]:
    return [line.removeprefix("warning: ") for line in err.splitlines() if line.startswith("warning: ")]


def test_calibration_with_x_and_the_input_name_says_which_is_read(hostile, run_cli, tmp_path):
    out = tmp_path / "out"
    code, _, err = run_cli(["convert", MODEL, "--calib", str(hostile / "x_and_name.npz"), "-o", str(out), "--json"])
    assert code == 0, err
    assert _warnings(err)[0] == (f"calibration data {hostile}/x_and_name.npz: holds both 'x' and 'image'; edgeq reads "
                                 "'x' for input 'image' and ignores 'image'")
    report = json.loads((out / "report.json").read_text())
    assert report["calibration"]["samples"] == 100  # x holds 100 samples, 'image' the other 100


def test_calibration_without_a_batch_axis_warns_even_with_quiet(hostile, run_cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["convert", MODEL, "--calib", str(hostile / "no_batch.npy"), "-o", str(out), "-q"])
    assert code == 0, err
    assert _warnings(err)[:2] == [
        f"calibration data {hostile}/no_batch.npy: input 'image' has shape (8, 8, 1), one sample without a batch "
        "axis; read as 1 sample (save [N, 8, 8, 1] for N samples)",
        "only 1 calibration sample(s), fewer than the 50 edgeq considers a minimum: activation ranges from so few "
        "samples rarely cover real inputs; give a few hundred representative samples"]
    assert "•" not in err  # -q hid the progress, not the warnings
    assert json.loads((out / "report.json").read_text())["warnings"][0].startswith("calibration data")


def test_one_sample_validation_warns(hostile, run_cli):
    code, _, err = run_cli(["validate", str(hostile / "model.tflite"), "--val", str(hostile / "one.npz")])
    assert code == 0, err
    assert _warnings(err) == ["validation on only 1 sample(s), fewer than the 20 edgeq considers a minimum: one "
                              "sample moves accuracy and agreement by 100 points; give a few hundred held-out samples"]


def test_a_column_of_class_ids_is_read_as_the_ids(hostile, run_cli):
    """[N, 1] labels are class ids (a classifier has >= 2 classes, so it is never one-hot): the same report as
    the [N] ids of the same samples, and one-hot of the output's width too."""
    results = []
    for labels in ("y_column.npz", "y_ids.npz", "y_onehot10.npz"):
        code, stdout, err = run_cli(["validate", str(hostile / "model.tflite"), "--val", str(hostile / labels),
                                     "--json"])
        assert code == 0, err
        report = json.loads(stdout)
        results.append((report["outputs"], report["checks"], report["verdict"]))
    assert results[0] == results[1] == results[2]
    outputs, _, verdict = results[0]
    assert outputs[0]["labelled"] and verdict == "PASSED, but no threshold could be evaluated (give --reference)"
    assert 0.8 <= outputs[0]["metrics"]["tflm"]["top1_accuracy"] <= 1.0  # the labels are read as the right classes


@pytest.mark.parametrize("kind", ["gif", "bmp"])
def test_grayscale_gif_and_bmp_calibrate_a_one_channel_model(hostile, kind):
    from edgeq.samples import load_samples
    from edgeq.tflite.signature import TensorSpec

    samples = load_samples(hostile / kind, [TensorSpec("image", (8, 8, 1))])
    expected = np.stack([np.arange(64).reshape(8, 8, 1) * 3 + k for k in range(3)]).astype(np.float32)
    np.testing.assert_allclose(samples.arrays[0], expected, atol=1e-3)  # the pixels, not a conversion of them


def test_bad_profiles_fail_only_themselves_and_a_nameless_one_takes_its_file_name(hostile, run_cli, monkeypatch,
                                                                                  tmp_path):
    monkeypatch.setenv("EDGEQ_TARGET_PATH", str(hostile / "profiles"))
    code, stdout, err = run_cli(["targets", "show", "my-board", "--json"])
    assert code == 0, err
    assert json.loads(stdout)["name"] == "my-board" and json.loads(stdout)["cpu"]["core"] == "cortex-m7"
    code, stdout, err = run_cli(["targets"])
    assert code == 0, err
    assert sorted(_warnings(err)) == [
        f"{hostile}/profiles/latin.toml: not UTF-8 text (byte 11); save the profile as UTF-8 (left out)",
        f"target loop-a ({hostile}/profiles/loop-a.toml): inheritance cycle loop-a -> loop-b -> loop-a (left out)",
        f"target loop-b ({hostile}/profiles/loop-b.toml): inheritance cycle loop-b -> loop-a -> loop-b (left out)"]
    assert "my-board" in stdout and "latin" not in stdout
    # a conversion for a good profile beside the bad ones; the summary says it does not fit, and why (the weights
    # alone exceed its flash: --allow-oversize asks for the report instead of the refusal right after loading)
    code, stdout, err = run_cli(["convert", MODEL, "--calib", CALIB, "--target", "tiny-m4", "-o", str(tmp_path / "o"),
                                 "--allow-oversize"])
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert not report["target"]["ok"]
    exceeded = report["target"]["flash"]["exceeded_by_bytes"]
    assert _error(code, err) == (1, f"the model does not fit tiny-m4: flash_fits: flash exceeded by "
                                    f"{exceeded / 1024:.1f} KiB ({tmp_path}/o/report.json has the details)")
    row = next(line for line in stdout.splitlines() if "flash" in line)
    assert "DOES NOT FIT" in row and "fits" not in row
    arena = report["target"]["arena"]
    assert (f"arena {arena['recommended_bytes']:,} B recommended (host TFLM measured "
            f"{arena['measured_host_bytes']:,} B + kernel buffers + margin)") in row


# --------------------------------------------------------------------------------------------- the Python API

def test_report_lookups_are_edgeq_errors_and_a_passing_report_has_no_failure_message(hostile):
    from edgeq.errors import EdgeqError
    from edgeq.validate.results import MetricError
    from edgeq.validate.session import ValidationOptions, validate_model

    report = validate_model(hostile / "model.tflite", hostile / "y_column.npz", options=ValidationOptions())
    assert report.passed and report.failure_message() == ""
    for call, message in (
            (lambda: report.metric("tflm", "sqnr_db"), "no metric 'sqnr_db' for tflm output 'probs'; available: "
                                                       "samples, top1_accuracy"),
            (lambda: report.metric("float", "top1_accuracy"), "float did not run: no --reference model"),
            (lambda: report.metric("gpu", "top1_accuracy"), "no interpreter 'gpu'; interpreters: float, litert, tflm"),
            (lambda: report.metric("tflm", "top1_accuracy", "logits"), "no output named 'logits'; outputs: probs"),
            (lambda: report.metric("tflm", "top1_accuracy", 3), "no output 3; the model has 1 output(s)")):
        with pytest.raises(MetricError) as info:
            call()
        assert isinstance(info.value, EdgeqError) and isinstance(info.value, KeyError)
        assert str(info.value) == message


def test_engine_refusals_are_edgeq_errors():
    from edgeq.engine.planner import Block, plan_blocks
    from edgeq.engine.quant import activation_range
    from edgeq.errors import EmitError, UnsupportedOpError

    with pytest.raises(UnsupportedOpError, match=r"^fused activation TANH is outside what edgeq's compiled-C engine "
                                                 r"runs \(NONE, RELU, RELU6, RELU_N1_TO_1\): use --runtime tflm$"):
        activation_range("TANH", 0.1, 0)
    with pytest.raises(EmitError, match="block keys must be unique"):
        plan_blocks([Block("t", 16, 0, 1), Block("t", 16, 1, 2)])


def test_help_examples_use_the_current_option_names(run_cli):
    code, stdout, _ = run_cli(["--help"])
    assert code == 0 and "--val val.npz" in stdout and "--data" not in stdout
    code, stdout, _ = run_cli(["convert", "--help"])
    assert code == 0 and ".npy; or an image folder" in " ".join(stdout.split())


def test_junit_lists_every_check_and_marks_the_unevaluated_ones_skipped(hostile, run_cli, tmp_path):
    """README: a test case per check that applies; one that could not be evaluated (no --reference) is
    <skipped>, one that does not judge the output (regression gates on a classifier) is left out."""
    import xml.etree.ElementTree as ET

    junit = tmp_path / "v.xml"
    code, stdout, err = run_cli(["validate", str(hostile / "model.tflite"), "--val", str(hostile / "y_ids.npz"),
                                 "--json", "--junit", str(junit), "--min-accuracy", "0.5"])
    assert code == 0, err
    checks = json.loads(stdout)["checks"]
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == len(checks)
    skipped = [c for c in cases if c.find("skipped") is not None]
    assert len(skipped) == sum(c["status"] == "skipped" for c in checks) > 0
    assert {c.find("skipped").get("message") for c in skipped} == {"no float reference model (--reference)"}
    passed = [c for c in checks if c["status"] == "passed"]
    assert {c["metric"] for c in passed} == {"top1_accuracy"}  # the one gate without a reference
    names = [c.get("name") for c in cases]
    assert any(".top1_agreement" in n for n in names)  # skipped, not left out
    assert not any(".sqnr_db" in n for n in names)  # a regression-output gate on a classifier: left out


def test_android_summary_shows_small_ram_and_sub_millisecond_latency(run_cli, tmp_path):
    out = tmp_path / "out"
    code, stdout, err = run_cli(["convert", MODEL, "--calib", CALIB, "--target", "android-arm64", "-o", str(out)])
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())["target"]
    ram, ms = report["ram"]["used_bytes"], report["latency"]["ms"]
    assert 0 < ram < 0.1 * 1024 * 1024 and 0 < ms < 0.01  # the case the summary printed as 0.0 MiB and 0.00 ms
    row = next(line for line in stdout.splitlines() if "flash" in line)
    assert f"RAM {ram / 1024:,.1f} KiB of 4,096 MiB" in row and "RAM 0.0 " not in row
    shown = float(row.split("~")[1].split(" ms")[0])  # three significant digits of cycles / clock
    assert shown == pytest.approx(report["latency"]["cycles"] / (report["latency"]["clock_mhz"] * 1e3), rel=5e-3)


def test_an_output_path_over_path_max_is_one_short_line(run_cli, tmp_path):
    out = tmp_path.joinpath(*["c" * 250] * 20)  # every component fits NAME_MAX, the whole does not fit PATH_MAX
    code, _, err = run_cli(["convert", MODEL, "--calib", CALIB, "-o", str(out)])
    size = len(str(out).encode())
    assert _error(code, err) == (1, f"the output folder: the path is {size:,} bytes, over the limit of 4096; "
                                    "choose a shorter path")
    assert list(tmp_path.iterdir()) == []


def test_a_keras_layer_exception_keeps_its_reason():
    """Keras wraps what a layer raised as 'Exception encountered when calling X.call().' + the reason in bold +
    the arguments; the one line keeps the reason and where."""
    from edgeq.quantize.converter import _first_error_line

    wrapped = ("Exception encountered when calling Functional.call().\n\n\x1b[1mInput 0 of layer 'dense' is "
               "incompatible with the layer: expected axis -1 to have value 4\x1b[0m\n\nArguments received by "
               "Functional.call():\n  • inputs=tf.Tensor(shape=(1, 3), dtype=float32)")
    assert _first_error_line(wrapped) == ("Input 0 of layer 'dense' is incompatible with the layer: expected axis -1 "
                                          "to have value 4 (in Functional.call)")
