// The binary interface of the pinned tflite-micro wheel, as far as kernels/tflm
// needs it. The wheel ships no headers and keeps _runtime.so RTLD_LOCAL, so the
// types are re-declared here with the layouts the wheel uses (checked at bind
// time, see wheel_abi.cc) and every TFLM function is reached through pointers
// found with dlsym. Only kernels/tflm/compat.h includes this file.
//
// Target: tflite-micro 0.dev20261023182759 (g8f6596d), x86-64/aarch64 Linux, LP64.
// In this build the C types live in namespace tflite::micro.
#ifndef TFLMT_HOST_WHEEL_ABI_H_
#define TFLMT_HOST_WHEEL_ABI_H_

#include <cstddef>
#include <cstdint>

namespace tflite {
namespace micro {

enum TfLiteStatus { kTfLiteOk = 0, kTfLiteError = 1 };

enum TfLiteType {
  kTfLiteNoType = 0,
  kTfLiteFloat32 = 1,
  kTfLiteInt32 = 2,
  kTfLiteUInt8 = 3,
  kTfLiteInt8 = 9,
};

struct TfLiteIntArray {
  int size;
  int data[1];  // a flexible array in C; only data[i] for i < size is read
};

struct TfLiteEvalTensor {
  void* data;  // TfLitePtrUnion
  TfLiteIntArray* dims;
  TfLiteType type;
};

// TF_LITE_STATIC_MEMORY variant.
struct TfLiteNode {
  TfLiteIntArray* inputs;
  TfLiteIntArray* outputs;
  TfLiteIntArray* intermediates;
  void* user_data;
  void* builtin_data;
  const void* custom_initial_data;
  int custom_initial_data_size;
};

struct TfLiteContext;  // 8 bytes holding a MicroContext*: opaque to us

struct TFLMRegistration {
  void* (*init)(TfLiteContext*, const char*, size_t);
  void (*free)(TfLiteContext*, void*);
  TfLiteStatus (*prepare)(TfLiteContext*, TfLiteNode*);
  TfLiteStatus (*invoke)(TfLiteContext*, TfLiteNode*);
  void (*reset)(TfLiteContext*, void*);
  int32_t builtin_code;
  const char* custom_name;
};

static_assert(sizeof(void*) == 8, "the wheel ABI is LP64");
static_assert(sizeof(TFLMRegistration) == 0x38, "TFLMRegistration layout");
static_assert(offsetof(TFLMRegistration, custom_name) == 0x30, "TFLMRegistration layout");
static_assert(sizeof(TfLiteNode) == 0x38, "TfLiteNode layout");
static_assert(sizeof(TfLiteEvalTensor) == 0x18, "TfLiteEvalTensor layout");

}  // namespace micro
}  // namespace tflite

namespace tflmt {
namespace host {

using tflite::micro::TfLiteContext;
using tflite::micro::TfLiteEvalTensor;
using tflite::micro::TfLiteNode;
using tflite::micro::TfLiteStatus;
using tflite::micro::TFLMRegistration;

// The wheel's exported kernel-author helpers (bound by BindRuntime()).
struct Api {
  TfLiteEvalTensor* (*get_eval_tensor)(const TfLiteContext*, int);
  void* (*allocate_persistent_buffer)(TfLiteContext*, size_t);
  TfLiteStatus (*request_scratch_buffer)(TfLiteContext*, size_t, int*);
  void* (*get_scratch_buffer)(TfLiteContext*, int);
  void (*micro_printf)(const char*, ...);
  TFLMRegistration (*register_op)(void* (*)(TfLiteContext*, const char*, size_t),
                                  TfLiteStatus (*)(TfLiteContext*, TfLiteNode*),
                                  TfLiteStatus (*)(TfLiteContext*, TfLiteNode*),
                                  void (*)(TfLiteContext*, void*), void (*)(TfLiteContext*, void*));
};

extern Api g_api;

}  // namespace host
}  // namespace tflmt

#endif  // TFLMT_HOST_WHEEL_ABI_H_
