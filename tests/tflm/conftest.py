"""Real TensorFlow Lite Micro on the emulated board: collected only when EDGEQ_TFLM_TREE names a tree made by
tflite-micro's create_tflm_tree.py (CI has no TFLM sources; this is opt-in, not a skip).

These tests use the user's edgeq cache (EDGEQ_CACHE_DIR or ~/.cache/edgeq), where the TFLM library for each
core is compiled once (about 25 minutes on 2 cores) and reused afterwards.
"""

from __future__ import annotations

import os

import pytest

collect_ignore = [] if os.environ.get("EDGEQ_TFLM_TREE") else ["test_tflm_real.py"]


@pytest.fixture(scope="session")
def toolchain():
    from edgeq.emulate import find_toolchain

    return find_toolchain()


@pytest.fixture(scope="session")
def tflm_tree():
    from edgeq.emulate.tflm import find_tree

    return find_tree(None)
