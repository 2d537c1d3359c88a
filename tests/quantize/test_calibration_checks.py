"""Calibration data that cannot be right: per-input statistics, every warning, fractions in --scale/--mean/--std."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from edgeq.quantize.calibration import MIN_SAMPLES, calibration_warnings, input_warnings, output_warnings
from edgeq.samples import Preprocess, SampleSet, load_samples

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _set(*arrays: np.ndarray, names: tuple[str, ...] = ("x",)) -> SampleSet:
    return SampleSet(source="test", sha256="", arrays=[a.astype(np.float32) for a in arrays], names=names)


@pytest.fixture(scope="session")
def one_class_model(tmp_path_factory):
    """Logits that vary with the input but always rank class 0 first (a bias of 5 over the others)."""
    from edgeq.load.loader import load_model
    from edgeq.tfenv import keras

    k = keras()
    inputs = k.Input((4,), name="x")
    dense = k.layers.Dense(3, name="logits")
    model = k.Model(inputs, dense(inputs))
    dense.set_weights([np.full((4, 3), 0.1, np.float32), np.array([5.0, 0.0, 0.0], np.float32)])
    path = tmp_path_factory.mktemp("oneclass") / "oneclass.keras"
    model.save(path)
    return load_model(path)


def test_input_statistics_are_per_input_after_preprocessing(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "two.npz", a=rng.uniform(0, 255, (60, 4)), b=rng.normal(3, 1, (60, 2)))
    from edgeq.tflite.signature import TensorSpec

    specs = [TensorSpec("a", (4,), "float32"), TensorSpec("b", (2,), "float32")]
    samples = load_samples(tmp_path / "two.npz", specs, preprocess=Preprocess(scale=1 / 255))
    stats = {s.name: s for s in samples.stats()}
    assert 0 <= stats["a"].minimum < 0.05 and 0.95 < stats["a"].maximum <= 1.0
    assert stats["b"].mean == pytest.approx(3 / 255, abs=0.003)
    entry = samples.to_dict()["inputs"]
    assert [e["name"] for e in entry] == ["a", "b"] and set(entry[0]) == {"name", "min", "max", "mean", "std"}


@pytest.mark.parametrize(
    ("arrays", "expected"),
    [
        (lambda rng: rng.random((8, 4)), f"only 8 calibration sample(s), fewer than the {MIN_SAMPLES}"),
        (lambda rng: np.zeros((60, 4)), "calibration input 'x' is constant (0 everywhere)"),
        (lambda rng: 1e-9 * rng.random((60, 4)), "calibration input 'x' is nearly constant"),
        (lambda rng: 200 + 1e-3 * rng.random((60, 4)), "calibration input 'x' is nearly constant"),
        (lambda rng: np.tile(rng.random((1, 4)), (60, 1)), "all 60 calibration samples of input 'x' are identical"),
    ],
)
def test_input_warnings(arrays, expected):
    found = input_warnings(_set(arrays(np.random.default_rng(1))))
    assert len(found) == 1 and found[0].startswith(expected)


def test_good_inputs_get_no_warning():
    assert input_warnings(_set(np.random.default_rng(2).random((60, 4)))) == []


def test_synthetic_data_is_not_also_warned_for_its_count():
    data = _set(np.random.default_rng(3).standard_normal((8, 4)))
    data.synthetic = True
    assert input_warnings(data) == []


@pytest.mark.parametrize(
    ("scale", "expected"),
    [
        (255.0, "the float model's output 'probs' is saturated on 100% of 200 calibration samples"),
        (0.0, "the float model's output 'probs' is constant over 200 calibration samples"),
        (1e-9, "the float model's output 'probs' is nearly constant over 200 calibration samples"),
    ],
)
def test_float_outputs_that_cannot_be_right(digits_source, scale, expected):
    samples = load_samples(EXAMPLES / "digits_calib.npz", digits_source.inputs, preprocess=Preprocess(scale=scale))
    found = output_warnings(digits_source, samples)
    assert len(found) == 1 and found[0].startswith(expected) and "--scale" in found[0]


def test_one_class_for_every_sample(one_class_model):
    found = output_warnings(one_class_model, _set(np.random.default_rng(4).random((60, 4))))
    assert len(found) == 1 and found[0].startswith("the float model's output 'logits' picks class 0 for every "
                                                   "one of 60 calibration samples")


def test_well_preprocessed_calibration_gets_no_warning(digits_source, digits_calib):
    assert calibration_warnings(digits_source, digits_calib) == []


@pytest.fixture(scope="session")
def digit_images(tmp_path_factory) -> Path:
    """The example's calibration digits as 8-bit PNG files (0-255), as a user's image folder would hold them."""
    from edgeq.tfenv import tensorflow

    tf = tensorflow()
    folder = tmp_path_factory.mktemp("digit_images")
    x = np.load(EXAMPLES / "digits_calib.npz")["x"][:60]
    for i, image in enumerate(x):
        pixels = np.round(np.asarray(image) * 255).astype(np.uint8).reshape(8, 8, 1)
        (folder / f"{i:03d}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    return folder


def test_image_folder_without_scale_warns_and_with_a_fraction_does_not(digit_images, tmp_path, run_cli):
    model = str(EXAMPLES / "digits.keras")
    code, _, err = run_cli(["convert", model, "--calib", str(digit_images), "-o", str(tmp_path / "raw"), "--json"])
    assert code == 0, err
    assert "warning: the float model's output 'probs' is saturated" in err
    report = json.loads((tmp_path / "raw" / "report.json").read_text())
    assert report["calibration"]["inputs"][0]["max"] == 255.0
    assert any("saturated" in w for w in report["warnings"])

    code, out, err = run_cli(["convert", model, "--calib", str(digit_images), "--scale", "1/255",
                              "-o", str(tmp_path / "scaled")])
    assert code == 0, err
    assert "saturated" not in err
    report = json.loads((tmp_path / "scaled" / "report.json").read_text())
    assert report["calibration"]["preprocess"]["scale"] == pytest.approx(1 / 255)
    assert report["calibration"]["inputs"][0]["max"] == pytest.approx(1.0)
    assert "calib input" in out and "image: min 0, max 1, mean" in " ".join(out.split())


@pytest.mark.parametrize(("option", "value"), [("--scale", "1/0"), ("--scale", "one/255"), ("--mean", "1/2,x")])
def test_bad_fractions_are_usage_errors(run_cli, tmp_path, option, value):
    code, _, err = run_cli(["convert", str(EXAMPLES / "digits.keras"), "--calib", str(EXAMPLES / "digits_calib.npz"),
                            option, value, "-o", str(tmp_path / "out")])
    assert code == 2 and err.startswith("error: ") and option in err
    assert not (tmp_path / "out").exists()


def test_fractions_in_mean_and_std():
    from edgeq.cli.options import options_from
    from edgeq.samples import Preprocess

    pre = options_from(Preprocess, {"scale": 1.0, "mean": "123.675/255,116.28/255,103.53/255", "std": "1/4",
                                    "channel_order": "rgb"})
    assert pre.mean == pytest.approx((0.485, 0.456, 0.406)) and pre.std == (0.25,)
