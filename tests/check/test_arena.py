"""The arena edgeq measures equals a plain bisection done here, and the recommendation is never below it."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from itertools import pairwise

import pytest
from models import PERSON_BLOCKS, PERSON_SIDE

from edgeq.check.arena import activation_peak, measure_arena, recommended_arena
from edgeq.check.targets import get_target
from edgeq.tflite import read_model

# An independent bisection over [0, 4 MiB]: the smallest arena with which TFLM allocates AND invokes.
# Every probe runs in a forked child: a TFLM kernel may crash when its allocation fails (digits does at
# 100 bytes), and a crash counts as "does not work".
_BISECT = r"""
import json, os, sys
import numpy as np
from tflite_micro import runtime
data = open(sys.argv[1], "rb").read()
def works(size):
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
        try:
            interpreter = runtime.Interpreter.from_bytes(data, arena_size=size)
            for i in range(int(sys.argv[2])):
                d = interpreter.get_input_details(i)
                interpreter.set_input(np.zeros(d["shape"], dtype=d["dtype"]), i)
            interpreter.invoke()
            os._exit(0)
        except RuntimeError:
            os._exit(1)
    return os.waitpid(pid, 0)[1] == 0
lo, hi = 0, 4 << 20
assert works(hi)
while hi - lo > 1:
    mid = (lo + hi) // 2
    lo, hi = (lo, mid) if works(mid) else (mid, hi)
print(json.dumps({"smallest": hi, "below_works": works(hi - 1), "crash_at_100_handled": not works(100)}))
"""


def _bisect(tmp_path, model) -> dict:
    path = tmp_path / "model.tflite"
    path.write_bytes(model.data)
    proc = subprocess.run([sys.executable, "-c", _BISECT, str(path), str(len(model.main.inputs))],
                          capture_output=True, text=True, timeout=300, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def sine_int8(sine_int8_path):
    return read_model(sine_int8_path)


@pytest.mark.parametrize("which", ["digits_int8", "sine_int8"])
def test_measured_arena_equals_an_independent_bisection(request, tmp_path, which):
    model = request.getfixturevalue(which)
    expected = _bisect(tmp_path, model)
    measured = measure_arena(model)
    assert measured.host_bytes == expected["smallest"]
    assert expected["below_works"] is False and expected["crash_at_100_handled"]
    assert measured.recorded_bytes <= measured.host_bytes


def test_measurement_is_cached_per_model(digits_int8):
    assert measure_arena(digits_int8) is measure_arena(read_model(digits_int8.data))


@pytest.mark.parametrize("target", ["cortex-m0plus", "cortex-m4", "cortex-m55", "esp32-s3"])
def test_recommended_arena_is_never_below_the_measurement(digits_int8, target):
    profile = get_target(target)
    plan = recommended_arena(digits_int8, profile)
    measured = plan.measured.host_bytes
    assert plan.recommended_bytes >= measured + profile.runtime.arena_margin_bytes + plan.kernel_buffers.total
    assert plan.recommended_bytes % 16 == 0
    assert plan.recommended_bytes - measured < 16 + profile.runtime.arena_margin_bytes + plan.kernel_buffers.total \
        + measured * profile.runtime.arena_margin_percent / 100 + 1


def test_cmsis_nn_buffers_are_counted_only_for_optimized_kernels(digits_int8):
    m4 = get_target("cortex-m4")
    assert recommended_arena(digits_int8, m4).kernel_buffers.total > 0
    reference = replace(m4, runtime=replace(m4.runtime, kernels="reference"))
    assert recommended_arena(digits_int8, reference).kernel_buffers.total == 0


def _chain_peak() -> int:
    """The largest input + output of one op along the person model's layer chain, from its design."""
    side, channels = PERSON_SIDE // 2, 8
    sizes = [PERSON_SIDE * PERSON_SIDE, side * side * channels]
    for stride, out_channels in PERSON_BLOCKS:
        side //= stride
        sizes += [side * side * channels, side * side * out_channels]
        channels = out_channels
    return max(a + b for a, b in pairwise(sizes))


def test_person_arena_and_peak_match_tflm(person_path):
    """person_detect's geometry: TFLM's own benchmark (tools/benchmarking/README.md) reports 55,296
    non-persistent bytes for it."""
    model = read_model(person_path)
    peak = activation_peak(model)
    assert peak.bytes == _chain_peak() == 55296
    assert [t[2] for t in peak.tensors] == [36864, 18432]  # 48x48x16 and 48x48x8 int8 at the 2nd conv
    assert measure_arena(model).host_bytes >= peak.bytes


def test_a_model_tflm_cannot_run_is_an_edgeq_error(tflite_builder):
    from edgeq.errors import UnsupportedOpError

    T, Op = tflite_builder.T, tflite_builder.Op
    data = tflite_builder.build([T((1, 4), "float32"), T((1, 4), "float32")], [Op("TOPK_V2", [0], [1])], [0], [1])
    with pytest.raises(UnsupportedOpError, match="TOPK_V2"):
        measure_arena(read_model(data))
