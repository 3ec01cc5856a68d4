#include "weight_update.h"

#include <cmath>

namespace tflmt {

// WeightUpdateOptions fields.
enum { kGeometry = 2, kInputScale = 3, kInputZeroPoint = 4, kQas = 5, kInputChannels = 6, kLearningRate = 7 };

TfLiteStatus PrepareWeightUpdate(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(op, ctx, node, kWeightUpdateOptions, Arity{3, 1, 0, 0, 1}, &o, &dtype));
  const int w = GradWidth(dtype);
  WeightUpdateData* d;
  TFLMT_CHECK(NewOpData(op, ctx, &d));
  d->dtype = dtype;
  d->scratch_index = -1;
  TfLiteEvalTensor* g = In(ctx, node, 1);
  TfLiteEvalTensor* x = In(ctx, node, 1 + w);
  TfLiteEvalTensor* wt = In(ctx, node, 2 + w);
  TFLMT_CHECK(CheckGrad(op, ctx, node, false, 1, dtype, -1, "output gradient"));
  TFLMT_CHECK(CheckTensor(op, x, kTfLiteInt8, -1, "saved input"));
  TFLMT_CHECK(CheckTensor(op, wt, kTfLiteInt8, -1, "weights"));
  d->x.scale = o.F32(kInputScale, 0.0f);
  d->x.zero_point = o.I32(kInputZeroPoint, 0);
  if (!std::isfinite(d->x.scale)) TFLMT_FAIL(op, "input scale is not finite");
  // The weights' input channels, and how many of them x holds (all, or the gathered list).
  const int32_t w_in = wt->dims->size > 0 ? wt->dims->data[wt->dims->size - 1] : 0;
  int32_t listed;
  TFLMT_CHECK(ReadChannelList(op, ctx, &o, kInputChannels, w_in, &d->channels.index, &listed));
  d->channels.weight_channels = w_in;
  d->has_channels = listed > 0;
  const int32_t x_channels = d->has_channels ? listed : w_in;
  int32_t out_channels;
  size_t scratch = 0;
  if (layer == Layer::kFullyConnected) {
    if (wt->dims->size != 2) TFLMT_FAIL(op, "weights must be 2-D");
    d->out_n = out_channels = wt->dims->data[0];
    d->in_n = x_channels;
    if (Count(g) != d->out_n || Count(x) != d->in_n) {
      TFLMT_FAIL(op, "gradient/saved input sizes (%d, %d) do not match weights [%d, %d] with %d trained inputs",
                 (int)Count(g), (int)Count(x), (int)d->out_n, (int)w_in, (int)x_channels);
    }
  } else {
    tflmt_window& s = d->win;
    TFLMT_CHECK(Shape3(op, g, "output gradient", &s.out));
    TFLMT_CHECK(Shape3(op, x, "saved input", &s.in));
    if (!o.Geometry(kGeometry, &s.geo)) TFLMT_FAIL(op, "bad custom options: %s", o.error());
    TFLMT_CHECK(CheckGeometry(op, s.geo));
    if (wt->dims->size != 4) TFLMT_FAIL(op, "weights must be 4-D");
    s.kh = wt->dims->data[1];
    s.kw = wt->dims->data[2];
    const bool dw = layer == Layer::kDepthwise;
    const int32_t wo = wt->dims->data[0], wi = wt->dims->data[3];
    if (s.in.c != x_channels || (dw ? (wo != 1 || wi != s.out.c) : wo != s.out.c)) {
      TFLMT_FAIL(op, "weights [%d, %d, %d, %d] do not match the gradient's %d and the saved input's %d channels "
                 "(%d trained)", (int)wo, (int)s.kh, (int)s.kw, (int)wi, (int)s.out.c, (int)s.in.c,
                 (int)x_channels);
    }
    out_channels = s.out.c;
    scratch = dw ? tflmt_depthwise_weight_update_scratch_size(&s) : tflmt_conv_weight_update_scratch_size(&s);
  }
  TFLMT_CHECK(ReadQas(op, ctx, &o, kQas, out_channels, &d->update));
  TFLMT_CHECK(ReadSgd(op, o, kLearningRate, &d->update));
  if (scratch > 0 && RequestScratch(ctx, scratch, &d->scratch_index) != kTfLiteOk) {
    TFLMT_FAIL(op, "cannot get %u bytes of scratch", (unsigned)scratch);
  }
  TFLMT_CHECK(AdoptParameter(op, ctx, node, 2 + w, kTfLiteInt8, &d->update));
  if (NumInputs(node) == 4 + w) {  // one residual byte per weight: 16-bit update precision
    TfLiteEvalTensor* r = In(ctx, node, 3 + w);
    if (Count(r) != Count(wt)) {
      TFLMT_FAIL(op, "residual has %d elements, the weights %d", (int)Count(r), (int)Count(wt));
    }
    TFLMT_CHECK(AdoptResidual(op, ctx, node, 3 + w, &d->update));
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus InvokeWeightUpdate(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  auto* d = static_cast<WeightUpdateData*>(node->user_data);
  const int w = GradWidth(d->dtype);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  const int8_t* x = static_cast<const int8_t*>(In(ctx, node, 1 + w)->data);
  int8_t* wt = static_cast<int8_t*>(d->update.param);
  void* scratch = d->scratch_index >= 0 ? Scratch(ctx, d->scratch_index) : nullptr;
  const tflmt_sgd sgd = d->update.Sgd();
  const float* qas = d->update.qas;
  const tflmt_channel_map* mask = d->has_channels ? &d->channels : nullptr;
  tflmt_status st;
  if (d->dtype == kGradInt8) {
    const float gs = *g.scale;
    switch (layer) {
      case Layer::kConv:
        st = tflmt_conv_weight_update_s8(&d->win, g.s8(), gs, x, d->x, qas, mask, &sgd, wt, scratch);
        break;
      case Layer::kDepthwise:
        st = tflmt_depthwise_weight_update_s8(&d->win, g.s8(), gs, x, d->x, qas, mask, &sgd, wt, scratch);
        break;
      default:
        st = tflmt_fc_weight_update_s8(d->out_n, d->in_n, g.s8(), gs, x, d->x, qas, mask, &sgd, wt);
    }
  } else {
    switch (layer) {
      case Layer::kConv:
        st = tflmt_conv_weight_update_f32(&d->win, g.f32(), x, d->x, qas, mask, &sgd, wt, scratch);
        break;
      case Layer::kDepthwise:
        st = tflmt_depthwise_weight_update_f32(&d->win, g.f32(), x, d->x, qas, mask, &sgd, wt, scratch);
        break;
      default:
        st = tflmt_fc_weight_update_f32(d->out_n, d->in_n, g.f32(), x, d->x, qas, mask, &sgd, wt);
    }
  }
  TFLMT_CHECK(StatusOf(op, st));
  ++d->update.step;
  return kTfLiteOk;
}

}  // namespace tflmt
