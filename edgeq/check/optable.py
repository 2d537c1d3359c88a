"""Which operators TensorFlow Lite Micro can run: the table in edgeq/data/tflm_ops.toml, as data.

The table is read from TFLM's sources (the `Add*` methods of `MicroMutableOpResolver`, the kernels under
`kernels/cmsis_nn/`, and ESP-NN's kernels); tests/check/test_optable.py checks it against the installed
`tflite-micro` runtime. TFLM's resolver matches builtin ops by code and ignores the op version.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from edgeq.errors import TargetError
from edgeq.resources import data_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

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


_FIELDS = {"resolver_method", "registration", "cmsis_nn", "esp_nn", "int8_registration", "int16_registration",
           "int8_header", "kernel_class", "requires"}


def _entry(name: str, data: dict[str, Any], custom: bool) -> OpInfo:
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise TargetError(f"{_TABLE.name}: op {name}: unknown key(s) {', '.join(unknown)}")
    return OpInfo(name=name, custom=custom, **data)


@cache
def _load(path: Path) -> tuple[dict[str, OpInfo], dict[str, str]]:
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TargetError(f"{path}: cannot read the TFLM op table ({exc}); reinstall edgeq") from None
    table = {name: _entry(name, data, False) for name, data in raw.get("ops", {}).items()}
    table.update({name: _entry(name, data, True) for name, data in raw.get("custom", {}).items()})
    return table, dict(raw.get("tflm", {}))


def load_op_table() -> dict[str, OpInfo]:
    """Op name -> OpInfo for every builtin and custom op TFLM registers (a fresh dict; entries are frozen)."""
    return dict(_load(_TABLE)[0])


def op_info(name: str) -> OpInfo | None:
    """The table's entry for one op, or None when TFLM has no kernel for it."""
    return _load(_TABLE)[0].get(name)


def table_source() -> dict[str, str]:
    """Where the table was read from: {'commit': <tflite-micro commit>, 'esp_tflite_micro_commit': ...}."""
    return dict(_load(_TABLE)[1])
