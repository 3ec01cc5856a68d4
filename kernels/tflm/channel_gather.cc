// TFLMT_CHANNEL_GATHER: in the forward pass, copy the input channels a
// channel-sparse weight update trains, so only they are kept for the backward.
// inputs: label, x (int8, [pixels, C] in its last axis) | outputs: y (int8, [pixels, K])
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_CHANNEL_GATHER";
enum { kChannels = 1 };

struct OpData {
  const int32_t* index;
  int32_t pixels, channels, count;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kChannelGatherOptions, Arity{2, 0, 1, 0}, &o, nullptr));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  const TfLiteEvalTensor* x = In(ctx, node, 1);
  const TfLiteEvalTensor* y = Out(ctx, node, 0);
  TFLMT_CHECK(CheckTensor(kOp, x, kTfLiteInt8, -1, "input"));
  TFLMT_CHECK(CheckTensor(kOp, y, kTfLiteInt8, -1, "output"));
  // x is [pixels, C] and y [pixels, K]: pixels from y and the list, C from x.
  int32_t count;
  TFLMT_CHECK(ReadChannelList(kOp, ctx, &o, kChannels, Count(x), &d->index, &count));
  if (count == 0 || Count(y) % count != 0 || Count(y) == 0 || Count(x) % (Count(y) / count) != 0) {
    TFLMT_FAIL(kOp, "output of %d elements does not hold %d channels of an input of %d elements", (int)Count(y),
               (int)count, (int)Count(x));
  }
  d->count = count;
  d->pixels = Count(y) / count;
  d->channels = Count(x) / d->pixels;
  for (int32_t k = 0; k < count; ++k) {
    if (d->index[k] >= d->channels) {
      TFLMT_FAIL(kOp, "channel %d out of range (0..%d)", (int)d->index[k], (int)d->channels - 1);
    }
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  if (Label(ctx, node) < 0) return kTfLiteOk;
  const auto* d = static_cast<const OpData*>(node->user_data);
  tflmt_channel_gather_s8(static_cast<const int8_t*>(In(ctx, node, 1)->data), d->pixels, d->channels, d->index,
                          d->count, static_cast<int8_t*>(Out(ctx, node, 0)->data));
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_CHANNEL_GATHER() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
