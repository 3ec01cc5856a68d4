// TFLMT_GRAD_ACCUM: sum of two gradients of one tensor (backward of a fan-out,
// e.g. a residual ADD). inputs: label, a, b | outputs: a + b
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_GRAD_ACCUM";

struct OpData {
  int8_t dtype;
  int32_t count;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kGradAccumOptions, Arity{1, 2, 0, 1}, &o, &dtype));
  const int w = GradWidth(dtype);
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  d->count = Count(In(ctx, node, 1));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1, dtype, -1, "first gradient"));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1 + w, dtype, d->count, "second gradient"));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, true, 0, dtype, d->count, "sum"));
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  const int w = GradWidth(d->dtype);
  Grad a = GetGrad(ctx, node, false, 1, d->dtype), b = GetGrad(ctx, node, false, 1 + w, d->dtype);
  Grad out = GetGrad(ctx, node, true, 0, d->dtype);
  if (d->dtype == kGradInt8) {
    return StatusOf(kOp, tflmt_grad_accum_s8(a.s8(), *a.scale, b.s8(), *b.scale, d->count, out.ms8(), out.scale));
  }
  tflmt_grad_accum_f32(a.f32(), b.f32(), d->count, out.mf32());
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_GRAD_ACCUM() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
