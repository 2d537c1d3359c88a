"""edgeq's TFLM harness on a running guest whose planner puts each output over an input, as TFLM's planner does
on MLPerf Tiny's ResNet-8, VWW and AD models (FACTS.md). The harness must fill an output before it copies the
inputs: filled after, the fill overwrites the sample and the model computes on 0x5A bytes (the false
`verify --tflm-tree` mismatches of issue 19). The TFLM here is the stand-in of fake_tflm.py, compiled by
edgeq's own tflm_library() and linked by build_tflm_firmware(), run under QEMU."""

from __future__ import annotations

import numpy as np
import pytest
from fake_tflm import arena_needed, fake_outputs, write_fake_tflm

from edgeq.check.targets import get_target
from edgeq.emit import emit_project
from edgeq.emit.boards import machine_for
from edgeq.emulate.plugin import counting_plugin
from edgeq.emulate.qemu import COMPLETED, run_guest
from edgeq.emulate.tflm import tflm_library
from edgeq.emulate.tflm_firmware import build_tflm_firmware, find_tflm_sources

pytestmark = [pytest.mark.qemu, pytest.mark.arm]


@pytest.fixture(scope="module")
def tflm_sources(tmp_path_factory, digits_int8):
    """model_data/model_ops.h of an emitted TFLM project (the fake interpreter ignores the model itself)."""
    out = tmp_path_factory.mktemp("alias") / "out"
    emit_project(digits_int8, out, target="cortex-m4", name="digits")
    return find_tflm_sources(out)


@pytest.mark.parametrize(("input_sizes", "output_sizes"), [
    ([640], [640]),         # the AD autoencoder's shape: output exactly over input
    ([48], [10]),           # a classifier: a short output over the start of the input
    ([24, 40, 9], [8, 33]),  # several inputs; output 1 over input 1
], ids=["same-size", "classifier", "multi-input"])
def test_tflm_harness_feeds_the_sample_when_outputs_alias_inputs(tmp_path, toolchain, tflm_sources, input_sizes,
                                                                 output_sizes) -> None:
    profile = get_target("cortex-m4")
    tree = write_fake_tflm(tmp_path / "tree", input_sizes, output_sizes)
    library = tflm_library(tree, profile, toolchain)
    firmware = build_tflm_firmware(tflm_sources, machine_for(profile), library, input_sizes, output_sizes, 65536,
                                   tmp_path / "build", toolchain)
    rng = np.random.default_rng(19)
    # Sample 0 holds no 0x5A byte, so a sample overwritten by the fill cannot give its outputs by chance.
    samples = [[rng.integers(0, 90, n, dtype=np.uint8).tobytes() for n in input_sizes] for _ in range(3)]
    run = run_guest(firmware, b"".join(b"".join(s) for s in samples), toolchain, counting_plugin(toolchain), 60,
                    tmp_path / "run", expected_samples=len(samples))
    assert run.status == COMPLETED, run.detail
    assert [s.rc for s in run.samples] == [0, 0, 0]
    for sample, got in zip(samples, run.samples, strict=True):
        want = fake_outputs(sample, output_sizes)
        assert [got.outputs[j] for j in range(len(output_sizes))] == want
        filled = fake_outputs([b"\x5a" * n for n in input_sizes], output_sizes)
        assert want != filled  # the test can tell a fed sample from an overwritten one
    # The arena bisection re-runs the last sample in smaller arenas: it must feed it the same way.
    assert run.arena_used_bytes == arena_needed(input_sizes, output_sizes)
    assert run.arena_needed_bytes == arena_needed(input_sizes, output_sizes)
