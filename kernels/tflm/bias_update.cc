// TFLMT_BIAS_UPDATE: bias gradient (sum over positions) fused with its QAS SGD
// update. inputs: label, g, bias (int32) | no outputs (updates the trainable copy)
#include "tflmt/tflm.h"
#include "update_common.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_BIAS_UPDATE";

// BiasUpdateOptions fields.
enum { kQas = 2, kLearningRate = 3 };

struct OpData {
  int8_t dtype;
  int32_t rows, channels;
  UpdateState update;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kBiasUpdateOptions, Arity{2, 1, 0, 0}, &o, &dtype));
  const int w = GradWidth(dtype);
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1, dtype, -1, "output gradient"));
  TfLiteEvalTensor* bias = In(ctx, node, 1 + w);
  TFLMT_CHECK(CheckTensor(kOp, bias, kTfLiteInt32, -1, "bias"));
  d->channels = Count(bias);
  const int32_t n = Count(In(ctx, node, 1));
  if (d->channels < 1 || n % d->channels != 0 || DimFromEnd(In(ctx, node, 1), -1) != d->channels) {
    TFLMT_FAIL(kOp, "gradient's last dimension does not match the %d bias channels", (int)d->channels);
  }
  d->rows = n / d->channels;
  TFLMT_CHECK(ReadQas(kOp, ctx, &o, kQas, d->channels, &d->update));
  TFLMT_CHECK(ReadSgd(kOp, o, kLearningRate, &d->update));
  TFLMT_CHECK(AdoptParameter(kOp, ctx, node, 1 + w, kTfLiteInt32, &d->update));
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  auto* d = static_cast<OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  const tflmt_sgd sgd = d->update.Sgd();
  int32_t* bias = static_cast<int32_t*>(d->update.param);
  tflmt_status st = d->dtype == kGradInt8
                        ? tflmt_bias_update_s8(g.s8(), *g.scale, d->rows, d->channels, d->update.qas, &sgd, bias)
                        : tflmt_bias_update_f32(g.f32(), d->rows, d->channels, d->update.qas, &sgd, bias);
  TFLMT_CHECK(StatusOf(kOp, st));
  ++d->update.step;
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_BIAS_UPDATE() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
