#include "input_grad.h"

#include <cmath>

namespace tflmt {

TfLiteStatus PrepareInputGrad(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(op, ctx, node, kInputGradOptions, Arity{2, 1, 0, 1}, &o, &dtype));
  const int w = GradWidth(dtype);
  InputGradData* d;
  TFLMT_CHECK(NewOpData(op, ctx, &d));
  d->dtype = dtype;
  d->scratch_index = -1;
  TfLiteEvalTensor* g = In(ctx, node, 1);
  TfLiteEvalTensor* wt = In(ctx, node, 1 + w);
  TfLiteEvalTensor* dx = Out(ctx, node, 0);
  TFLMT_CHECK(CheckGrad(op, ctx, node, false, 1, dtype, -1, "output gradient"));
  TFLMT_CHECK(CheckTensor(op, wt, kTfLiteInt8, -1, "weights"));
  TFLMT_CHECK(CheckGrad(op, ctx, node, true, 0, dtype, -1, "input gradient"));
  int32_t out_channels;
  size_t scratch = 0;
  if (layer == Layer::kFullyConnected) {
    if (wt->dims->size != 2) TFLMT_FAIL(op, "weights must be 2-D");
    d->out_n = wt->dims->data[0];
    d->in_n = wt->dims->data[1];
    if (Count(g) != d->out_n || Count(dx) != d->in_n) {
      TFLMT_FAIL(op, "gradient sizes (%d, %d) do not match weights [%d, %d]", (int)Count(g), (int)Count(dx),
                 (int)d->out_n, (int)d->in_n);
    }
    out_channels = d->out_n;
    if (dtype == kGradInt8) scratch = tflmt_fc_input_grad_s8_scratch_size(d->out_n, d->in_n);
  } else {
    tflmt_window& s = d->win;
    TFLMT_CHECK(Shape3(op, g, "output gradient", &s.out));
    TFLMT_CHECK(Shape3(op, dx, "input gradient", &s.in));
    if (!o.Geometry(2, &s.geo)) TFLMT_FAIL(op, "bad custom options: %s", o.error());
    TFLMT_CHECK(CheckGeometry(op, s.geo));
    if (wt->dims->size != 4) TFLMT_FAIL(op, "weights must be 4-D");
    s.kh = wt->dims->data[1];
    s.kw = wt->dims->data[2];
    const bool dw = layer == Layer::kDepthwise;
    const int32_t wo = wt->dims->data[0], wi = wt->dims->data[3];
    if (dw ? (wo != 1 || wi != s.in.c || s.out.c != s.in.c) : (wo != s.out.c || wi != s.in.c)) {
      TFLMT_FAIL(op, "weights shape does not match the gradients' channels");
    }
    out_channels = s.out.c;
    if (dtype == kGradInt8) {
      scratch = dw ? tflmt_depthwise_input_grad_s8_scratch_size(&s) : tflmt_conv_input_grad_s8_scratch_size(&s);
    }
  }
  Vec4 scales;
  if (!o.Vector(3, &scales)) TFLMT_FAIL(op, "bad custom options: %s", o.error());
  if (scales.count != 1 && (int32_t)scales.count != out_channels) {
    TFLMT_FAIL(op, "%u weight scales for %d channels", (unsigned)scales.count, (int)out_channels);
  }
  for (uint32_t i = 0; i < scales.count; ++i) {
    const float v = scales.Float(i);
    if (!std::isfinite(v) || v <= 0.0f) TFLMT_FAIL(op, "weight scale %u must be finite and > 0", (unsigned)i);
  }
  // Read the scales in place from the (flash-resident) options when aligned: no SRAM copy.
  const float* ws = scales.InPlaceFloats();
  if (ws == nullptr) {
    float* copy = static_cast<float*>(AllocatePersistent(ctx, sizeof(float) * scales.count));
    if (copy == nullptr) TFLMT_FAIL(op, "arena too small");
    for (uint32_t i = 0; i < scales.count; ++i) copy[i] = scales.Float(i);
    ws = copy;
  }
  d->w_scales = ws;
  d->n_scales = (int32_t)scales.count;
  if (scratch > 0 && RequestScratch(ctx, scratch, &d->scratch_index) != kTfLiteOk) {
    TFLMT_FAIL(op, "cannot get %u bytes of scratch", (unsigned)scratch);
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus InvokeInputGrad(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const InputGradData*>(node->user_data);
  const int w = GradWidth(d->dtype);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad dx = GetGrad(ctx, node, true, 0, d->dtype);
  const int8_t* wt = static_cast<const int8_t*>(In(ctx, node, 1 + w)->data);
  void* scratch = d->scratch_index >= 0 ? Scratch(ctx, d->scratch_index) : nullptr;
  if (d->dtype == kGradInt8) {
    tflmt_status st;
    switch (layer) {
      case Layer::kConv:
        st = tflmt_conv_input_grad_s8(&d->win, g.s8(), *g.scale, wt, d->w_scales, d->n_scales, dx.ms8(), dx.scale,
                                      scratch);
        break;
      case Layer::kDepthwise:
        st = tflmt_depthwise_input_grad_s8(&d->win, g.s8(), *g.scale, wt, d->w_scales, d->n_scales, dx.ms8(),
                                           dx.scale, scratch);
        break;
      default:
        st = tflmt_fc_input_grad_s8(d->out_n, d->in_n, g.s8(), *g.scale, wt, d->w_scales, d->n_scales, dx.ms8(),
                                    dx.scale, scratch);
    }
    return StatusOf(op, st);
  }
  switch (layer) {
    case Layer::kConv:
      tflmt_conv_input_grad_f32(&d->win, g.f32(), wt, d->w_scales, d->n_scales, dx.mf32());
      break;
    case Layer::kDepthwise:
      tflmt_depthwise_input_grad_f32(&d->win, g.f32(), wt, d->w_scales, d->n_scales, dx.mf32());
      break;
    default:
      tflmt_fc_input_grad_f32(d->out_n, d->in_n, g.f32(), wt, d->w_scales, d->n_scales, dx.mf32());
  }
  return kTfLiteOk;
}

}  // namespace tflmt
