"""Which operators TensorFlow Lite Micro can run: the table in edgeq/data/tflm_ops.toml, as data.

The table is read from TFLM's sources (the `Add*` methods of `MicroMutableOpResolver`, the kernels under
`kernels/cmsis_nn/`, and ESP-NN's kernels); tests/check/test_optable.py checks it against the installed
`tflite-micro` runtime. TFLM's resolver matches builtin ops by code and ignores the op version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from edgeq.errors import TargetError
from edgeq.resources import data_dir
from edgeq.schema import build, load_toml

_TABLE = data_dir("tflm_ops.toml")


@dataclass(frozen=True)
class OpInfo:
    """One operator TFLM registers.

    name: TFLite builtin name (`CONV_2D`) or, for custom ops, the custom code (`TFLite_Detection_PostProcess`).
    resolver_method: the `tflite::MicroMutableOpResolver` method that registers it (`AddConv2D`).
    registration: the generic kernel's registration function (`Register_CONV_2D`).
    cmsis_nn / esp_nn: an optimized CMSIS-NN / ESP-NN kernel exists for it.
    int8_registration / int16_registration: the type-specialised registration declared in TFLM's kernel
    header (`Register_CONV_2D_INT8`); builds without CMSIS-NN fall back to the generic kernel.
    int8_header: the kernel header declaring int8_registration when micro_mutable_op_resolver.h does not.
    kernel_class: for MAC-heavy ops, the latency class (conv, depthwise, fully_connected), else None.
    custom: a custom op (matched by its custom code string, not a builtin code).
    requires: a TFLM build option without which the op is not registered (`ethos-u`), else None.
    """

    name: str
    resolver_method: str
    registration: str
    cmsis_nn: bool = False
    esp_nn: bool = False
    int8_registration: str | None = None
    int16_registration: str | None = None
    int8_header: str | None = None
    kernel_class: str | None = None
    custom: bool = False
    requires: str | None = None

    def optimized(self, kernels: str) -> bool:
        """True when the kernel library `kernels` ('reference', 'cmsis-nn', 'esp-nn') has a fast kernel."""
        return (kernels == "cmsis-nn" and self.cmsis_nn) or (kernels == "esp-nn" and self.esp_nn)


@dataclass(frozen=True)
class _TableSource:
    """The [tflm] table: the commits the op table was read from."""

    commit: str
    esp_tflite_micro_commit: str


@dataclass(frozen=True)
class _OpTable:
    """tflm_ops.toml: where it was read from, then the builtin and the custom ops."""

    tflm: _TableSource
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    custom: dict[str, dict[str, Any]] = field(default_factory=dict)


@cache
def _load(path: Path) -> tuple[dict[str, OpInfo], dict[str, str]]:
    raw = load_toml(path, _OpTable, TargetError)
    table = {name: build(OpInfo, data, f"{path.name} [ops.{name}]", TargetError, name=name, custom=False)
             for name, data in raw.ops.items()}
    table.update({name: build(OpInfo, data, f"{path.name} [custom.{name}]", TargetError, name=name, custom=True)
                  for name, data in raw.custom.items()})
    return table, {"commit": raw.tflm.commit, "esp_tflite_micro_commit": raw.tflm.esp_tflite_micro_commit}


def load_op_table() -> dict[str, OpInfo]:
    """Op name -> OpInfo for every builtin and custom op TFLM registers (a fresh dict; entries are frozen)."""
    return dict(_load(_TABLE)[0])


def op_info(name: str) -> OpInfo | None:
    """The table's entry for one op, or None when TFLM has no kernel for it."""
    return _load(_TABLE)[0].get(name)


def table_source() -> dict[str, str]:
    """Where the table was read from: {'commit': <tflite-micro commit>, 'esp_tflite_micro_commit': ...}."""
    return dict(_load(_TABLE)[1])
