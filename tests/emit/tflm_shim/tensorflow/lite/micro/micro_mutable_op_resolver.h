// DECLARATION-ONLY SHIM FOR edgeq's COMPILE TESTS -- this is NOT TensorFlow Lite Micro.
// It declares just the TFLM API the generated headers and main.cc files use, with the signatures of
// tflite-micro @ 90b983c2b3f1480642e040bbd2ddb37b998f3424, so the generated code can be compile-checked
// (-fsyntax-only / -c, never linked) where TFLM's sources are not available.

#ifndef EDGEQ_SHIM_MICRO_MUTABLE_OP_RESOLVER_H_
#define EDGEQ_SHIM_MICRO_MUTABLE_OP_RESOLVER_H_

#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/kernels/add.h"
#include "tensorflow/lite/micro/kernels/batch_matmul.h"
#include "tensorflow/lite/micro/kernels/conv.h"
#include "tensorflow/lite/micro/kernels/depthwise_conv.h"
#include "tensorflow/lite/micro/kernels/fully_connected.h"
#include "tensorflow/lite/micro/kernels/maximum_minimum.h"
#include "tensorflow/lite/micro/kernels/mul.h"
#include "tensorflow/lite/micro/kernels/pooling.h"
#include "tensorflow/lite/micro/kernels/softmax.h"
#include "tensorflow/lite/micro/kernels/svdf.h"
#include "tensorflow/lite/micro/kernels/transpose_conv.h"
#include "tensorflow/lite/micro/kernels/unidirectional_sequence_lstm.h"

namespace tflite {

class MicroOpResolver {
 public:
  virtual ~MicroOpResolver() {}
};

template <unsigned int tOpCount>
class MicroMutableOpResolver : public MicroOpResolver {
 public:
  MicroMutableOpResolver() {}
  TfLiteStatus AddCustom(const char* name, const TFLMRegistration* registration);
  TfLiteStatus AddAbs(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddAdd(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddAddN(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddArgMax(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddArgMin(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddAssignVariable(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddAveragePool2D(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddBatchMatMul(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddBatchToSpaceNd(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddBroadcastArgs(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddBroadcastTo(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddCallOnce(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddCast(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddCeil(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddCircularBuffer();
  TfLiteStatus AddConcatenation(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddConv2D(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddCos(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddCumSum(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddDecode();
  TfLiteStatus AddDelay();
  TfLiteStatus AddDepthToSpace(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddDepthwiseConv2D(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddDequantize(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddDetectionPostprocess();
  TfLiteStatus AddDiv(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddDynamicUpdateSlice();
  TfLiteStatus AddEmbeddingLookup(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddEnergy();
  TfLiteStatus AddElu(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddEqual(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddEthosU();
  TfLiteStatus AddExp(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddExpandDims(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddFftAutoScale();
  TfLiteStatus AddFill(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddFilterBank();
  TfLiteStatus AddFilterBankLog();
  TfLiteStatus AddFilterBankSquareRoot();
  TfLiteStatus AddFilterBankSpectralSubtraction();
  TfLiteStatus AddFloor(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddFloorDiv(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddFloorMod(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddFramer();
  TfLiteStatus AddFullyConnected(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddGather(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddGatherNd(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddGreater(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddGreaterEqual(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddHardSwish(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddIf(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddIrfft(const TFLMRegistration* registration = nullptr);
  TfLiteStatus AddL2Normalization(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddL2Pool2D(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLeakyRelu(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLess(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLessEqual(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLog(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLogicalAnd(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLogicalNot(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLogicalOr(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLogistic(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddLogSoftmax(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddMaximum(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddMaxPool2D(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddMirrorPad(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddMean(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddMinimum(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddMul(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddNeg(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddNotEqual(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddOverlapAdd();
  TfLiteStatus AddPack(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddPad(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddPadV2(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddPCAN();
  TfLiteStatus AddPrelu(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddQuantize(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddReadVariable(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddReduceAll(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddReduceMax(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddReduceMin(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddRelu(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddRelu6(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddReshape(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddResizeBilinear(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddResizeNearestNeighbor();
  TfLiteStatus AddReverseV2(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddRfft(const TFLMRegistration* registration = nullptr);
  TfLiteStatus AddRound(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddRsqrt(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSelectV2(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddShape(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSin(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSlice(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSoftmax(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSpaceToBatchNd(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSpaceToDepth(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSplit(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSplitV(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSqueeze(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSqrt(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSquare(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSquaredDifference(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddStridedSlice(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddStacker();
  TfLiteStatus AddSub(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSum(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddSvdf(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddTanh(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddTransposeConv(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddTranspose(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddUnpack(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddUnidirectionalSequenceLSTM(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddVarHandle(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddWhile(const TFLMRegistration& registration = TFLMRegistration());
  TfLiteStatus AddWindow();
  TfLiteStatus AddZerosLike(const TFLMRegistration& registration = TFLMRegistration());
};

}  // namespace tflite

#endif  // EDGEQ_SHIM_MICRO_MUTABLE_OP_RESOLVER_H_
