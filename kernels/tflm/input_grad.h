// Shared Prepare of the three *_INPUT_GRAD ops.
// inputs: label, g, weights (int8 constant or trained copy) | outputs: dx
#ifndef TFLMT_TFLM_INPUT_GRAD_H_
#define TFLMT_TFLM_INPUT_GRAD_H_

#include "common.h"

namespace tflmt {

enum class Layer { kConv, kDepthwise, kFullyConnected };

struct InputGradData {
  int8_t dtype;
  tflmt_window win;          // conv / depthwise
  int32_t out_n, in_n;       // fully connected
  const float* w_scales;
  int32_t n_scales;
  int scratch_index;
};

TfLiteStatus PrepareInputGrad(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node);
TfLiteStatus InvokeInputGrad(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node);

}  // namespace tflmt

#endif
