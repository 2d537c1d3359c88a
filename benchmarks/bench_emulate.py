"""Emulated on-target figures of the compiled-C engine: flash, RAM and instructions per inference on a
Cortex-M4 (QEMU mps2-an386), for the example, a ResNet-style and a depthwise-separable model.

Run: .venv/bin/python benchmarks/bench_emulate.py [--samples N] [--target cortex-m4] [--tflm-tree DIR]

Baselines measured in the same script: the MACs of one inference (instructions per MAC), the model's
constant bytes (flash of the model objects / weight bytes) and the host TFLM interpreter's smallest arena
(RAM of the model objects / TFLM arena; the host figure has 64-bit pointers, so it overstates a bit).

With a TFLM tree (--tflm-tree or $EDGEQ_TFLM_TREE, made by tflite-micro's create_tflm_tree.py), every model
also runs as TFLM with CMSIS-NN kernels and edgeq's resolver on the same emulated core, and a second table
gives the compiled-C engine's figures as ratios to TFLM's: instructions per inference, arena (the engine's
planned arena / TFLM's arena_used_bytes() on the core) and flash (whole images: harness, runtime, model).
The first TFLM run for a tree and core compiles TFLM (about 25 minutes on 2 cores); later runs reuse it.
"""

from __future__ import annotations

import argparse
import json
import os
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
            "stack": report.stack_used_bytes, "tflm_arena": arena, "engine_arena": build.arena_bytes,
            "instructions": report.instructions_per_inference,
            "per_mac": report.instructions_per_inference / macs if macs else float("nan"), "seconds": seconds}


def measure_tflm(name: str, model, work: Path, samples: int, target: str, tree: str) -> dict[str, object]:
    """The same model as a TFLM project (edgeq's resolver, CMSIS-NN kernels) on the same emulated core."""
    from edgeq.check.targets import get_target
    from edgeq.emit import write_project
    from edgeq.emulate import verify

    out = work / f"tflm-{name.split()[0]}"
    (out / "project").mkdir(parents=True)
    (out / "model.tflite").write_bytes(model.data)
    (out / "report.json").write_text(json.dumps({"target": {"name": target}}))
    write_project(model, out / "project", target=get_target(target), name="m")
    started = time.perf_counter()
    report = verify(out, samples=samples, timeout=600, tflm_tree=tree,
                    on_build=lambda files, where: print(f"compiling TFLM ({files} files) into {where} ...",
                                                        flush=True))
    if not report.passed:
        raise SystemExit(f"{name} (TFLM): {report.summary()}")
    return {"flash": report.sizes.flash_bytes, "arena": report.arena_used_bytes,
            "instructions": report.instructions_per_inference, "seconds": time.perf_counter() - started,
            "kernels": report.kernels}


def print_comparison(rows: list[dict[str, object]], tflm: list[dict[str, object]], target: str) -> None:
    print(f"\ncompiled-C engine vs TFLM ({tflm[0]['kernels']} kernels) on {target} under QEMU, the same samples; "
          "ratios are compiled C / TFLM")
    header = (f"{'model':38} {'TFLM instr/inf':>14} {'C instr/inf':>12} {'ratio':>6} {'TFLM arena':>10} "
              f"{'C arena':>8} {'ratio':>6} {'TFLM flash':>10} {'C flash':>8} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for r, t in zip(rows, tflm, strict=True):
        print(f"{r['model']:38} {t['instructions']:>14,} {r['instructions']:>12,} "
              f"{r['instructions'] / t['instructions']:>6.2f} {t['arena']:>10,} {r['engine_arena']:>8,} "
              f"{r['engine_arena'] / t['arena']:>6.2f} {t['flash']:>10,} {r['flash']:>8,} "
              f"{r['flash'] / t['flash']:>6.2f}")
    print("\nTFLM arena: arena_used_bytes() on the core (CMSIS-NN scratch included); C arena: the engine's planned "
          "arena. flash: the whole firmware image of each (same harness, start-up code and newlib).")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=4)
    parser.add_argument("--target", default="cortex-m4")
    parser.add_argument("--tflm-tree", default=os.environ.get("EDGEQ_TFLM_TREE", ""),
                        help="TFLM tree (create_tflm_tree.py) to compare with TFLM + CMSIS-NN [env: EDGEQ_TFLM_TREE]")
    args = parser.parse_args()
    tflm = []
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-emulate-") as tmp:
        work = Path(tmp)
        found = models(work)
        rows = [measure(name, model, work, args.samples, args.target) for name, model in found.items()]
        if args.tflm_tree:
            tflm = [measure_tflm(name, model, work, args.samples, args.target, args.tflm_tree)
                    for name, model in found.items()]
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
    if tflm:
        print_comparison(rows, tflm, args.target)


if __name__ == "__main__":
    main()
