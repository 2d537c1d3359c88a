"""Where edgeq's data files live: target profiles and firmware templates travel inside the wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

_REPO_ROOT = Path(__file__).resolve().parent.parent


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


def package_data_dir(*parts: str) -> Path:
    """A directory of data shipped inside the edgeq package itself (C kernels, startup code)."""
    return Path(__file__).resolve().parent.joinpath(*parts)
