"""Where edgeq's data files live; every other module asks here.

- targets/ (repository root, `edgeq._targets` in the wheel): board profiles, TOML;
- firmware_templates/ (repository root, `edgeq._templates` in the wheel): every jinja2 template edgeq renders —
  one directory per project template, `_sources/` (shared C/C++ sources), `_emulate/` (emulator harness and
  linker script), `_report/` (the HTML validation report);
- edgeq/data/: tables and fixed sources (the TFLM op table, QEMU machines, start-up code, the counting plugin);
- edgeq/engine/kernels/: the compiled-C engine's kernels, copied into its projects.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent
_REPO_ROOT = _PACKAGE.parent


def _resource_dir(package: str, repo_dir: str) -> Path:
    try:
        path = Path(str(resources.files(package)))
        if path.is_dir():
            return path
    except ModuleNotFoundError:
        pass
    return _REPO_ROOT / repo_dir


def targets_dir() -> Path:
    """Directory holding the target profiles (*.toml)."""
    return _resource_dir("edgeq._targets", "targets")


def templates_dir() -> Path:
    """Directory holding firmware_templates/<name>/."""
    return _resource_dir("edgeq._templates", "firmware_templates")


def data_dir(*parts: str) -> Path:
    """edgeq/data/ (or a directory in it): tables and fixed sources shipped inside the package."""
    return _PACKAGE.joinpath("data", *parts)


def kernels_dir() -> Path:
    """The compiled-C engine's kernel sources."""
    return _PACKAGE / "engine" / "kernels"
