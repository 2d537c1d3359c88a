"""A fake create_tflm_tree.py tree for the CMake tests: TFLM's layout with stand-in files.

The headers are the declaration-only shims (tflm_shim/); every file the build requires exists; the sources
are small stand-ins, and `micro_time.cc` reads the cycle counter through the CMSIS device header the way
TFLM's cortex_m_generic port does (DWT->CTRL/CYCCNT, DWT->LAR on the M7, DCB->DEMCR), so compiling it tests
edgeq's device header. Files outside the tree's source directories, and headers, must not be compiled.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from emit_cc import TFLM_SHIM

from edgeq.emit.tflm_build import build_settings

MICRO_TIME = """\
// Stand-in for tensorflow/lite/micro/cortex_m_generic/micro_time.cc: the same use of the device header.
#include <stdint.h>
#ifdef CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE
#include CMSIS_DEVICE_ARM_CORTEX_M_XX_HEADER_FILE
#endif

uint32_t edgeq_fake_ticks() {
#if !defined(ARMCM0) && !defined(ARMCM0plus)
#ifdef ARMCM7
  DWT->LAR = 0xC5ACCE55;
#endif
  DCB->DEMCR |= DCB_DEMCR_TRCENA_Msk;
  DWT->CYCCNT = 0;
  DWT->CTRL |= 1UL;
  return DWT->CYCCNT;
#else
  return 0;
#endif
}
"""

# Sources the library must compile (relative to the tree), with their content.
SOURCES = {
    "tensorflow/lite/micro/cortex_m_generic/micro_time.cc": MICRO_TIME,
    "tensorflow/lite/micro/kernels/cmsis_nn/conv.cc": "int edgeq_fake_conv = 1;\n",
    "tensorflow/lite/micro/fake_interpreter.cc": "int edgeq_fake_interpreter = 2;\n",
    "signal/src/fake_signal.cc": "int edgeq_fake_signal = 3;\n",
    "third_party/cmsis_nn/Source/fake_nn.c": "int edgeq_fake_nn = 4;\n",
    "third_party/kissfft/fake_fft.c": "int edgeq_fake_fft = 5;\n",
}
# Files the library must leave alone.
NOT_SOURCES = {
    "tensorflow/lite/micro/fake.h": "#define EDGEQ_FAKE 1\n",
    "examples/hello/main.cc": "#error this example is not part of the library\n",
    "third_party/cmsis_nn/Source/notes.txt": "not a source\n",
}


def make_fake_tree(root: Path, cmsis_nn: bool = True) -> Path:
    """Write a fake TFLM tree at `root` (with or without the CMSIS-NN files) and return it."""
    shutil.copytree(TFLM_SHIM, root)
    settings = build_settings()
    for relative in (*settings.required, *(settings.required_cmsis_nn if cmsis_nn else ())):
        path = root / relative
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("// fake\n" if path.suffix != ".cc" else "int edgeq_fake_required = 0;\n")
    for relative, text in {**SOURCES, **NOT_SOURCES}.items():
        if not cmsis_nn and "cmsis_nn" in relative:
            continue
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root
