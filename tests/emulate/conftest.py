"""Fixtures for the emulator tests: the Arm toolchain and QEMU, and a plugin cache per test session."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session")
def toolchain():
    """The tools the emulator needs. `scripts/setup.sh test` installs them; without them these tests fail
    with the ToolMissingError naming the Debian packages (a skip would hide untested work)."""
    from edgeq.emulate import find_toolchain

    return find_toolchain()


@pytest.fixture(scope="session", autouse=True)
def plugin_cache(tmp_path_factory):
    """Build the counting plugin into a session directory, never into the user's ~/.cache."""
    path = tmp_path_factory.mktemp("edgeq-cache")
    previous = os.environ.get("EDGEQ_CACHE_DIR")
    os.environ["EDGEQ_CACHE_DIR"] = str(path)
    yield path
    if previous is None:
        os.environ.pop("EDGEQ_CACHE_DIR", None)
    else:
        os.environ["EDGEQ_CACHE_DIR"] = previous
