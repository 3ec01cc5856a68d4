// The slice of the TFLM kernel API our ops use, behind one small interface so
// the same op sources build against TFLM's headers (an app's build) or against
// the pinned Python wheel's binary interface (kernels/host, TFLMT_WHEEL_ABI).
#ifndef TFLMT_TFLM_COMPAT_H_
#define TFLMT_TFLM_COMPAT_H_

#include <cstddef>
#include <cstdint>

#if defined(TFLMT_WHEEL_ABI)
#include "../host/wheel_abi.h"
#else
#include "tensorflow/lite/c/common.h"
#include "tensorflow/lite/micro/kernels/kernel_util.h"
#include "tensorflow/lite/micro/micro_context.h"
#include "tensorflow/lite/micro/micro_log.h"
#endif

namespace tflmt {

#if defined(TFLMT_WHEEL_ABI)
using tflite::micro::kTfLiteError;
using tflite::micro::kTfLiteFloat32;
using tflite::micro::kTfLiteInt32;
using tflite::micro::kTfLiteInt8;
using tflite::micro::kTfLiteOk;
using tflite::micro::kTfLiteUInt8;
using tflite::micro::TfLiteContext;
using tflite::micro::TfLiteEvalTensor;
using tflite::micro::TfLiteIntArray;
using tflite::micro::TfLiteNode;
using tflite::micro::TfLiteStatus;
using tflite::micro::TFLMRegistration;

inline TfLiteEvalTensor* EvalTensor(TfLiteContext* ctx, int index) { return host::g_api.get_eval_tensor(ctx, index); }
inline void* AllocatePersistent(TfLiteContext* ctx, size_t bytes) {
  return host::g_api.allocate_persistent_buffer(ctx, bytes);
}
inline TfLiteStatus RequestScratch(TfLiteContext* ctx, size_t bytes, int* index) {
  return host::g_api.request_scratch_buffer(ctx, bytes, index);
}
inline void* Scratch(TfLiteContext* ctx, int index) { return host::g_api.get_scratch_buffer(ctx, index); }
#define TFLMT_LOG(...) ::tflmt::host::g_api.micro_printf(__VA_ARGS__)
inline TFLMRegistration MakeRegistration(void* (*init)(TfLiteContext*, const char*, size_t),
                                         TfLiteStatus (*prepare)(TfLiteContext*, TfLiteNode*),
                                         TfLiteStatus (*invoke)(TfLiteContext*, TfLiteNode*),
                                         void (*reset)(TfLiteContext*, void*)) {
  return host::g_api.register_op(init, prepare, invoke, nullptr, reset);
}
#else
inline TfLiteEvalTensor* EvalTensor(TfLiteContext* ctx, int index) {
  return tflite::GetMicroContext(ctx)->GetEvalTensor(index);
}
inline void* AllocatePersistent(TfLiteContext* ctx, size_t bytes) {
  return tflite::GetMicroContext(ctx)->AllocatePersistentBuffer(bytes);
}
inline TfLiteStatus RequestScratch(TfLiteContext* ctx, size_t bytes, int* index) {
  return tflite::GetMicroContext(ctx)->RequestScratchBufferInArena(bytes, index);
}
inline void* Scratch(TfLiteContext* ctx, int index) { return tflite::GetMicroContext(ctx)->GetScratchBuffer(index); }
#define TFLMT_LOG(...) MicroPrintf(__VA_ARGS__)
inline TFLMRegistration MakeRegistration(void* (*init)(TfLiteContext*, const char*, size_t),
                                         TfLiteStatus (*prepare)(TfLiteContext*, TfLiteNode*),
                                         TfLiteStatus (*invoke)(TfLiteContext*, TfLiteNode*),
                                         void (*reset)(TfLiteContext*, void*)) {
  return tflite::micro::RegisterOp(init, prepare, invoke, nullptr, reset);
}
#endif

}  // namespace tflmt

#endif  // TFLMT_TFLM_COMPAT_H_
