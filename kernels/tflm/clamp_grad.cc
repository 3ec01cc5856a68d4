// TFLMT_CLAMP_GRAD: the clamp's backward pass from its 1-bit mask.
// inputs: label, g, mask | outputs: g (masked)
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_CLAMP_GRAD";

struct OpData {
  int8_t dtype;
  int32_t count;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kClampGradOptions, Arity{2, 1, 0, 1}, &o, &dtype));
  const int w = GradWidth(dtype);
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  d->count = Count(In(ctx, node, 1));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1, dtype, -1, "gradient"));
  TFLMT_CHECK(CheckTensor(kOp, In(ctx, node, 1 + w), kTfLiteUInt8, (d->count + 7) / 8, "mask"));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, true, 0, dtype, d->count, "masked gradient"));
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad out = GetGrad(ctx, node, true, 0, d->dtype);
  const uint8_t* mask = static_cast<const uint8_t*>(In(ctx, node, 1 + GradWidth(d->dtype))->data);
  if (d->dtype == kGradInt8) {
    tflmt_clamp_grad_s8(g.s8(), mask, d->count, out.ms8());
    *out.scale = *g.scale;
  } else {
    tflmt_clamp_grad_f32(g.f32(), mask, d->count, out.mf32());
  }
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_CLAMP_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
