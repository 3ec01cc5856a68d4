// Host only: the wheel's reference CONV_2D and DEPTHWISE_CONV_2D kernels replaced,
// op by op, by kernels/core's optimised int8 kernels (bit-exact with TFLM's
// reference kernels; tests/test_fast_forward.py holds them equal in the wheel).
//
// On a device an app already picks its forward kernels (CMSIS-NN, or kernels/core
// through the generated C). The Python wheel is built with TFLM's reference
// kernels only, so without this the host's training step is bounded by them.
//
// Python registers one plan per forward op it wants replaced (the parameters
// TFLM's Prepare would compute: forward_params.py), keyed by the address of the
// op's weight buffer in the model copy the interpreter runs (its bias buffer when
// the weights are a channel slice's merged tensor, which has none) plus the op's
// output tensor index. The wrapped Prepare runs the wheel's own Prepare first (its
// checks and OpData stay), then binds the node to its plan; a node without a plan
// runs the wheel's kernel unchanged.
#include <cstring>

#include "tflmt/forward.h"
#include "wheel_abi.h"

#define TFLMT_EXPORT extern "C" __attribute__((visibility("default")))

namespace tflmt {
namespace host {
namespace {

using tflite::micro::kTfLiteError;
using tflite::micro::kTfLiteOk;

enum Kind { kConv = 0, kDepthwise = 1, kKinds = 2 };
constexpr int32_t kBuiltinCode[kKinds] = {3, 4};  // BuiltinOperator_CONV_2D, _DEPTHWISE_CONV_2D
constexpr int kCapacity = 2048;

struct Plan {
  const void* key;  // weight buffer address in the interpreter's model
  int32_t out_tensor;
  int32_t kind;
  tflmt_window window;
  tflmt_requant requant;  // multiplier/shift arrays owned by Python (kept alive with the plan)
  const TfLiteNode* node;  // bound in Prepare
  int scratch;
};

Plan g_plans[kCapacity];
int g_count = 0;
unsigned long long g_calls = 0;
TFLMRegistration g_original[kKinds];

int Dim(const TfLiteEvalTensor* t, int i) { return i < t->dims->size ? t->dims->data[i] : -1; }

bool MatchesShape(const TfLiteEvalTensor* t, const tflmt_shape3& s) {
  return t->dims->size == 4 && Dim(t, 0) == 1 && Dim(t, 1) == s.h && Dim(t, 2) == s.w && Dim(t, 3) == s.c;
}

Plan* PlanOf(const TfLiteNode* node) {
  for (int i = 0; i < g_count; ++i) {
    if (g_plans[i].node == node) return &g_plans[i];
  }
  return nullptr;
}

TfLiteStatus PrepareKind(Kind kind, TfLiteContext* ctx, TfLiteNode* node) {
  TfLiteStatus st = g_original[kind].prepare ? g_original[kind].prepare(ctx, node) : kTfLiteOk;
  if (st != kTfLiteOk) return st;
  for (int i = 0; i < g_count; ++i) {  // a node address of an interpreter that is gone
    if (g_plans[i].node == node) g_plans[i].node = nullptr;
  }
  const TfLiteEvalTensor* x = g_api.get_eval_tensor(ctx, node->inputs->data[0]);
  const TfLiteEvalTensor* w = g_api.get_eval_tensor(ctx, node->inputs->data[1]);
  const TfLiteEvalTensor* y = g_api.get_eval_tensor(ctx, node->outputs->data[0]);
  if (x == nullptr || w == nullptr || y == nullptr) return kTfLiteOk;
  // The bias still points into the model here: a trained bias is repointed by its update op's
  // Prepare, which runs after this forward op's.
  const TfLiteEvalTensor* b =
      node->inputs->size > 2 && node->inputs->data[2] >= 0 ? g_api.get_eval_tensor(ctx, node->inputs->data[2]) : nullptr;
  for (int i = 0; i < g_count; ++i) {
    Plan& p = g_plans[i];
    const bool keyed = p.key == w->data || (b != nullptr && p.key == b->data);
    if (!keyed || p.out_tensor != node->outputs->data[0] || p.kind != kind) continue;
    if (!MatchesShape(x, p.window.in) || !MatchesShape(y, p.window.out) || x->type != tflite::micro::kTfLiteInt8) {
      g_api.micro_printf("tflm-train fast forward: the plan of %s output tensor %d does not match its tensors",
                         kind == kConv ? "CONV_2D" : "DEPTHWISE_CONV_2D", p.out_tensor);
      return kTfLiteError;
    }
    p.scratch = -1;
    if (kind == kConv) {
      st = g_api.request_scratch_buffer(ctx, tflmt_conv2d_s8_scratch_size(&p.window), &p.scratch);
      if (st != kTfLiteOk) return st;
    }
    p.node = node;
    return kTfLiteOk;
  }
  return kTfLiteOk;
}

TfLiteStatus InvokeKind(Kind kind, TfLiteContext* ctx, TfLiteNode* node) {
  const Plan* p = PlanOf(node);
  if (p == nullptr) return g_original[kind].invoke(ctx, node);
  const TfLiteEvalTensor* x = g_api.get_eval_tensor(ctx, node->inputs->data[0]);
  const TfLiteEvalTensor* w = g_api.get_eval_tensor(ctx, node->inputs->data[1]);
  const TfLiteEvalTensor* b =
      node->inputs->size > 2 && node->inputs->data[2] >= 0 ? g_api.get_eval_tensor(ctx, node->inputs->data[2]) : nullptr;
  TfLiteEvalTensor* y = g_api.get_eval_tensor(ctx, node->outputs->data[0]);
  const int8_t* xd = static_cast<const int8_t*>(x->data);
  const int8_t* wd = static_cast<const int8_t*>(w->data);  // the trained copy once an update op repointed it
  const int32_t* bd = b ? static_cast<const int32_t*>(b->data) : nullptr;
  int8_t* yd = static_cast<int8_t*>(y->data);
  if (kind == kConv) {
    tflmt_conv2d_s8(&p->window, &p->requant, xd, wd, bd, yd, g_api.get_scratch_buffer(ctx, p->scratch));
  } else {
    tflmt_depthwise_conv2d_s8(&p->window, &p->requant, xd, wd, bd, yd);
  }
  ++g_calls;
  return kTfLiteOk;
}

TfLiteStatus PrepareConv(TfLiteContext* c, TfLiteNode* n) { return PrepareKind(kConv, c, n); }
TfLiteStatus InvokeConv(TfLiteContext* c, TfLiteNode* n) { return InvokeKind(kConv, c, n); }
TfLiteStatus PrepareDepthwise(TfLiteContext* c, TfLiteNode* n) { return PrepareKind(kDepthwise, c, n); }
TfLiteStatus InvokeDepthwise(TfLiteContext* c, TfLiteNode* n) { return InvokeKind(kDepthwise, c, n); }

}  // namespace

bool WrapForwardKernels(TFLMRegistration* (*find_builtin)(void* resolver, int32_t code), void* resolver) {
  static TfLiteStatus (*const prepare[kKinds])(TfLiteContext*, TfLiteNode*) = {PrepareConv, PrepareDepthwise};
  static TfLiteStatus (*const invoke[kKinds])(TfLiteContext*, TfLiteNode*) = {InvokeConv, InvokeDepthwise};
  for (int k = 0; k < kKinds; ++k) {
    TFLMRegistration* reg = find_builtin(resolver, kBuiltinCode[k]);
    if (reg == nullptr || reg->invoke == invoke[k]) continue;  // not in this resolver, or wrapped already
    if (g_original[k].invoke == nullptr) {
      g_original[k] = *reg;
    } else if (g_original[k].invoke != reg->invoke || g_original[k].prepare != reg->prepare) {
      return false;  // another kernel than the one we saved: refuse rather than guess
    }
    reg->prepare = prepare[k];
    reg->invoke = invoke[k];
  }
  return true;
}

}  // namespace host
}  // namespace tflmt

using namespace tflmt::host;

// A plan for one forward op. kind: 0 CONV_2D, 1 DEPTHWISE_CONV_2D. The requant's
// arrays must outlive the plan. 1 on success, 0 when the table is full.
TFLMT_EXPORT int tflmt_host_fast_forward_add(const void* key, int32_t out_tensor, int32_t kind,
                                             const tflmt_window* window, const tflmt_requant* requant) {
  if (g_count >= kCapacity || kind < 0 || kind >= kKinds) return 0;
  g_plans[g_count++] = Plan{key, out_tensor, kind, *window, *requant, nullptr, -1};
  return 1;
}

// Drops the plans of a model copy [lo, hi) (its interpreter is gone).
TFLMT_EXPORT void tflmt_host_fast_forward_forget(const void* lo, const void* hi) {
  int kept = 0;
  for (int i = 0; i < g_count; ++i) {
    const char* k = static_cast<const char*>(g_plans[i].key);
    if (k >= static_cast<const char*>(lo) && k < static_cast<const char*>(hi)) continue;
    g_plans[kept++] = g_plans[i];
  }
  g_count = kept;
}

// How many forward ops ran on kernels/core since the library loaded (tests check the path is taken).
TFLMT_EXPORT unsigned long long tflmt_host_fast_forward_calls(void) { return g_calls; }
