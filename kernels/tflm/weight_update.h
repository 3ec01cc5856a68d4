// Shared Prepare/Invoke of the fused *_WEIGHT_UPDATE ops: the weight gradient
// is formed channel by channel in scratch and applied at once (QAS SGD), so
// the full gradient never exists. inputs: label, g, x, weights | no outputs.
#ifndef TFLMT_TFLM_WEIGHT_UPDATE_H_
#define TFLMT_TFLM_WEIGHT_UPDATE_H_

#include "input_grad.h"
#include "update_common.h"

namespace tflmt {

struct WeightUpdateData {
  int8_t dtype;
  tflmt_window win;     // conv / depthwise
  int32_t out_n, in_n;  // fully connected
  tflmt_quant x;
  tflmt_channel_map channels;  // used when has_channels: x holds only these channels
  bool has_channels;
  int scratch_index;
  UpdateState update;
};

TfLiteStatus PrepareWeightUpdate(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node);
TfLiteStatus InvokeWeightUpdate(const char* op, Layer layer, TfLiteContext* ctx, TfLiteNode* node);

}  // namespace tflmt

#endif
