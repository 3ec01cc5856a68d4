// What the update ops (BIAS_UPDATE and the fused *_WEIGHT_UPDATE) share: the
// trainable copy of their parameter, QAS factors and SGD state.
#ifndef TFLMT_TFLM_UPDATE_COMMON_H_
#define TFLMT_TFLM_UPDATE_COMMON_H_

#include "common.h"

namespace tflmt {

struct UpdateState {
  void* param = nullptr;             // the trained copy (persistent arena buffer)
  void* residual = nullptr;          // weights: its residual bytes' copy, when the op has them
  const float* qas = nullptr;        // one QAS factor per output channel
  float learning_rate = 0.0f;
  float final_learning_rate = 0.0f;  // learning-rate decay over the first decay_steps updates
  uint32_t decay_steps = 0, warmup_steps = 0;
  int32_t stochastic = 1;
  uint32_t seed = 0, op_uid = 0, step = 0;
  tflmt_sgd Sgd() const;
};

// Copies the constant parameter at input `input` into a persistent buffer,
// points the tensor at the copy (the model bytes are never written) and
// records it in the state table (include/tflmt/state.h).
TfLiteStatus AdoptParameter(const char* op, TfLiteContext* ctx, TfLiteNode* node, int input, int type,
                            UpdateState* st);
// The same for a weight update's residual bytes (int8, the weights' shape): the copy goes to
// st->residual, its state entry shares the op's step.
TfLiteStatus AdoptResidual(const char* op, TfLiteContext* ctx, TfLiteNode* node, int input, UpdateState* st);
// QAS factors (`channels` of them) and SGD settings from the options fields: learning_rate,
// rounding, seed, op_uid, initial_step, then final_learning_rate, decay_steps and warmup_steps at
// first_field + 5 .. + 7 (absent in models written before the schedule: a constant rate).
TfLiteStatus ReadQas(const char* op, TfLiteContext* ctx, OptionsTable* o, int field, int32_t channels,
                     UpdateState* st);
TfLiteStatus ReadSgd(const char* op, const OptionsTable& o, int first_field, UpdateState* st);

}  // namespace tflmt

#endif  // TFLMT_TFLM_UPDATE_COMMON_H_
