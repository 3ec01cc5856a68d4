// TFLMT_FC_WEIGHT_UPDATE: FULLY_CONNECTED's weight gradient fused with its QAS SGD update.
// inputs: label, g, saved input x, weights | no outputs (updates the trainable copy)
#include "tflmt/tflm.h"
#include "weight_update.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_FC_WEIGHT_UPDATE";

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) {
  return PrepareWeightUpdate(kOp, Layer::kFullyConnected, ctx, node);
}
TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) {
  return InvokeWeightUpdate(kOp, Layer::kFullyConnected, ctx, node);
}

}  // namespace

TFLMRegistration* Register_FC_WEIGHT_UPDATE() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
