"""The compiled-C engine on an emulated Cortex-M4 (QEMU mps2-an386) for the MLPerf Tiny architectures, against
TFLM + CMSIS-NN on the same emulated machine.

Run: .venv/bin/python benchmarks/bench_emulate.py [--samples 2] [--models resnet8,ds_cnn,...] [--cache DIR]
     [--paths dsp,portable] [--tflm-tree DIR]

Models (benchmarks/mlperf_tiny.py): ResNet-8, DS-CNN, MobileNetV1-0.25 and the FC autoencoder with the MLPerf
Tiny shapes, random weights, int8 through edgeq's quantizer. Per model and kernel path (`dsp`: the DSP-extension
kernels a Cortex-M4 profile selects; `portable`: the plain C99 kernels of M0+/M3 and the host) it prints:
  * instructions per MAC (QEMU's count of one inference / the model's MACs), total and per op type, and the
    ratio to TFLM + CMSIS-NN's instructions per MAC on the same machine;
  * RAM: the engine's arena plus the caller's input and output buffers, against TFLM's arena for the model;
  * flash beyond the weights: the model's objects in the linked image (kernel code, the invoke function,
    parameter structs, per-channel tables, weights as re-laid out) minus the bytes of the model's constant
    tensors (filters and biases as the .tflite stores them).
Every row's outputs are equal to the host TFLM interpreter's (the script stops otherwise).

Baseline: TFLM + CMSIS-NN measured on the MLPerf Tiny reference int8 models on the same QEMU machine (figures
of issue 14). Goal: < 1x on instructions/MAC, <= 0.75x RAM, <= 20 KB flash beyond the weights.

With a TFLM tree (--tflm-tree or $EDGEQ_TFLM_TREE, made by tflite-micro's create_tflm_tree.py), every model
also runs as TFLM with CMSIS-NN kernels and edgeq's resolver on the same emulated core, and a second table
gives the baseline measured side by side on these very models: TFLM's instructions per MAC and its
arena_used_bytes() on the core. The first TFLM run for a tree and core compiles TFLM (about 25 minutes on
2 cores); later runs reuse it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

import mlperf_tiny  # noqa: E402

# TFLM + CMSIS-NN on mps2-an386 for the MLPerf Tiny reference models: (instructions per MAC, arena bytes).
TFLM_CMSIS_NN = {
    "resnet8": (2.39, 54_996),
    "ds_cnn": (2.90, 22_820),
    "mobilenet_v1_025": (3.22, 100_708),
    "fc_autoencoder": (2.21, 2_580),
}
FLASH_GOAL = 20 * 1024
RAM_GOAL = 0.75


def measure(name: str, model, work: Path, samples: int, target: str, dsp: bool) -> dict[str, object]:
    from edgeq.emulate import verify
    from edgeq.engine import write_engine_project
    from edgeq.tflite.golden import golden_vectors

    out = work / f"{name}-{'dsp' if dsp else 'portable'}"
    out.mkdir()
    (out / "model.tflite").write_bytes(model.data)
    build = write_engine_project(model, "m", golden_vectors(model, 1), out, dsp=dsp)
    report = verify(out, samples=samples, timeout=900, target=target)
    if not report.passed:
        raise SystemExit(f"{name}: {report.summary()}")
    io = sum(build.input_bytes) + sum(build.output_bytes)
    weights = model_weight_bytes(model)
    return {"model": name, "path": "dsp" if dsp else "portable", "macs": report.macs,
            "per_mac": report.instructions_per_mac, "types": report.per_op_type(),
            "ram": build.arena_bytes + io, "arena": build.arena_bytes, "io": io,
            "beyond_weights": report.sizes.model_flash_bytes - weights, "weights": weights,
            "stack": report.stack_used_bytes}


def measure_tflm(name: str, model, work: Path, samples: int, target: str, tree: str) -> dict[str, object]:
    """The same model as a TFLM project (edgeq's resolver, CMSIS-NN kernels) on the same emulated core."""
    from edgeq.check.targets import get_target
    from edgeq.emit import write_project
    from edgeq.emulate import verify

    out = work / f"tflm-{name}"
    (out / "project").mkdir(parents=True)
    (out / "model.tflite").write_bytes(model.data)
    write_project(model, out / "project", target=get_target(target), name="m")
    report = verify(out, samples=samples, timeout=900, target=target, tflm_tree=tree,
                    on_build=lambda files, where: print(f"compiling TFLM ({files} files) into {where} ...",
                                                        file=sys.stderr, flush=True))
    if not report.passed:
        raise SystemExit(f"{name} (TFLM): {report.summary()}")
    return {"per_mac": report.instructions_per_mac, "arena": report.arena_used_bytes, "kernels": report.kernels}


def model_weight_bytes(model) -> int:
    """Bytes of the model's constant tensors that operators read (filters, biases, shapes): what any runtime
    must keep in flash, whatever layout it gives them."""
    sg = model.main
    used = {i for op in sg.operators for i in op.inputs if i >= 0}
    return sum(int(sg.tensors[i].nbytes) for i in used if sg.tensors[i].is_constant)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--target", default="cortex-m4")
    parser.add_argument("--models", default=",".join(mlperf_tiny.BUILDERS))
    parser.add_argument("--paths", default="dsp,portable", help="kernel paths to measure: dsp, portable")
    parser.add_argument("--cache", type=Path, help="keep converted models here (reused on the next run)")
    parser.add_argument("--tflm-tree", default=os.environ.get("EDGEQ_TFLM_TREE", ""),
                        help="TFLM tree (create_tflm_tree.py) to measure TFLM + CMSIS-NN side by side "
                             "[env: EDGEQ_TFLM_TREE]")
    args = parser.parse_args()
    names = [n for n in args.models.split(",") if n]
    paths = [p == "dsp" for p in args.paths.split(",") if p]
    rows = []
    baseline = dict(TFLM_CMSIS_NN)
    source = "the MLPerf Tiny reference models (issue 14)"
    with tempfile.TemporaryDirectory(prefix="edgeq-bench-emulate-") as tmp:
        work = Path(tmp)
        models = mlperf_tiny.convert_all(work, names, cache=args.cache)
        for name, model in models.items():
            for dsp in paths:
                rows.append(measure(name, model, work, args.samples, args.target, dsp))
                r = rows[-1]
                print(f"measured {name} ({r['path']}): {r['per_mac']:.2f} instr/MAC", file=sys.stderr)
            if args.tflm_tree:
                t = measure_tflm(name, model, work, args.samples, args.target, args.tflm_tree)
                baseline[name] = (t["per_mac"], t["arena"])
                source = f"these models on the same core ({t['kernels']} kernels, arena_used_bytes())"
    print(f"\ncompiled-C engine on {args.target} (QEMU), outputs equal to host TFLM in every row; baseline TFLM + "
          f"CMSIS-NN on {source}")
    header = (f"{'model':18} {'path':9} {'MACs':>10} {'instr/MAC':>9} {'/CMSIS':>7} {'RAM+I/O B':>10} {'/TFLM':>6} "
              f"{'beyond weights B':>16} {'stack':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        base_mac, base_arena = baseline.get(r["model"], (float("nan"), 0))
        print(f"{r['model']:18} {r['path']:9} {r['macs']:>10,} {r['per_mac']:>9.2f} {r['per_mac'] / base_mac:>6.2f}x "
              f"{r['ram']:>10,} {r['ram'] / max(base_arena, 1):>5.2f}x {r['beyond_weights']:>16,} {r['stack']:>6,}")
    print(f"\ngoals: instr/MAC < 1.00x CMSIS-NN, RAM+I/O <= {RAM_GOAL:.2f}x TFLM arena, "
          f"beyond weights <= {FLASH_GOAL:,} B")
    print("\ninstructions per MAC by op type (instructions, share of the inference):")
    for r in rows:
        total = sum(t["instructions"] for t in r["types"]) or 1
        parts = ", ".join(f"{t['op']} {t['instructions_per_mac']:.2f}/MAC" if t["instructions_per_mac"] else
                          f"{t['op']} {t['instructions']:,} ({100 * t['instructions'] / total:.0f}%)"
                          for t in r["types"])
        print(f"  {r['model']} ({r['path']}): {parts}")


if __name__ == "__main__":
    main()
