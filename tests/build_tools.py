"""Build tools the compile tests need. scripts/setup.sh installs them all, so a missing tool fails the test
that needs it, naming the install command: a skip would hide untested work, on CI or anywhere else."""

from __future__ import annotations

import shutil

import pytest


def require_tools(*tools: str) -> None:
    """Fail the calling test unless every tool is on PATH."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{', '.join(missing)} not installed (`bash scripts/setup.sh test` installs it)")
