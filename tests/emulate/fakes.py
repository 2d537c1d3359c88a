"""Hand-written C "models" with the compiled-C engine's interface, for testing the harness on its own.

The fake computes y[j] = (sum_i x[i] * (i + j + 1)) >> 6 (int8, saturated) for 16 int8 inputs and 4 int8
outputs; `expected_fake_outputs` computes the same in numpy. Input byte 0 also drives behaviours:
  * spin: an assembly loop of exactly x[1] (as unsigned) iterations of 2 instructions (subs + bne),
  * fault: x[0] == FAULT_TRIGGER executes an undefined instruction,
  * hang: x[0] == HANG_TRIGGER loops forever.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

IN_BYTES, OUT_BYTES = 16, 4
FAULT_TRIGGER = 77
HANG_TRIGGER = 99

_HEADER = """\
#ifndef FAKE_MODEL_H
#define FAKE_MODEL_H
#define FAKE_NUM_INPUTS  1
#define FAKE_NUM_OUTPUTS 1
#define FAKE_ARENA_BYTES 0
extern const unsigned int fake_input_bytes[FAKE_NUM_INPUTS];
extern const unsigned int fake_output_bytes[FAKE_NUM_OUTPUTS];
int fake_invoke(const void *const inputs[], void *const outputs[]);
#endif
"""

_SOURCE = """\
#include "fake_model.h"

const unsigned int fake_input_bytes[FAKE_NUM_INPUTS] = { %(in_bytes)du };
const unsigned int fake_output_bytes[FAKE_NUM_OUTPUTS] = { 4u };

static void spin(unsigned int n)
{
    if (n == 0u) {
        return;
    }
    __asm__ volatile("1: subs %%0, %%0, #1\\n  bne 1b\\n" : "+r"(n) : : "cc");
}

int fake_invoke(const void *const inputs[], void *const outputs[])
{
    const signed char *x = inputs[0];
    signed char *y = outputs[0];
    %(behaviour)s
    spin((unsigned char)x[1]);
    for (int j = 0; j < 4; ++j) {
        int sum = 0;
        for (int i = 0; i < 16; ++i) {
            sum += x[i] * (i + j + 1);
        }
        sum >>= 6;
        y[j] = (signed char)(sum > 127 ? 127 : sum < -128 ? -128 : sum);
    }
    return 0;
}
"""

_BEHAVIOURS = {
    "ok": "",
    "fault": f"if (x[0] == {FAULT_TRIGGER}) {{ __builtin_trap(); }}",
    "hang": f"if (x[0] == {HANG_TRIGGER}) {{ for (;;) {{ __asm__ volatile(\"\"); }} }}",
    "fails": "if (x[0] == 1) { return 7; }",
}

# A host demo program, as the engine's write_engine_project adds: the harness must leave it out of the link.
_HOST_MAIN = """\
#include <stdio.h>
#include "fake_model.h"
int main(void) { puts("host demo"); return 0; }
"""


def write_fake_model(directory: Path, behaviour: str = "ok", in_bytes: int = IN_BYTES,
                     with_host_main: bool = False) -> Path:
    """Write fake_model.h/.c (and optionally a host main.c) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "fake_model.h").write_text(_HEADER)
    (directory / "fake_model.c").write_text(_SOURCE % {"in_bytes": in_bytes, "behaviour": _BEHAVIOURS[behaviour]})
    if with_host_main:
        (directory / "main.c").write_text(_HOST_MAIN)
    return directory


def expected_fake_outputs(x: np.ndarray) -> np.ndarray:
    """The fake model's outputs computed on the host."""
    x = x.astype(np.int64)
    weights = np.arange(1, 17)[:, None] + np.arange(4)[None, :]
    sums = (x @ weights) >> 6
    return np.clip(sums, -128, 127).astype(np.int8)


def fake_samples(count: int, seed: int = 7, first: list[int] | None = None) -> list[np.ndarray]:
    """Random int8 inputs; byte 0 avoids the trigger values unless `first` sets it per sample."""
    rng = np.random.default_rng(seed)
    samples = []
    for i in range(count):
        x = rng.integers(-128, 128, size=IN_BYTES).astype(np.int8)
        x[0] = first[i] if first is not None else 5
        samples.append(x)
    return samples
