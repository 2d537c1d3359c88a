// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- this is NOT TensorFlow Lite Micro.
// It declares just the TFLM API the generated headers and main.cc files use, with the signatures of
// tflite-micro @ 90b983c2b3f1480642e040bbd2ddb37b998f3424, so the generated code can be compile-checked
// (-fsyntax-only / -c, never linked) where TFLM's sources are not available.
#ifndef EDGEQ_SHIM_MICRO_INTERPRETER_H_
#define EDGEQ_SHIM_MICRO_INTERPRETER_H_

#include <stddef.h>
#include <stdint.h>

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"
#include "tensorflow/lite/schema/schema_generated.h"

#define TFLITE_SCHEMA_VERSION (3)

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
  template <class T>
  T* typed_input_tensor(int tensor_index);
  template <class T>
  T* typed_output_tensor(int tensor_index);
  size_t arena_used_bytes() const;
};

}  // namespace tflite

#endif  // EDGEQ_SHIM_MICRO_INTERPRETER_H_
