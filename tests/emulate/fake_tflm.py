"""A working stand-in for TFLM (NOT TensorFlow Lite Micro) that links and runs in QEMU: the suite has no TFLM
sources, yet the order in which edgeq's TFLM harness touches tensors must be tested on a running guest.

The tree is tflm_shim/ with the resolver's methods given bodies and a MicroInterpreter whose planner does what
TFLM's planner does on MLPerf Tiny's ResNet-8, VWW and AD models: every output starts where an input starts
(arena offset 0, ...), because input and output are never live together. Invoke() reads all inputs first and
then writes the outputs with `fake_outputs` below, so a harness that writes the output tensor after copying the
input hands the model its own fill pattern instead of the sample.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np

from edgeq.emit.tflm_build import build_settings

TFLM_SHIM = Path(__file__).resolve().parents[1] / "emit" / "tflm_shim"
ALIGN = 16

INTERPRETER_H = """\
// edgeq TEST STAND-IN -- NOT TensorFlow Lite Micro: TFLM's MicroInterpreter API over a fake planner that puts
// output j where input j starts (tests/emulate/fake_tflm.py).
#ifndef EDGEQ_FAKE_MICRO_INTERPRETER_H_
#define EDGEQ_FAKE_MICRO_INTERPRETER_H_

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#define TFLITE_SCHEMA_VERSION (3)
#define EDGEQ_FAKE_MAX_TENSORS 4

namespace tflite {

class MicroResourceVariables;
class MicroProfilerInterface;

class MicroInterpreter {
 public:
  MicroInterpreter(const Model* model, const MicroOpResolver& op_resolver, uint8_t* tensor_arena,
                   size_t tensor_arena_size, MicroResourceVariables* resource_variables = nullptr,
                   MicroProfilerInterface* profiler = nullptr, bool preserve_all_tensors = false);
  ~MicroInterpreter();
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  size_t inputs_size() const;
  TfLiteTensor* output(size_t index);
  size_t outputs_size() const;
  size_t arena_used_bytes() const;

 private:
  uint8_t* arena_;
  size_t arena_size_;
  bool allocated_;
  TfLiteTensor inputs_[EDGEQ_FAKE_MAX_TENSORS];
  TfLiteTensor outputs_[EDGEQ_FAKE_MAX_TENSORS];
};

}  // namespace tflite

#endif  // EDGEQ_FAKE_MICRO_INTERPRETER_H_
"""

INTERPRETER_CC = """\
// edgeq TEST STAND-IN -- NOT TensorFlow Lite Micro (tests/emulate/fake_tflm.py).
#include <string.h>

#include "tensorflow/lite/micro/cortex_m_generic/debug_log_callback.h"
#include "tensorflow/lite/micro/micro_interpreter.h"
{includes}

namespace {{
const unsigned int kInputs[] = {{ {inputs} }};
const unsigned int kOutputs[] = {{ {outputs} }};
const unsigned int kNumInputs = sizeof kInputs / sizeof kInputs[0];
const unsigned int kNumOutputs = sizeof kOutputs / sizeof kOutputs[0];

size_t aligned(size_t n) {{ return (n + {align}u - 1u) / {align}u * {align}u; }}

// Input i and output i both start at the sum of the aligned sizes before them (offset 0 for the first).
size_t offset(const unsigned int* sizes, unsigned int index) {{
  size_t at = 0;
  for (unsigned int i = 0; i < index; ++i) at += aligned(sizes[i]);
  return at;
}}

size_t needed() {{
  size_t in = offset(kInputs, kNumInputs), out = offset(kOutputs, kNumOutputs);
  return in > out ? in : out;
}}
}}  // namespace

extern "C" void RegisterDebugLogCallback(DebugLogCallback) {{}}

namespace tflite {{
{registrations}
uint32_t Model::version() const {{ return TFLITE_SCHEMA_VERSION; }}
const Model* GetModel(const void*) {{
  static const Model model = Model();
  return &model;
}}

MicroInterpreter::MicroInterpreter(const Model*, const MicroOpResolver&, uint8_t* tensor_arena,
                                   size_t tensor_arena_size, MicroResourceVariables*, MicroProfilerInterface*,
                                   bool)
    : arena_(tensor_arena), arena_size_(tensor_arena_size), allocated_(false) {{
  memset(inputs_, 0, sizeof inputs_);
  memset(outputs_, 0, sizeof outputs_);
}}
MicroInterpreter::~MicroInterpreter() {{}}

TfLiteStatus MicroInterpreter::AllocateTensors() {{
  if (arena_size_ < needed()) return kTfLiteError;
  for (unsigned int i = 0; i < kNumInputs; ++i) {{
    inputs_[i].type = kTfLiteInt8;
    inputs_[i].data.raw = (char*)arena_ + offset(kInputs, i);
    inputs_[i].bytes = kInputs[i];
  }}
  for (unsigned int i = 0; i < kNumOutputs; ++i) {{
    outputs_[i].type = kTfLiteInt8;
    outputs_[i].data.raw = (char*)arena_ + offset(kOutputs, i);
    outputs_[i].bytes = kOutputs[i];
  }}
  allocated_ = true;
  return kTfLiteOk;
}}

// Read every input, then write the outputs (where the inputs were): out_j[k] = 7 + 31 j + k +
// sum_i in_i[(3 k + i) mod size_i], mod 256.
TfLiteStatus MicroInterpreter::Invoke() {{
  if (!allocated_) return kTfLiteError;
  static uint8_t result[{total_out}];
  unsigned int at = 0;
  for (unsigned int j = 0; j < kNumOutputs; ++j) {{
    for (unsigned int k = 0; k < kOutputs[j]; ++k) {{
      unsigned int value = 7u + 31u * j + k;
      for (unsigned int i = 0; i < kNumInputs; ++i) value += (uint8_t)inputs_[i].data.raw[(3u * k + i) % kInputs[i]];
      result[at++] = (uint8_t)value;
    }}
  }}
  at = 0;
  for (unsigned int j = 0; j < kNumOutputs; ++j) {{
    memcpy(outputs_[j].data.raw, result + at, kOutputs[j]);
    at += kOutputs[j];
  }}
  return kTfLiteOk;
}}

TfLiteTensor* MicroInterpreter::input(size_t index) {{ return &inputs_[index]; }}
size_t MicroInterpreter::inputs_size() const {{ return kNumInputs; }}
TfLiteTensor* MicroInterpreter::output(size_t index) {{ return &outputs_[index]; }}
size_t MicroInterpreter::outputs_size() const {{ return kNumOutputs; }}
size_t MicroInterpreter::arena_used_bytes() const {{ return needed(); }}
}}  // namespace tflite
"""

_METHOD = re.compile(r"^(\s*TfLiteStatus Add\w+\(.*\));$", re.MULTILINE)
_REGISTER = re.compile(r"TFLMRegistration (Register_\w+)\(\);")


def aligned(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def fake_outputs(inputs: list[bytes], output_sizes: list[int]) -> list[bytes]:
    """What the fake Invoke() computes from one sample's inputs (the formula in INTERPRETER_CC)."""
    arrays = [np.frombuffer(x, dtype=np.uint8).astype(np.int64) for x in inputs]
    outputs = []
    for j, size in enumerate(output_sizes):
        k = np.arange(size)
        value = 7 + 31 * j + k + sum(a[(3 * k + i) % a.size] for i, a in enumerate(arrays))
        outputs.append((value % 256).astype(np.uint8).tobytes())
    return outputs


def arena_needed(input_sizes: list[int], output_sizes: list[int]) -> int:
    """The arena the fake planner needs (inputs and outputs laid out from offset 0, each 16-aligned)."""
    return max(sum(aligned(n) for n in input_sizes), sum(aligned(n) for n in output_sizes))


def write_fake_tflm(root: Path, input_sizes: list[int], output_sizes: list[int]) -> Path:
    """A tree edgeq's tflm_library() compiles into a libtflm.a the TFLM harness links and runs with (and which
    `edgeq verify --tflm-tree` accepts: every file its check requires exists, empty where the fake needs none)."""
    shutil.copytree(TFLM_SHIM, root)
    settings = build_settings()
    for relative in (*settings.required, *settings.required_cmsis_nn):
        path = root / relative
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("// edgeq test stand-in: empty\n")
    micro = root / "tensorflow" / "lite" / "micro"
    resolver = micro / "micro_mutable_op_resolver.h"
    resolver.write_text(_METHOD.sub(r"\1 { return kTfLiteOk; }", resolver.read_text()))
    (micro / "micro_interpreter.h").write_text(INTERPRETER_H)
    kernels = sorted((micro / "kernels").glob("*.h"))
    names = sorted({name for header in kernels for name in _REGISTER.findall(header.read_text())})
    (micro / "edgeq_fake_interpreter.cc").write_text(INTERPRETER_CC.format(
        includes="\n".join(f'#include "tensorflow/lite/micro/kernels/{h.name}"' for h in kernels),
        inputs=", ".join(map(str, input_sizes)), outputs=", ".join(map(str, output_sizes)), align=ALIGN,
        total_out=sum(output_sizes),
        registrations="\n".join(f"TFLMRegistration {name}() {{ return TFLMRegistration(); }}" for name in names)))
    return root
