// TFLMT_MEAN_GRAD: backward of MEAN over height and width (global average pool).
// inputs: label, g ([.., c]) | outputs: dx ([1, h, w, c])
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_MEAN_GRAD";

struct OpData {
  int8_t dtype;
  tflmt_shape3 in;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kMeanGradOptions, Arity{1, 1, 0, 1}, &o, &dtype));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, true, 0, dtype, -1, "input gradient"));
  TFLMT_CHECK(Shape3(kOp, Out(ctx, node, 0), "input gradient", &d->in));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1, dtype, d->in.c, "output gradient"));
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad dx = GetGrad(ctx, node, true, 0, d->dtype);
  if (d->dtype == kGradInt8) {
    tflmt_mean_grad_s8(d->in, g.s8(), *g.scale, dx.ms8(), dx.scale);
  } else {
    tflmt_mean_grad_f32(d->in, g.f32(), dx.mf32());
  }
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_MEAN_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
