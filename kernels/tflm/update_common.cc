#include "update_common.h"

#include <cmath>
#include <cstring>

#include "tflmt/state.h"

namespace tflmt {

tflmt_sgd UpdateState::Sgd() const {
  tflmt_sgd s;
  s.learning_rate = tflmt_scheduled_learning_rate(learning_rate, final_learning_rate, decay_steps, warmup_steps, step);
  s.stochastic = stochastic;
  s.seed = seed;
  s.op_uid = op_uid;
  s.step = step;
  s.residual = static_cast<int8_t*>(residual);
  return s;
}

namespace {
TfLiteStatus Adopt(const char* op, TfLiteContext* ctx, TfLiteNode* node, int input, int type, UpdateState* st,
                   void** copy_out) {
  TfLiteEvalTensor* t = In(ctx, node, input);
  TFLMT_CHECK(CheckTensor(op, t, type, -1, copy_out == &st->residual ? "residual" : "parameter"));
  if (t->data == nullptr) TFLMT_FAIL(op, "the trained parameter (tensor %d) is not a constant", node->inputs->data[input]);
  const size_t bytes = (size_t)Count(t) * (type == kTfLiteInt32 ? 4u : 1u);
  void* copy = AllocatePersistent(ctx, bytes);
  if (copy == nullptr) TFLMT_FAIL(op, "arena too small for the trainable copy (%u bytes)", (unsigned)bytes);
  memcpy(copy, t->data, bytes);
  tflmt_trainable entry;
  entry.key = t->data;
  entry.tensor = node->inputs->data[input];
  entry.data = copy;
  entry.bytes = (uint32_t)bytes;
  entry.step = &st->step;
  if (tflmt_state_record(&entry) != 0) TFLMT_FAIL(op, "the attached state table is full");
  t->data = copy;
  *copy_out = copy;
  return kTfLiteOk;
}
}  // namespace

TfLiteStatus AdoptParameter(const char* op, TfLiteContext* ctx, TfLiteNode* node, int input, int type,
                            UpdateState* st) {
  return Adopt(op, ctx, node, input, type, st, &st->param);
}

TfLiteStatus AdoptResidual(const char* op, TfLiteContext* ctx, TfLiteNode* node, int input, UpdateState* st) {
  return Adopt(op, ctx, node, input, kTfLiteInt8, st, &st->residual);
}

TfLiteStatus ReadQas(const char* op, TfLiteContext* ctx, OptionsTable* o, int field, int32_t channels,
                     UpdateState* st) {
  Vec4 v;
  if (!o->Vector(field, &v)) TFLMT_FAIL(op, "bad custom options: %s", o->error());
  if ((int32_t)v.count != channels) {
    TFLMT_FAIL(op, "%u QAS factors for %d channels", (unsigned)v.count, (int)channels);
  }
  for (uint32_t i = 0; i < v.count; ++i) {
    if (!std::isfinite(v.Float(i))) TFLMT_FAIL(op, "QAS factor %u is not finite", (unsigned)i);
  }
  if ((st->qas = v.InPlaceFloats()) != nullptr) return kTfLiteOk;  // read in place (flash)
  float* copy = static_cast<float*>(AllocatePersistent(ctx, sizeof(float) * (size_t)channels));
  if (copy == nullptr) TFLMT_FAIL(op, "arena too small");
  for (uint32_t i = 0; i < v.count; ++i) copy[i] = v.Float(i);
  st->qas = copy;
  return kTfLiteOk;
}

TfLiteStatus ReadSgd(const char* op, const OptionsTable& o, int first_field, UpdateState* st) {
  st->learning_rate = o.F32(first_field, 0.0f);
  const int8_t rounding = o.I8(first_field + 1, 0);
  if (rounding != 0 && rounding != 1) TFLMT_FAIL(op, "unknown rounding mode %d", (int)rounding);
  if (!std::isfinite(st->learning_rate) || st->learning_rate < 0.0f) TFLMT_FAIL(op, "learning rate must be finite and >= 0");
  st->stochastic = rounding == 0;
  st->seed = o.U32(first_field + 2, 0);
  st->op_uid = o.U32(first_field + 3, 0);
  st->step = o.U32(first_field + 4, 0);
  st->final_learning_rate = o.F32(first_field + 5, 0.0f);
  st->decay_steps = o.U32(first_field + 6, 0);
  st->warmup_steps = o.U32(first_field + 7, 0);
  if (!std::isfinite(st->final_learning_rate) || st->final_learning_rate < 0.0f) {
    TFLMT_FAIL(op, "final learning rate must be finite and >= 0");
  }
  // Step counts convert to float32 exactly up to 2^24 (tflmt_scheduled_learning_rate).
  constexpr uint32_t kMaxScheduleSteps = 1u << 24;
  if (st->decay_steps > kMaxScheduleSteps) TFLMT_FAIL(op, "decay_steps %u is over 2^24", (unsigned)st->decay_steps);
  if (st->warmup_steps > kMaxScheduleSteps) TFLMT_FAIL(op, "warmup_steps %u is over 2^24", (unsigned)st->warmup_steps);
  return kTfLiteOk;
}

}  // namespace tflmt
