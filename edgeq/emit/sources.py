"""What the generated sources say about a model: I/O tensors, the op resolver's ops, golden vectors, arena.

`model_context` gathers it into the variables every template sees; the shared sources themselves
(model_data.h/.cc, model_ops.h, model_io.h, model_test_data.h) are jinja templates in
firmware_templates/_sources/, one per file.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeq.check.arena import TargetArena
from edgeq.check.optable import OpInfo, load_op_table, table_source
from edgeq.check.targets import TargetProfile
from edgeq.errors import EmitError, UnsupportedOpError
from edgeq.render import C_TYPES, banner, bytes_initializer, c_float_literal, c_values, comment_text, macro_prefix
from edgeq.tflite import Subgraph, Tensor, TFLiteModel
from edgeq.tflite.golden import GoldenVector
from edgeq.tflite.signature import io_names
from edgeq.version import __version__

_QUANTIZED_DTYPES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767)}



@dataclass(frozen=True)
class IoTensor:
    """One model input or output as the generated code describes it."""

    role: str          # "input" | "output"
    index: int         # position among the model's inputs/outputs
    macro: str         # macro prefix, e.g. MODEL_INPUT0
    label: str         # the input's/output's name (the Keras name where the signature has it), safe for comments
    shape: tuple[int, ...]
    dtype: str
    ctype: str
    elements: int
    nbytes: int
    quantized: bool
    scale: str         # C/Kotlin float literal ("" when not quantized)
    zero_point: int
    qmin: int
    qmax: int
    named: str = ""  # role and name for named constants, e.g. INPUT_IMAGE (Kotlin's INPUT_IMAGE_INDEX)
    named_macro: str = ""  # the index macros again by name, e.g. MODEL_INPUT_IMAGE (MODEL_INPUT_IMAGE_SCALE)

    @property
    def shape_text(self) -> str:
        return "[" + ", ".join(str(d) for d in self.shape) + "]"

    @property
    def macro_suffixes(self) -> tuple[str, ...]:
        """The index macros' suffixes that named macros repeat."""
        quantized = ("SCALE", "ZERO_POINT", "MIN", "MAX") if self.quantized else ()
        return ("DIMS", "SHAPE", "ELEMENTS", "BYTES", "QUANTIZED", *quantized)


@dataclass(frozen=True)
class OpEntry:
    """One op the resolver registers: TFLite name, resolver method, int8-only registration (or "")."""

    name: str
    method: str
    int8_registration: str
    header: str


@dataclass(frozen=True)
class Arena:
    """The arena size compiled into firmware and where the number comes from (for a comment)."""

    size: int
    description: str
    used_on_target: int | None = None  # what TFLM used on the target's core, when edgeq measured it


def io_tensor(tensor: Tensor, role: str, index: int, prefix: str, name: str | None = None,
              named: str = "") -> IoTensor:
    """Describe one I/O tensor; dtypes the generated C cannot hold are an EmitError."""
    if tensor.dtype not in C_TYPES:
        raise EmitError(f"{role} {index} ({tensor.name!r}) has dtype {tensor.dtype}, which edgeq's generated code "
                        f"does not support; supported: {', '.join(C_TYPES)}")
    shape = tuple(max(int(d), 1) for d in tensor.shape)  # a dynamic batch (-1) runs as batch 1
    elements = int(np.prod(shape, dtype=np.int64)) if shape else 1
    quant = tensor.quantization
    quantized = quant is not None and tensor.dtype in _QUANTIZED_DTYPES
    if quantized and quant.per_channel:
        raise EmitError(f"{role} {index} ({tensor.name!r}) is quantized per channel; model I/O must be per-tensor")
    qmin, qmax = _QUANTIZED_DTYPES.get(tensor.dtype, (0, 0))
    return IoTensor(
        role=role, index=index, macro=f"{prefix}_{role.upper()}{index}", label=comment_text(name or tensor.name, 80),
        shape=shape, dtype=tensor.dtype, ctype=C_TYPES[tensor.dtype], elements=elements,
        nbytes=elements * tensor.itemsize, quantized=quantized,
        scale=c_float_literal(float(quant.scale[0])) if quantized else "",
        zero_point=int(quant.zero_point[0]) if quantized else 0, qmin=qmin if quantized else 0,
        qmax=qmax if quantized else 0, named=named, named_macro=f"{prefix}_{named}" if named else "")


def named_constants(role: str, names: list[str]) -> list[str]:
    """INPUT_IMAGE-style constant names (MODEL_INPUT_IMAGE_* macros); a name that is empty or repeated after
    sanitizing gets its position appended, so every input/output stays identifiable."""
    parts = [re.sub(r"[^A-Z0-9]+", "_", unicodedata.normalize("NFKD", n).encode("ascii", "ignore").decode("ascii")
                    .upper()).strip("_") for n in names]
    unique = [p if p and parts.count(p) == 1 else f"{p}_{i}".lstrip("_") for i, p in enumerate(parts)]
    if len(set(unique)) != len(unique):  # 'a', 'a', 'a_1': position suffixes on all are unique by construction
        unique = [f"{p}_{i}".lstrip("_") for i, p in enumerate(parts)]
    parts = unique
    return [f"{role.upper()}_{p}" for p in parts]


def io_tensors(model: TFLiteModel, prefix: str) -> tuple[list[IoTensor], list[IoTensor]]:
    """The model's inputs and outputs (main subgraph), named as its signature names them."""
    sg = model.main
    in_names, out_names = io_names(model)
    in_macros, out_macros = named_constants("input", in_names), named_constants("output", out_names)
    inputs = [io_tensor(t, "input", i, prefix, in_names[i], in_macros[i]) for i, t in enumerate(sg.input_tensors())]
    outputs = [io_tensor(t, "output", i, prefix, out_names[i], out_macros[i])
               for i, t in enumerate(sg.output_tensors())]
    if not inputs or not outputs:
        raise EmitError("the model has no inputs or no outputs; there is nothing to run on a device")
    return inputs, outputs


def _all_int8(model: TFLiteModel, opcode: str) -> bool:
    """Every use of `opcode` reads int8 (int32 bias/shape) tensors and writes int8: the int8 kernel applies."""
    for sg in model.subgraphs:
        for op in sg.operators:
            if op.opcode != opcode:
                continue
            ins = [sg.tensors[i].dtype for i in op.inputs if i >= 0]
            outs = [sg.tensors[i].dtype for i in op.outputs if i >= 0]
            if not ins or ins[0] != "int8" or any(d not in ("int8", "int32") for d in ins):
                return False
            if any(d != "int8" for d in outs):
                return False
    return True


def op_entries(model: TFLiteModel, table: dict[str, OpInfo] | None = None) -> list[OpEntry]:
    """The resolver calls for the model's ops, sorted by op name; an op TFLM lacks is UnsupportedOpError."""
    table = table if table is not None else load_op_table()
    entries = []
    missing = []
    for name in model.op_counts():
        info = table.get(name)
        if info is None:
            missing.append(name)
            continue
        registration = info.int8_registration if info.int8_registration and _all_int8(model, name) else ""
        header = (info.int8_header or "") if registration else ""
        entries.append(OpEntry(name=comment_text(name, 60), method=info.resolver_method,
                               int8_registration=registration, header=header))
    if missing:
        raise UnsupportedOpError(f"TensorFlow Lite Micro has no kernel for {', '.join(map(repr, missing))}; "
                                 "the model cannot run on an MCU target (run `edgeq check` for details)")
    return entries


def _output_tolerance(sg: Subgraph, position: int, expected: np.ndarray) -> tuple[str, str]:
    """(C literal, note) for how far the device's output may be from the host's."""
    tensor = sg.output_tensors()[position]
    if tensor.dtype != "float32":
        return "1", "1 step: optimized int8 kernels may round differently from the host's reference kernels"
    producer = next((op for op in sg.operators if sg.outputs[position] in op.outputs), None)
    if producer is not None and producer.opcode == "DEQUANTIZE":
        source = sg.tensors[producer.inputs[0]]
        if source.quantization is not None:
            step = float(source.quantization.scale[0])
            return c_float_literal(step * 1.001), "1 quantization step of the dequantized tensor"
    bound = 1e-4 * max(1.0, float(np.max(np.abs(expected))) if expected.size else 1.0)
    return c_float_literal(bound), "float kernels: 1e-4 relative"


def printed_decimal(value: float) -> str:
    """`value` as the self-check's format_decimal() prints it (float32 arithmetic, 6 decimals, no trailing
    zeros), so the README can quote the firmware's output exactly."""
    v = min(np.float32(abs(value)), np.float32(4.0e9))
    whole = int(v)
    micros = int(np.float32(np.float32(v - np.float32(whole)) * np.float32(1e6) + np.float32(0.5)))
    if micros >= 1_000_000:
        whole, micros = whole + 1, micros - 1_000_000
    return str(whole) if micros == 0 else f"{whole}.{micros:06d}".rstrip("0")


def golden_context(model: TFLiteModel, golden: GoldenVector, source: str) -> dict[str, Any]:
    """Initializer bodies and tolerances for model_test_data.h."""
    sg = model.main
    if len(golden.inputs) != len(sg.inputs) or len(golden.outputs) != len(sg.outputs):
        raise EmitError(f"the golden vector has {len(golden.inputs)} inputs/{len(golden.outputs)} outputs, the "
                        f"model {len(sg.inputs)}/{len(sg.outputs)}")
    tolerances = [_output_tolerance(sg, i, np.asarray(y)) for i, y in enumerate(golden.outputs)]
    return {
        "tolerance_texts": [printed_decimal(float(t.rstrip("f"))) for t, _ in tolerances],
        "source": comment_text(source, 100),
        "inputs": [c_values(np.asarray(x)) for x in golden.inputs],
        "outputs": [c_values(np.asarray(y)) for y in golden.outputs],
        "tolerances": [t for t, _ in tolerances],
        "tolerance_notes": [n for _, n in tolerances],
    }


def arena_for(model: TFLiteModel, target: TargetProfile, measured: TargetArena | None = None) -> Arena:
    """The arena to compile in: from the measurement on the target's core when there is one (`edgeq verify` with
    a TFLM tree), else the host TFLM measurement + the optimized kernels' buffers + the profile's margin."""
    from edgeq.check.arena import recommended_arena

    if measured is not None:
        return Arena(measured.recommended_bytes, measured.describe(target), measured.used_bytes)
    plan = recommended_arena(model, target)
    return Arena(plan.recommended_bytes,
                 f"TFLM used {plan.measured.host_bytes} bytes on the 64-bit host, + "
                 f"{plan.kernel_buffers.total} bytes of {plan.kernel_buffers.kernels} kernel buffers, + "
                 f"{plan.margin_bytes} bytes margin ({target.name} profile), rounded up to 16")


def tflm_build_context(target: TargetProfile) -> dict[str, Any]:
    """TFLM build settings for a Cortex-M target: pinned commit, kernel dir, CMSIS core and device names, and how
    TFLM is compiled from a tree (`build`: edgeq/data/tflm_build.toml)."""
    from edgeq.emit.tflm_build import build_context

    core = target.cpu.core
    suffix = core.removeprefix("cortex-m")
    return {
        "commit": table_source().get("commit", ""),
        "kernels": "cmsis_nn" if target.runtime.kernels == "cmsis-nn" else "reference",
        "core": f"M{suffix}",
        "device": f"ARMCM{suffix}",
        "build": build_context(),
    }


def qemu_board_context(target: TargetProfile) -> dict[str, str] | None:
    """The emulated board of a Cortex-M target for `-DEDGEQ_BOARD=qemu`: QEMU machine, edgeq's start-up code and
    the linker script for the machine's memory map; None when QEMU has no machine for the core."""
    from edgeq.emit.boards import EXIT_FAULT, data_dir, machines, render_linker_script

    name = target.emulator.qemu_machine if target.is_mcu else ""
    machine = machines().get(name) if name else None
    if machine is None:
        return None
    return {"machine": machine.name, "cpu": machine.cpu, "exit_fault": str(EXIT_FAULT),
            "startup": (data_dir() / "startup.c").read_text(encoding="utf-8"),
            "link_script": render_linker_script(machine)}


def model_context(model: TFLiteModel, name: str, target: TargetProfile, sdk: Iterable[str] = ()) -> dict[str, Any]:
    """The template variables that describe the model and the target (everything but golden/arena/ops); `sdk`:
    the profile's `[sdk]` keys the template reads (target.<key>, empty when the profile has none)."""
    prefix = macro_prefix(name)
    inputs, outputs = io_tensors(model, prefix)
    return {
        "edgeq_version": __version__,
        "banner": banner(model.sha256, model.size, name, target.name),
        "name": name,
        "NAME": prefix,
        "model_sha256": model.sha256,
        "model_size": model.size,
        "inputs": inputs,
        "outputs": outputs,
        "uses_bool": any(t.dtype == "bool" for t in inputs + outputs),
        "target": {"name": target.name, "kind": target.kind, "core": target.cpu.core,
                   "core_label": comment_text(target.cpu.core or target.name, 40),
                   "cflags": list(target.cpu.cflags), "cycle_counter": target.cpu.cycle_counter,
                   "kernels": target.runtime.kernels, "code_flash_kb": f"{target.runtime.code_flash_kb:g}",
                   "code_flash_source": comment_text(target.runtime.code_flash_source, 200),
                   "reserved_flash_kb": f"{target.memory.reserved_flash_kb:g}",
                   "reserved_ram_kb": f"{target.memory.reserved_ram_kb:g}",
                   **{key: target.sdk.get(key, "") for key in sdk}},
    }


def model_bytes(model: TFLiteModel) -> str:
    """The model as the body of a C byte-array initializer."""
    return bytes_initializer(model.data)
