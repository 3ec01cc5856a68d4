// TFLMT_PAD_GRAD: backward of PAD: the gradient of the unpadded region.
// inputs: label, g | outputs: dx
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_PAD_GRAD";
constexpr int kMaxRank = 6;

struct OpData {
  int8_t dtype;
  int32_t rank;
  int32_t g_dims[kMaxRank], x_dims[kMaxRank], before[kMaxRank];
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  int8_t dtype;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kPadGradOptions, Arity{1, 1, 0, 1}, &o, &dtype));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  d->dtype = dtype;
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, false, 1, dtype, -1, "output gradient"));
  TFLMT_CHECK(CheckGrad(kOp, ctx, node, true, 0, dtype, -1, "input gradient"));
  const TfLiteEvalTensor* g = In(ctx, node, 1);
  const TfLiteEvalTensor* dx = Out(ctx, node, 0);
  Vec4 before;
  if (!o.Vector(2, &before)) TFLMT_FAIL(kOp, "bad custom options: %s", o.error());
  d->rank = g->dims->size;
  if (d->rank < 1 || d->rank > kMaxRank || dx->dims->size != d->rank || (int32_t)before.count != d->rank) {
    TFLMT_FAIL(kOp, "ranks of gradient, input and paddings differ (or exceed %d)", kMaxRank);
  }
  for (int32_t i = 0; i < d->rank; ++i) {
    d->g_dims[i] = g->dims->data[i];
    d->x_dims[i] = dx->dims->data[i];
    d->before[i] = before.Int((uint32_t)i);
    if (d->before[i] < 0 || d->before[i] > d->g_dims[i] - d->x_dims[i]) {
      TFLMT_FAIL(kOp, "padding of dimension %d does not fit the shapes", (int)i);
    }
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  Grad g = GetGrad(ctx, node, false, 1, d->dtype);
  Grad dx = GetGrad(ctx, node, true, 0, d->dtype);
  const int32_t bytes = d->dtype == kGradInt8 ? 1 : 4;
  TFLMT_CHECK(StatusOf(kOp, tflmt_pad_grad(g.data, d->g_dims, d->before, d->x_dims, d->rank, bytes, dx.data)));
  if (d->dtype == kGradInt8) *dx.scale = *g.scale;
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_PAD_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
