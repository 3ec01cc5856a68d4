// tflm-train's TFLM op library: one registration per TFLMT_* training op.
//
// An app that already runs an int8 model with TFLM adds training with one call
// on its resolver (allow 15 more ops in its capacity):
//
//   tflite::MicroMutableOpResolver<N> resolver;
//   ... resolver.AddConv2D(); (the forward ops, as before)
//   tflmt::AddTrainingOps(resolver);
//
// Then a call with label >= 0 (the model's second input) runs one training
// step; label -1 runs inference only.
#ifndef TFLMT_TFLM_H_
#define TFLMT_TFLM_H_

#include "../../tflm/compat.h"

namespace tflmt {

TFLMRegistration* Register_CLAMP_MASK();
TFLMRegistration* Register_SOFTMAX_CE();
TFLMRegistration* Register_CLAMP_GRAD();
TFLMRegistration* Register_GRAD_ACCUM();
TFLMRegistration* Register_CONV_INPUT_GRAD();
TFLMRegistration* Register_DW_INPUT_GRAD();
TFLMRegistration* Register_FC_INPUT_GRAD();
TFLMRegistration* Register_CONV_WEIGHT_UPDATE();
TFLMRegistration* Register_DW_WEIGHT_UPDATE();
TFLMRegistration* Register_FC_WEIGHT_UPDATE();
TFLMRegistration* Register_BIAS_UPDATE();
TFLMRegistration* Register_AVG_POOL_GRAD();
TFLMRegistration* Register_MEAN_GRAD();
TFLMRegistration* Register_PAD_GRAD();
TFLMRegistration* Register_CHANNEL_GATHER();
TFLMRegistration* Register_CHANNEL_MERGE();
TFLMRegistration* Register_MAX_POOL_ARGMAX();
TFLMRegistration* Register_MAX_POOL_GRAD();

struct TrainingOp {
  const char* name;  // the custom op code in the model
  TFLMRegistration* (*registration)();
};

// All training ops; *count receives their number.
const TrainingOp* TrainingOps(int* count);

#if !defined(TFLMT_WHEEL_ABI)
template <typename Resolver>
TfLiteStatus AddTrainingOps(Resolver& resolver) {
  int n = 0;
  const TrainingOp* ops = TrainingOps(&n);
  for (int i = 0; i < n; ++i) {
    if (resolver.AddCustom(ops[i].name, ops[i].registration()) != kTfLiteOk) return kTfLiteError;
  }
  return kTfLiteOk;
}
#endif

}  // namespace tflmt

#endif  // TFLMT_TFLM_H_
