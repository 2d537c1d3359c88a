// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- this is NOT TensorFlow Lite Micro.
// It declares just the TFLM API the generated headers and main.cc files use, with the signatures of
// tflite-micro @ 90b983c2b3f1480642e040bbd2ddb37b998f3424, so the generated code can be compile-checked
// (-fsyntax-only / -c, never linked) where TFLM's sources are not available.

#ifndef EDGEQ_SHIM_BATCH_MATMUL_H_
#define EDGEQ_SHIM_BATCH_MATMUL_H_

#include "tensorflow/lite/c/common.h"

namespace tflite {
TFLMRegistration Register_BATCH_MATMUL_INT16();
TFLMRegistration Register_BATCH_MATMUL_INT8();
}  // namespace tflite

#endif  // EDGEQ_SHIM_BATCH_MATMUL_H_
