// TFLMT_MAX_POOL_ARGMAX: in the forward pass, each MAX_POOL_2D output element's
// argmax (one byte), so the backward keeps neither the pool's input nor its output.
// inputs: label, x (int8 [1, H, W, C]) | outputs: idx (uint8 [1, OH, OW, C])
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_MAX_POOL_ARGMAX";

struct OpData {
  tflmt_window win;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kMaxPoolArgmaxOptions, Arity{2, 0, 1, 0}, &o, nullptr));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  tflmt_window& s = d->win;
  TFLMT_CHECK(CheckTensor(kOp, In(ctx, node, 1), kTfLiteInt8, -1, "input"));
  TFLMT_CHECK(CheckTensor(kOp, Out(ctx, node, 0), kTfLiteUInt8, -1, "argmax"));
  TFLMT_CHECK(Shape3(kOp, In(ctx, node, 1), "input", &s.in));
  TFLMT_CHECK(Shape3(kOp, Out(ctx, node, 0), "argmax", &s.out));
  TFLMT_CHECK(ReadPoolWindow(kOp, &o, 1, &s));
  if (s.kh * s.kw > 256) TFLMT_FAIL(kOp, "a %dx%d window does not fit a one-byte argmax", (int)s.kh, (int)s.kw);
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  tflmt_max_pool_argmax_s8(&d->win, static_cast<const int8_t*>(In(ctx, node, 1)->data),
                           static_cast<uint8_t*>(Out(ctx, node, 0)->data));
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_MAX_POOL_ARGMAX() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
