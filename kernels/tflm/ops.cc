// The table of training ops (names as the converter writes them).
#include "tflmt/tflm.h"

namespace tflmt {

const TrainingOp* TrainingOps(int* count) {
  static const TrainingOp kOps[] = {
      {"TFLMT_CLAMP_MASK", Register_CLAMP_MASK},
      {"TFLMT_SOFTMAX_CE", Register_SOFTMAX_CE},
      {"TFLMT_CLAMP_GRAD", Register_CLAMP_GRAD},
      {"TFLMT_GRAD_ACCUM", Register_GRAD_ACCUM},
      {"TFLMT_CONV_INPUT_GRAD", Register_CONV_INPUT_GRAD},
      {"TFLMT_DW_INPUT_GRAD", Register_DW_INPUT_GRAD},
      {"TFLMT_FC_INPUT_GRAD", Register_FC_INPUT_GRAD},
      {"TFLMT_CONV_WEIGHT_UPDATE", Register_CONV_WEIGHT_UPDATE},
      {"TFLMT_DW_WEIGHT_UPDATE", Register_DW_WEIGHT_UPDATE},
      {"TFLMT_FC_WEIGHT_UPDATE", Register_FC_WEIGHT_UPDATE},
      {"TFLMT_BIAS_UPDATE", Register_BIAS_UPDATE},
      {"TFLMT_AVG_POOL_GRAD", Register_AVG_POOL_GRAD},
      {"TFLMT_MEAN_GRAD", Register_MEAN_GRAD},
      {"TFLMT_PAD_GRAD", Register_PAD_GRAD},
      {"TFLMT_CHANNEL_GATHER", Register_CHANNEL_GATHER},
      {"TFLMT_CHANNEL_MERGE", Register_CHANNEL_MERGE},
      {"TFLMT_MAX_POOL_ARGMAX", Register_MAX_POOL_ARGMAX},
      {"TFLMT_MAX_POOL_GRAD", Register_MAX_POOL_GRAD},
  };
  *count = (int)(sizeof(kOps) / sizeof(kOps[0]));
  return kOps;
}

}  // namespace tflmt
