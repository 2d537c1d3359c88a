// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- this is NOT TensorFlow Lite Micro.
// It declares just the TFLM API the generated headers and main.cc files use, with the signatures of
// tflite-micro @ 90b983c2b3f1480642e040bbd2ddb37b998f3424, so the generated code can be compile-checked
// (-fsyntax-only / -c, never linked) where TFLM's sources are not available.
#ifndef EDGEQ_SHIM_COMMON_H_
#define EDGEQ_SHIM_COMMON_H_

#include <stddef.h>
#include <stdint.h>
#ifndef __cplusplus
#include <stdbool.h>
#endif

typedef enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;

typedef enum TfLiteType {
  kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteInt32 = 2, kTfLiteUInt8 = 3, kTfLiteInt64 = 4,
  kTfLiteBool = 6, kTfLiteInt16 = 7, kTfLiteInt8 = 9
} TfLiteType;

typedef union TfLitePtrUnion {
  int32_t* i32;
  int64_t* i64;
  float* f;
  char* raw;
  const char* raw_const;
  uint8_t* uint8;
  bool* b;
  int16_t* i16;
  int8_t* int8;
  void* data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
  TfLiteType type;
  TfLitePtrUnion data;
  size_t bytes;
} TfLiteTensor;

#ifdef __cplusplus
namespace tflite {
struct TFLMRegistration {
  int32_t builtin_code;
  const char* custom_name;
};
}  // namespace tflite
#endif

#endif  // EDGEQ_SHIM_COMMON_H_
