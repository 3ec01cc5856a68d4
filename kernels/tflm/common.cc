#include "common.h"

namespace tflmt {

int32_t Count(const TfLiteEvalTensor* t) {
  if (t == nullptr || t->dims == nullptr || t->dims->size < 0 || t->dims->size > 8) return -1;
  int64_t n = 1;
  for (int i = 0; i < t->dims->size; ++i) {
    if (t->dims->data[i] < 0) return -1;
    n *= t->dims->data[i];
    if (n > INT32_MAX) return -1;
  }
  return (int32_t)n;
}

int32_t DimFromEnd(const TfLiteEvalTensor* t, int d) {
  const int i = t->dims->size + d;
  return i >= 0 && i < t->dims->size ? t->dims->data[i] : 0;
}

TfLiteStatus CheckTensor(const char* op, const TfLiteEvalTensor* t, int type, int32_t count, const char* what) {
  if (t == nullptr) TFLMT_FAIL(op, "tensor '%s' is missing", what);
  if ((int)t->type != type) TFLMT_FAIL(op, "tensor '%s' has type %d, expected %d", what, (int)t->type, type);
  const int32_t n = Count(t);
  if (n < 0) TFLMT_FAIL(op, "tensor '%s' has implausible dims", what);
  if (count >= 0 && n != count) TFLMT_FAIL(op, "tensor '%s' has %d elements, expected %d", what, (int)n, (int)count);
  return kTfLiteOk;
}

TfLiteStatus PrepareCommon(const char* op, TfLiteContext* ctx, TfLiteNode* node, OptionsType type, Arity arity,
                           OptionsTable* options, int8_t* dtype) {
  if (!options->Open(node->custom_initial_data, (size_t)node->custom_initial_data_size, type)) {
    TFLMT_FAIL(op, "bad custom options: %s", options->error());
  }
  int width = 0;
  if (dtype != nullptr) {
    *dtype = options->I8(1, 0);
    if (*dtype != kGradFloat32 && *dtype != kGradInt8) TFLMT_FAIL(op, "unknown gradient dtype %d", (int)*dtype);
    width = GradWidth(*dtype);
  }
  const int required = arity.fixed_inputs + arity.grad_inputs * width;
  const int outputs = arity.fixed_outputs + arity.grad_outputs * width;
  const int inputs = NumInputs(node);
  if (inputs < required || inputs > required + arity.optional_inputs || NumOutputs(node) != outputs) {
    TFLMT_FAIL(op, "expects %d inputs (%d optional) and %d outputs, the model gives %d and %d", required,
               arity.optional_inputs, outputs, inputs, NumOutputs(node));
  }
  for (int i = 0; i < inputs; ++i) {
    if (node->inputs->data[i] < 0) TFLMT_FAIL(op, "input %d is absent", i);
  }
  for (int i = 0; i < outputs; ++i) {
    if (node->outputs->data[i] < 0) TFLMT_FAIL(op, "output %d is absent", i);
  }
  return CheckTensor(op, In(ctx, node, 0), kTfLiteInt32, 1, "label");
}

int32_t Label(TfLiteContext* ctx, const TfLiteNode* node) {
  const TfLiteEvalTensor* t = In(ctx, node, 0);
  return t && t->data ? *static_cast<const int32_t*>(t->data) : -1;
}

TfLiteStatus CheckGrad(const char* op, TfLiteContext* ctx, const TfLiteNode* node, bool output, int first,
                       int8_t dtype, int32_t count, const char* what) {
  if (dtype != kGradFloat32 && dtype != kGradInt8) TFLMT_FAIL(op, "unknown gradient dtype %d", (int)dtype);
  TfLiteEvalTensor* q = output ? Out(ctx, node, first) : In(ctx, node, first);
  TFLMT_CHECK(CheckTensor(op, q, dtype == kGradInt8 ? kTfLiteInt8 : kTfLiteFloat32, count, what));
  if (dtype == kGradInt8) {
    TfLiteEvalTensor* s = output ? Out(ctx, node, first + 1) : In(ctx, node, first + 1);
    TFLMT_CHECK(CheckTensor(op, s, kTfLiteFloat32, 1, "gradient scale"));
  }
  return kTfLiteOk;
}

Grad GetGrad(TfLiteContext* ctx, const TfLiteNode* node, bool output, int first, int8_t dtype) {
  Grad g;
  TfLiteEvalTensor* q = output ? Out(ctx, node, first) : In(ctx, node, first);
  g.data = q->data;
  g.scale = nullptr;
  if (dtype == kGradInt8) {
    TfLiteEvalTensor* s = output ? Out(ctx, node, first + 1) : In(ctx, node, first + 1);
    g.scale = static_cast<float*>(s->data);
  }
  return g;
}

TfLiteStatus CheckGeometry(const char* op, const tflmt_geometry& g) {
  const int32_t lim = 1 << 16;
  if (g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 || g.dilation_w < 1 || g.stride_h > lim ||
      g.stride_w > lim || g.dilation_h > lim || g.dilation_w > lim || g.pad_top < 0 || g.pad_left < 0 ||
      g.pad_top > lim || g.pad_left > lim) {
    TFLMT_FAIL(op, "implausible geometry (strides and dilations must be 1..65536, paddings 0..65536)");
  }
  return kTfLiteOk;
}

TfLiteStatus ReadPoolWindow(const char* op, OptionsTable* o, int geometry_field, tflmt_window* s) {
  if (!o->Geometry(geometry_field, &s->geo)) TFLMT_FAIL(op, "bad custom options: %s", o->error());
  s->geo.dilation_h = s->geo.dilation_w = 1;
  TFLMT_CHECK(CheckGeometry(op, s->geo));
  s->kh = o->I32(geometry_field + 1, 0);
  s->kw = o->I32(geometry_field + 2, 0);
  if (s->kh < 1 || s->kw < 1 || s->kh > 65536 || s->kw > 65536) TFLMT_FAIL(op, "implausible filter size");
  if (s->in.c != s->out.c) TFLMT_FAIL(op, "channel counts differ");
  for (int32_t o2 = 0; o2 < s->out.h; ++o2) {  // every window must hold at least one input
    const int32_t a = o2 * s->geo.stride_h - s->geo.pad_top;
    if (a + s->kh <= 0 || a >= s->in.h) TFLMT_FAIL(op, "pooling window %d lies outside the input", (int)o2);
  }
  for (int32_t o2 = 0; o2 < s->out.w; ++o2) {
    const int32_t a = o2 * s->geo.stride_w - s->geo.pad_left;
    if (a + s->kw <= 0 || a >= s->in.w) TFLMT_FAIL(op, "pooling window %d lies outside the input", (int)o2);
  }
  return kTfLiteOk;
}

TfLiteStatus Shape3(const char* op, const TfLiteEvalTensor* t, const char* what, tflmt_shape3* out) {
  if (t == nullptr || t->dims == nullptr || t->dims->size != 4 || t->dims->data[0] != 1) {
    TFLMT_FAIL(op, "tensor '%s' must be 4-D with batch 1", what);
  }
  out->h = t->dims->data[1];
  out->w = t->dims->data[2];
  out->c = t->dims->data[3];
  if (out->h < 1 || out->w < 1 || out->c < 1) TFLMT_FAIL(op, "tensor '%s' has an empty dimension", what);
  return kTfLiteOk;
}

TfLiteStatus StatusOf(const char* op, tflmt_status st) {
  if (st == TFLMT_OK) return kTfLiteOk;
  if (st == TFLMT_NONFINITE) TFLMT_FAIL(op, "non-finite gradient (the step diverged)");
  TFLMT_FAIL(op, "invalid arguments");
}

TfLiteStatus ReadChannelList(const char* op, TfLiteContext* ctx, OptionsTable* o, int field, int32_t channels,
                             const int32_t** index, int32_t* count) {
  Vec4 v;
  if (!o->Vector(field, &v)) TFLMT_FAIL(op, "bad custom options: %s", o->error());
  *index = nullptr;
  *count = (int32_t)v.count;
  if (v.count == 0) return kTfLiteOk;
  for (uint32_t i = 0; i < v.count; ++i) {
    const int32_t c = v.Int(i);
    if (c < 0 || c >= channels) TFLMT_FAIL(op, "channel %d out of range (0..%d)", (int)c, (int)channels - 1);
    if (i > 0 && c <= v.Int(i - 1)) TFLMT_FAIL(op, "channel list must be sorted and distinct");
  }
  if ((*index = v.InPlaceInts()) != nullptr) return kTfLiteOk;  // read in place (flash)
  int32_t* copy = static_cast<int32_t*>(AllocatePersistent(ctx, sizeof(int32_t) * v.count));
  if (copy == nullptr) TFLMT_FAIL(op, "arena too small");
  for (uint32_t i = 0; i < v.count; ++i) copy[i] = v.Int(i);
  *index = copy;
  return kTfLiteOk;
}

}  // namespace tflmt
