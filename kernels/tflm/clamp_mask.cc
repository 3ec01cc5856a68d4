// TFLMT_CLAMP_MASK: in the forward pass, keep 1 bit per element of a clamped
// (ReLU/ReLU6) output: set where the clamp was inactive.
// inputs: label, y (int8) | outputs: mask (uint8[ceil(n/8)])
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_CLAMP_MASK";

struct OpData {
  int32_t count, act_min, act_max;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kClampMaskOptions, Arity{2, 0, 1, 0}, &o, nullptr));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->count = Count(In(ctx, node, 1));
  TFLMT_CHECK(CheckTensor(kOp, In(ctx, node, 1), kTfLiteInt8, -1, "activation"));
  TFLMT_CHECK(CheckTensor(kOp, Out(ctx, node, 0), kTfLiteUInt8, (d->count + 7) / 8, "mask"));
  d->act_min = o.I32(1, 0);
  d->act_max = o.I32(2, 0);
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  tflmt_clamp_mask_s8(static_cast<const int8_t*>(In(ctx, node, 1)->data), d->count, d->act_min, d->act_max,
                      static_cast<uint8_t*>(Out(ctx, node, 0)->data));
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_CLAMP_MASK() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
