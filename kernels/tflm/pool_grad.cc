// The pools' backward ops, one Prepare for both:
// TFLMT_AVG_POOL_GRAD: inputs: label, g | outputs: dx
// TFLMT_MAX_POOL_GRAD: inputs: label, g, idx (TFLMT_MAX_POOL_ARGMAX's bytes) | outputs: dx
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kAvgOp[] = "TFLMT_AVG_POOL_GRAD";
const char kMaxOp[] = "TFLMT_MAX_POOL_GRAD";

struct OpData {
  int8_t dtype;
  tflmt_window win;
  int scratch_index;
};

TfLiteStatus PreparePool(const char* op, bool max, TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(op, ctx, node, max ? kMaxPoolGradOptions : kAvgPoolGradOptions,
                            Arity{max ? 2 : 1, 1, 0, 1}, &o, &dtype));
  OpData* d;
  TFLMT_CHECK(NewOpData(op, ctx, &d));
  d->dtype = dtype;
  d->scratch_index = -1;
  TFLMT_CHECK(CheckGrad(op, ctx, node, false, 1, dtype, -1, "output gradient"));
  TFLMT_CHECK(CheckGrad(op, ctx, node, true, 0, dtype, -1, "input gradient"));
  tflmt_window& s = d->win;
  TFLMT_CHECK(Shape3(op, In(ctx, node, 1), "output gradient", &s.out));
  TFLMT_CHECK(Shape3(op, Out(ctx, node, 0), "input gradient", &s.in));
  TFLMT_CHECK(ReadPoolWindow(op, &o, 2, &s));
  if (max) {
    if (s.kh * s.kw > 256) TFLMT_FAIL(op, "a %dx%d window does not fit a one-byte argmax", (int)s.kh, (int)s.kw);
    TFLMT_CHECK(CheckTensor(op, In(ctx, node, 1 + GradWidth(dtype)), kTfLiteUInt8, s.out.h * s.out.w * s.out.c,
                            "argmax"));
  }
  // Both int8 paths sum into float scratch of the input's size, then requantize.
  if (dtype == kGradInt8 && RequestScratch(ctx, max ? tflmt_max_pool_grad_s8_scratch_size(&s)
                                                    : tflmt_avg_pool_grad_s8_scratch_size(&s),
                                           &d->scratch_index) != kTfLiteOk) {
    TFLMT_FAIL(op, "cannot get scratch");
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus PrepareAvg(TfLiteContext* ctx, TfLiteNode* node) { return PreparePool(kAvgOp, false, ctx, node); }
TfLiteStatus PrepareMax(TfLiteContext* ctx, TfLiteNode* node) { return PreparePool(kMaxOp, true, ctx, node); }

TfLiteStatus InvokeAvg(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad dx = GetGrad(ctx, node, true, 0, d->dtype);
  if (d->dtype == kGradInt8) {
    return StatusOf(kAvgOp, tflmt_avg_pool_grad_s8(&d->win, g.s8(), *g.scale, dx.ms8(), dx.scale,
                                                   Scratch(ctx, d->scratch_index)));
  }
  tflmt_avg_pool_grad_f32(&d->win, g.f32(), dx.mf32());
  return kTfLiteOk;
}

TfLiteStatus InvokeMax(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad dx = GetGrad(ctx, node, true, 0, d->dtype);
  const uint8_t* idx = static_cast<const uint8_t*>(In(ctx, node, 1 + GradWidth(d->dtype))->data);
  const tflmt_status st = d->dtype == kGradInt8 ? tflmt_max_pool_grad_s8(&d->win, g.s8(), *g.scale, idx, dx.ms8(),
                                                                          dx.scale, Scratch(ctx, d->scratch_index))
                                                : tflmt_max_pool_grad_f32(&d->win, g.f32(), idx, dx.mf32());
  if (st == TFLMT_BAD_ARG) TFLMT_FAIL(kMaxOp, "an argmax byte names a position outside its pooling window");
  return StatusOf(kMaxOp, st);
}

}  // namespace

TFLMRegistration* Register_AVG_POOL_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, PrepareAvg, InvokeAvg, nullptr);
  return &r;
}

TFLMRegistration* Register_MAX_POOL_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, PrepareMax, InvokeMax, nullptr);
  return &r;
}

}  // namespace tflmt
