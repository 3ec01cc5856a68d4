// TFLMT_SOFTMAX_CE: softmax cross-entropy loss of the int8 logits and its gradient.
// inputs: label, logits (int8) | outputs: loss (float32[1]), dlogits (float32 | int8 + scale)
#include <cmath>

#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_SOFTMAX_CE";

struct OpData {
  int8_t dtype;
  int32_t classes;
  tflmt_quant logits;
  float max_loss;  // > 0: the divergence guard
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kSoftmaxCeOptions, Arity{2, 0, 1, 1}, &o, &dtype));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  d->classes = o.I32(2, 0);
  d->logits.scale = o.F32(3, 0.0f);
  d->logits.zero_point = o.I32(4, 0);
  d->max_loss = o.F32(5, 0.0f);
  if (d->classes < 1) TFLMT_FAIL(kOp, "num_classes must be >= 1");
  if (!(d->max_loss >= 0.0f)) TFLMT_FAIL(kOp, "max_loss must be >= 0");
  TFLMT_CHECK(CheckTensor(kOp, In(ctx, node, 1), kTfLiteInt8, d->classes, "logits"));
  TFLMT_CHECK(CheckTensor(kOp, Out(ctx, node, 0), kTfLiteFloat32, 1, "loss"));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, true, 1, dtype, d->classes, "logits gradient"));
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  const int32_t label = Label(ctx, node);
  if (label < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  if (label >= d->classes) TFLMT_FAIL(kOp, "label %d out of range (the model has %d classes)", (int)label, (int)d->classes);
  const int8_t* logits = static_cast<const int8_t*>(In(ctx, node, 1)->data);
  float* loss = static_cast<float*>(Out(ctx, node, 0)->data);
  Grad g = GetGrad(ctx, node, true, 1, d->dtype);
  tflmt_status st = d->dtype == kGradInt8
                        ? tflmt_softmax_ce_s8(label, logits, d->classes, d->logits, loss, g.ms8(), g.scale)
                        : tflmt_softmax_ce_f32(label, logits, d->classes, d->logits, loss, g.mf32());
  TFLMT_CHECK(StatusOf(kOp, st));
  // The update ops all run after this one: failing here leaves the trained state untouched.
  if (!std::isfinite(*loss) || (d->max_loss > 0.0f && *loss > d->max_loss)) {
    TFLMT_FAIL(kOp, "divergence: loss %f above the limit %f; no update applied", (double)*loss, (double)d->max_loss);
  }
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_SOFTMAX_CE() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
