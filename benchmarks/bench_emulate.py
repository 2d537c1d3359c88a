"""Emulated on-target figures of the compiled-C engine: flash, RAM and instructions per inference on a
Cortex-M4 (QEMU mps2-an386), for the example, a ResNet-style and a depthwise-separable model.

Run: .venv/bin/python benchmarks/bench_emulate.py [--samples N] [--target cortex-m4]

Baselines measured in the same script: the MACs of one inference (instructions per MAC), the model's
constant bytes (flash of the model objects / weight bytes) and the host TFLM interpreter's smallest arena
(RAM of the model objects / TFLM arena; the host figure has 64-bit pointers, so it overstates a bit).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "models" / "tflm-examples"


def _resnet(keras):
    """A ResNet-8-style CIFAR net (MLPerf Tiny image classification, narrowed): 3 residual stages."""
    layers = keras.layers
    inputs = keras.Input((32, 32, 3), batch_size=1)
    x = layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = layers.Conv2D(filters, 3, strides=stride, padding="same", activation="relu")(x)
        y = layers.Conv2D(filters, 3, padding="same")(y)
        shortcut = x if stride == 1 else layers.Conv2D(filters, 1, strides=stride)(x)
        x = layers.Activation("relu")(layers.Add()([y, shortcut]))
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x), name="resnet8")


def _dscnn(keras):
    """A DS-CNN keyword-spotting net (MLPerf Tiny KWS shape): 49x10 MFCC in, 4 depthwise-separable blocks."""
    layers = keras.layers
    inputs = keras.Input((49, 10, 1), batch_size=1)
    x = layers.Conv2D(64, (10, 4), strides=2, padding="same", activation="relu")(inputs)
    for _ in range(4):
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu")(x)
        x = layers.Conv2D(64, 1, activation="relu")(x)
    x = layers.AveragePooling2D(pool_size=(25, 5))(x)
    x = layers.Flatten()(x)
    return keras.Model(inputs, layers.Dense(12, activation="softmax")(x), name="dscnn")


def _convert_keras(model, work: Path, seed: int):
    """Random-weight Keras model -> int8 TFLiteModel, calibrated on seeded random inputs."""
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples

    path = work / f"{model.name}.keras"
    model.save(path)
    loaded = load_model(path)
    rng = np.random.default_rng(seed)
    np.savez(work / f"{model.name}_calib.npz", x=rng.uniform(0, 1, (32, *model.input_shape[1:])).astype(np.float32))
    samples = load_samples(work / f"{model.name}_calib.npz", loaded.inputs)
    return quantize(loaded, QuantizeOptions("int8", "int8"), samples, integer_only=True)


def models(work: Path) -> dict[str, object]:
    from edgeq.load.loader import load_model
    from edgeq.quantize.converter import QuantizeOptions, quantize
    from edgeq.samples import load_samples
    from edgeq.tfenv import keras
    from edgeq.tflite import read_model

    k = keras()
    k.utils.set_random_seed(20261128)
    digits = load_model(ROOT / "examples" / "digits.keras")
    calib = load_samples(ROOT / "examples" / "digits_calib.npz", digits.inputs)
    found = {
        "digits (example)": quantize(digits, QuantizeOptions("int8", "int8"), calib, integer_only=True),
        "resnet8 (residual)": _convert_keras(_resnet(k), work, 1),
        "ds-cnn (depthwise-separable)": _convert_keras(_dscnn(k), work, 2),
    }
    if (SHARED / "person_detect.tflite").exists():
        found["person_detect (MobileNetV1, TFLM's)"] = read_model(SHARED / "person_detect.tflite")
    return found


def measure(name: str, model, work: Path, samples: int, target: str) -> dict[str, object]:
    from edgeq.check.arena import measure_arena
    from edgeq.check.macs import total_macs
    from edgeq.emulate import verify
    from edgeq.engine import write_project
    from edgeq.tflite.golden import golden_vectors

    out = work / name.split()[0]
    out.mkdir()
    (out / "model.tflite").write_bytes(model.data)
    (out / "report.json").write_text(json.dumps({"target": {"name": target}}))
    build = write_project(model, "m", golden_vectors(model, 1), out)
    started = time.perf_counter()
    report = verify(out, samples=samples, timeout=600)
    seconds = time.perf_counter() - started
    if not report.passed:
        raise SystemExit(f"{name}: {report.summary()}")
    macs = total_macs(model)
    arena = measure_arena(model).host_bytes
    sizes = report.sizes
    return {"model": name, "macs": macs, "flash": sizes.flash_bytes, "model_flash": sizes.model_flash_bytes,
            "weights": build.weights_bytes, "ram": sizes.static_ram_bytes, "model_ram": sizes.model_ram_bytes,
            "stack": report.stack_used_bytes, "tflm_arena": arena,
            "instructions": report.instructions_per_inference,
            "per_mac": report.instructions_per_inference / macs if macs else float("nan"), "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--target", default="cortex-m4")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-emulate-") as tmp:
        work = Path(tmp)
        rows = [measure(name, model, work, args.samples, args.target) for name, model in models(work).items()]
    print(f"\ncompiled-C engine on {args.target} under QEMU, {args.samples} golden samples each, outputs equal to "
          "host TFLM in every row")
    header = (f"{'model':38} {'MACs':>11} {'flash B':>9} {'model B':>9} {'/weights':>8} {'static RAM':>10} "
              f"{'model RAM':>9} {'/TFLM arena':>11} {'stack':>6} {'instr/inf':>12} {'instr/MAC':>9} {'emu s':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['model']:38} {r['macs']:>11,} {r['flash']:>9,} {r['model_flash']:>9,} "
              f"{r['model_flash'] / max(r['weights'], 1):>8.2f} {r['ram']:>10,} {r['model_ram']:>9,} "
              f"{r['model_ram'] / max(r['tflm_arena'], 1):>11.2f} {r['stack']:>6,} {r['instructions']:>12,} "
              f"{r['per_mac']:>9.2f} {r['seconds']:>6.1f}")
    print("\nflash/RAM: the whole image (harness + newlib included) and the model's own objects; RAM excludes the "
          "harness's stack/heap reservation. emu s: build + QEMU run + host TFLM reference.")


if __name__ == "__main__":
    main()
