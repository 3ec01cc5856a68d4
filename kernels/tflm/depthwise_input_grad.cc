// TFLMT_DW_INPUT_GRAD: gradient of DEPTHWISE_CONV_2D's input from its output gradient.
// inputs: label, g, weights | outputs: dx
#include "input_grad.h"
#include "tflmt/tflm.h"

namespace tflmt {
namespace {

const char kOp[] = "TFLMT_DW_INPUT_GRAD";

TfLiteStatus Prepare(TfLiteContext* ctx, TfLiteNode* node) { return PrepareInputGrad(kOp, Layer::kDepthwise, ctx, node); }
TfLiteStatus Invoke(TfLiteContext* ctx, TfLiteNode* node) { return InvokeInputGrad(kOp, Layer::kDepthwise, ctx, node); }

}  // namespace

TFLMRegistration* Register_DW_INPUT_GRAD() {
  static TFLMRegistration r = MakeRegistration(nullptr, Prepare, Invoke, nullptr);
  return &r;
}

}  // namespace tflmt
