// TFLMT_CHANNEL_MERGE: the current weights of a channel-sparse layer, for the op
// that reads them whole (its forward op, its input gradient): the frozen tensor with
// the trained channels put in. SRAM then holds only the trained slice; the merged
// tensor is planned like an activation and lives just until its reader has run.
// The forward op's merge runs for every label (inference reads the trained weights
// too); an input gradient's (option `backward`) only in a training step.
// inputs: label, base (int8 [rows, C]), slice (int8 [rows, K]) | outputs: y (int8 [rows, C])
#include "common.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_CHANNEL_MERGE";
enum { kChannels = 1, kBackward = 2 };

struct OpData {
  const int32_t* index;
  int32_t rows, channels, count;
  bool backward;
};

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  OptionsTable o;
  TFLMT_CHECK(PrepareCommon(kOp, ctx, node, kChannelMergeOptions, Arity{3, 0, 1, 0}, &o, nullptr));
  OpData* d;
  TFLMT_CHECK(NewOpData(kOp, ctx, &d));
  const TfLiteEvalTensor* base = In(ctx, node, 1);
  const TfLiteEvalTensor* slice = In(ctx, node, 2);
  const TfLiteEvalTensor* y = Out(ctx, node, 0);
  TFLMT_CHECK(CheckTensor(kOp, base, kTfLiteInt8, -1, "frozen weights"));
  TFLMT_CHECK(CheckTensor(kOp, slice, kTfLiteInt8, -1, "trained channels"));
  TFLMT_CHECK(CheckTensor(kOp, y, kTfLiteInt8, Count(base), "merged weights"));
  if (base->dims->size < 1 || slice->dims->size != base->dims->size) {
    TFLMT_FAIL(kOp, "the trained channels (%d-D) and the frozen weights (%d-D) differ in rank", (int)slice->dims->size,
               (int)base->dims->size);
  }
  d->channels = base->dims->data[base->dims->size - 1];
  TFLMT_CHECK(ReadChannelList(kOp, ctx, &o, kChannels, d->channels, &d->index, &d->count));
  if (d->count == 0 || d->channels == 0) TFLMT_FAIL(kOp, "empty channel list");
  d->rows = Count(base) / d->channels;
  d->backward = o.I8(kBackward, 0) != 0;
  if (slice->dims->data[slice->dims->size - 1] != d->count || Count(slice) != d->rows * d->count) {
    TFLMT_FAIL(kOp, "the trained channels hold %d elements, not %d rows of the %d listed channels", (int)Count(slice),
               (int)d->rows, (int)d->count);
  }
  node->user_data = d;
  return kTfLiteOk;
}

TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  const auto* d = static_cast<const OpData*>(node->user_data);
  if (d->backward && Label(ctx, node) < 0) return kTfLiteOk;
  // Read the slice's pointer now: its update op repoints it to the SRAM copy in its own Prepare.
  tflmt_channel_merge_s8(static_cast<const int8_t*>(In(ctx, node, 1)->data),
                         static_cast<const int8_t*>(In(ctx, node, 2)->data), d->rows, d->channels, d->index, d->count,
                         static_cast<int8_t*>(Out(ctx, node, 0)->data));
  return kTfLiteOk;
}

}  // namespace

TFLMRegistration* Register_CHANNEL_MERGE() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
