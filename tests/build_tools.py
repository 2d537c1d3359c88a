"""Build tools the compile tests need. scripts/setup.sh installs them all, so in CI (CI set) a missing tool
fails the test instead of skipping it; on a developer machine without them the test is skipped, saying why."""

from __future__ import annotations

import os
import shutil

import pytest


def require_tools(*tools: str) -> None:
    """Skip (fail under CI) unless every tool is on PATH."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = f"{', '.join(missing)} not installed (`bash scripts/setup.sh test` installs it)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
