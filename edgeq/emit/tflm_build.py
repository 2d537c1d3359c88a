"""How TensorFlow Lite Micro is compiled from a create_tflm_tree.py tree: the data in edgeq/data/tflm_build.toml,
rendered into the TFLM CMake project's CMakeLists.txt and used by `edgeq verify` to build its cached library."""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass
from functools import cache
from typing import Any

from edgeq import resources
from edgeq.errors import EmitError
from edgeq.schema import load_toml

if sys.version_info >= (3, 11):
    pass
else:  # pragma: no cover - Python 3.10 (pyproject declares tomli there)
    pass


@dataclass(frozen=True)
class BuildSettings:
    """How TFLM is compiled from a tree (see edgeq/data/tflm_build.toml)."""

    required: tuple[str, ...]
    required_cmsis_nn: tuple[str, ...]
    source_dirs: tuple[str, ...]
    source_extensions: tuple[str, ...]
    include_dirs: tuple[str, ...]
    defines: tuple[str, ...]
    cmsis_nn_defines: tuple[str, ...]
    options: tuple[str, ...]
    c_options: tuple[str, ...]
    cxx_options: tuple[str, ...]
    device_header: str


@cache
def build_settings() -> BuildSettings:
    """The settings in edgeq/data/tflm_build.toml; unknown or missing keys are an error of the installation."""
    return load_toml(resources.data_dir() / "tflm_build.toml", BuildSettings, EmitError)


def build_context() -> dict[str, Any]:
    """The settings as template variables (lists of strings)."""
    return {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(build_settings()).items()}
