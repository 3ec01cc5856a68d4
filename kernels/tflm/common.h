// Shared plumbing of the TFLMT_* op registrations: tensor access, Prepare-time
// checks with messages that name the op and tensor, and the gradient views.
//
// Every TFLMT op takes the label (int32[1]) as input 0; a negative label makes
// the call an inference and every TFLMT op returns at once.
#ifndef TFLMT_TFLM_COMMON_H_
#define TFLMT_TFLM_COMMON_H_

#include <new>

#include "compat.h"
#include "options.h"
#include "tflmt/core.h"

namespace tflmt {

#define TFLMT_FAIL(op, fmt, ...)                  \
  do {                                            \
    TFLMT_LOG("%s: " fmt, op, ##__VA_ARGS__);     \
    return kTfLiteError;                          \
  } while (0)

#define TFLMT_CHECK(expr)                         \
  do {                                            \
    if ((expr) != kTfLiteOk) return kTfLiteError; \
  } while (0)

inline int NumInputs(const TfLiteNode* node) { return node->inputs ? node->inputs->size : 0; }
inline int NumOutputs(const TfLiteNode* node) { return node->outputs ? node->outputs->size : 0; }
inline TfLiteEvalTensor* In(TfLiteContext* ctx, const TfLiteNode* node, int i) {
  return EvalTensor(ctx, node->inputs->data[i]);
}
inline TfLiteEvalTensor* Out(TfLiteContext* ctx, const TfLiteNode* node, int i) {
  return EvalTensor(ctx, node->outputs->data[i]);
}

// Number of elements; -1 if the dims are missing or implausible.
int32_t Count(const TfLiteEvalTensor* t);
// Dimension d counted from the end (-1 = last); 0 if the rank is too small.
int32_t DimFromEnd(const TfLiteEvalTensor* t, int d);

// How many inputs/outputs an op has: fixed ones plus gradients, each 1 tensor (float32) or 2 (int8 + scale).
struct Arity {
  int fixed_inputs, grad_inputs, fixed_outputs, grad_outputs;
  int optional_inputs;  // after the others (a weight update's residual bytes); 0 when omitted
};

// Parses the options (and, if `dtype` is given, their grad_dtype, field 1), then checks the node's
// input/output counts against `arity` and the label input.
TfLiteStatus PrepareCommon(const char* op, TfLiteContext* ctx, TfLiteNode* node, OptionsType type, Arity arity,
                           OptionsTable* options, int8_t* dtype);

// A value-initialised OpData in the persistent arena.
template <typename T>
TfLiteStatus NewOpData(const char* op, TfLiteContext* ctx, T** out) {
  void* p = AllocatePersistent(ctx, sizeof(T));
  if (p == nullptr) TFLMT_FAIL(op, "arena too small");
  *out = new (p) T();
  return kTfLiteOk;
}
// Checks a tensor's type and (if count >= 0) its element count.
TfLiteStatus CheckTensor(const char* op, const TfLiteEvalTensor* t, int type, int32_t count, const char* what);

// The label of this call (input 0).
int32_t Label(TfLiteContext* ctx, const TfLiteNode* node);

inline int GradWidth(int8_t dtype) { return dtype == kGradInt8 ? 2 : 1; }

// A gradient: float32 data, or int8 data plus a float32[1] scale tensor.
struct Grad {
  void* data;
  float* scale;  // int8 only
  const float* f32() const { return static_cast<const float*>(data); }
  const int8_t* s8() const { return static_cast<const int8_t*>(data); }
  float* mf32() const { return static_cast<float*>(data); }
  int8_t* ms8() const { return static_cast<int8_t*>(data); }
};

// Checks the gradient that starts at input (or output) `first`; count -1 = any.
TfLiteStatus CheckGrad(const char* op, TfLiteContext* ctx, const TfLiteNode* node, bool output, int first,
                       int8_t dtype, int32_t count, const char* what);
Grad GetGrad(TfLiteContext* ctx, const TfLiteNode* node, bool output, int first, int8_t dtype);

TfLiteStatus CheckGeometry(const char* op, const tflmt_geometry& g);
// The batch-1 NHWC shape of a 4-D tensor (h, w, c), or fails.
TfLiteStatus Shape3(const char* op, const TfLiteEvalTensor* t, const char* what, tflmt_shape3* out);

TfLiteStatus StatusOf(const char* op, tflmt_status st);

// A pooling window's geometry (options field `geometry_field`, the filter height and width in the
// next two) into s->geo / s->kh / s->kw, with s->in and s->out already set: plausible sizes, the
// same channel count, and at least one input in every window.
TfLiteStatus ReadPoolWindow(const char* op, OptionsTable* o, int geometry_field, tflmt_window* s);

// A channel list option (sorted, distinct, each in [0, channels)), read in place
// from the options when aligned, else copied to the persistent arena. An empty
// list gives *index = nullptr, *count = 0.
TfLiteStatus ReadChannelList(const char* op, TfLiteContext* ctx, OptionsTable* o, int field, int32_t channels,
                             const int32_t** index, int32_t* count);

}  // namespace tflmt

#endif  // TFLMT_TFLM_COMMON_H_
