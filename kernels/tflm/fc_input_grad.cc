// TFLMT_FC_INPUT_GRAD: gradient of FULLY_CONNECTED's input from its output gradient.
// inputs: label, g, weights | outputs: dx
#include "input_grad.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_FC_INPUT_GRAD";

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) { return PrepareInputGrad(kOp, Layer::kFullyConnected, ctx, node); }
TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) { return InvokeInputGrad(kOp, Layer::kFullyConnected, ctx, node); }

}  // namespace

TFLMRegistration* Register_FC_INPUT_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
