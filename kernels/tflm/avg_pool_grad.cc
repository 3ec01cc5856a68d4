// TFLMT_AVG_POOL_GRAD: AVERAGE_POOL_2D backward. inputs: label, g | outputs: dx
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_AVG_POOL_GRAD";

struct OpData {
  int8_t dtype;
  tflmt_window win;
  int scratch_index;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kAvgPoolGradOptions, Arity{1, 1, 0, 1}, &o, &dtype));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  d->scratch_index = -1;
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1, dtype, -1, "output gradient"));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, true, 0, dtype, -1, "input gradient"));
  tflmt_window& s = d->win;
  TFLMT_CHECK(Shape3(kOp, In(ctx, node, 1), "output gradient", &s.out));
  TFLMT_CHECK(Shape3(kOp, Out(ctx, node, 0), "input gradient", &s.in));
  if (!o.Geometry(2, &s.geo)) TFLMT_FAIL(kOp, "bad custom options: %s", o.error());
  s.geo.dilation_h = s.geo.dilation_w = 1;
  TFLMT_CHECK(CheckGeometry(kOp, s.geo));
  s.kh = o.I32(3, 0);
  s.kw = o.I32(4, 0);
  if (s.kh < 1 || s.kw < 1 || s.kh > 65536 || s.kw > 65536) TFLMT_FAIL(kOp, "implausible filter size");
  if (s.in.c != s.out.c) TFLMT_FAIL(kOp, "channel counts differ");
  for (int32_t o2 = 0; o2 < s.out.h; ++o2) {  // every window must hold at least one input
    const int32_t a = o2 * s.geo.stride_h - s.geo.pad_top;
    if (a + s.kh <= 0 || a >= s.in.h) TFLMT_FAIL(kOp, "pooling window %d lies outside the input", (int)o2);
  }
  for (int32_t o2 = 0; o2 < s.out.w; ++o2) {
    const int32_t a = o2 * s.geo.stride_w - s.geo.pad_left;
    if (a + s.kw <= 0 || a >= s.in.w) TFLMT_FAIL(kOp, "pooling window %d lies outside the input", (int)o2);
  }
  if (dtype == kGradInt8 &&
      RequestScratch(ctx, tflmt_avg_pool_grad_s8_scratch_size(&s), &d->scratch_index) != kTfLiteOk) {
    TFLMT_FAIL(kOp, "cannot get scratch");
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad dx = GetGrad(ctx, node, true, 0, d->dtype);
  if (d->dtype == kGradInt8) {
    return StatusOf(kOp, tflmt_avg_pool_grad_s8(&d->win, g.s8(), *g.scale, dx.ms8(), dx.scale,
                                                Scratch(ctx, d->scratch_index)));
  }
  tflmt_avg_pool_grad_f32(&d->win, g.f32(), dx.mf32());
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_AVG_POOL_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
