// Registers the TFLMT_* ops into the op resolver of the pinned tflite-micro
// wheel, which does not export MicroMutableOpResolver::AddCustom.
//
// The wheel calls a registerer by name (dlsym) with its resolver, a
// tflite::PythonOpsResolver = MicroMutableOpResolver<200>, before it builds
// the interpreter. We bind to _runtime.so (already loaded, RTLD_LOCAL) by
// mangled names, check every layout fact we rely on against the wheel's own
// code, and append our registrations the way AddCustom would. Any mismatch is
// an error message for Python, never a write. Layout facts: see
// ../shared reference "tflm-wheel-abi" and docs in kernels/README.md.
#include <dlfcn.h>

#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "tflmt/state.h"
#include "tflmt/tflm.h"
#include "wheel_abi.h"

#define TFLMT_EXPORT extern "C" __attribute__((visibility("default")))

namespace tflmt {
namespace host {

Api g_api;

namespace {

using tflite::micro::kTfLiteInt8;

constexpr unsigned kCapacity = 200;
constexpr int32_t kBuiltinCustom = 32;

struct Resolver {  // tflite::micro::MicroMutableOpResolver<200>
  const void* vptr;
  TFLMRegistration regs[kCapacity];
  unsigned len;
  int32_t builtin_codes[kCapacity];
  void* parsers[kCapacity];
  unsigned num_builtin;
};
static_assert(offsetof(Resolver, regs) == 0x8, "registrations_");
static_assert(offsetof(Resolver, len) == 0x2bc8, "registrations_len_");
static_assert(offsetof(Resolver, builtin_codes) == 0x2bcc, "builtin_codes_");
static_assert(offsetof(Resolver, parsers) == 0x2ef0, "builtin_parsers_");
static_assert(sizeof(Resolver) == 0x3538, "sizeof(PythonOpsResolver)");

struct Binding {
  bool bound = false;
  const void* base = nullptr;  // load address of _runtime.so
  const void* vtable = nullptr;
  const TFLMRegistration* (*find_by_name)(const Resolver*, const char*) = nullptr;
  const TFLMRegistration* (*find_by_code)(const Resolver*, int) = nullptr;
  void* (*get_parser)(const Resolver*, int) = nullptr;
  const char* (*type_name)(int) = nullptr;
};

Binding g_bind;
char g_error[1024] = "";
tflmt_trainable g_state[4096];  // trainable copies seen by Python (state.h)

bool Fail(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
  return false;
}

struct Symbol {
  const char* mangled;
  const char* what;
  void** slot;
};

bool BindHandle(void* h, const char* path) {
  Symbol symbols[] = {
      {"_ZTVN6tflite17PythonOpsResolverE", "vtable for tflite::PythonOpsResolver", (void**)&g_bind.vtable},
      {"_ZNK6tflite5micro22MicroMutableOpResolverILj200EE6FindOpEPKc", "MicroMutableOpResolver<200>::FindOp(const char*)",
       (void**)&g_bind.find_by_name},
      {"_ZNK6tflite5micro22MicroMutableOpResolverILj200EE6FindOpENS_15BuiltinOperatorE",
       "MicroMutableOpResolver<200>::FindOp(BuiltinOperator)", (void**)&g_bind.find_by_code},
      {"_ZNK6tflite5micro22MicroMutableOpResolverILj200EE15GetOpDataParserENS_15BuiltinOperatorE",
       "MicroMutableOpResolver<200>::GetOpDataParser", (void**)&g_bind.get_parser},
      {"_ZN6tflite5micro17TfLiteTypeGetNameENS0_10TfLiteTypeE", "TfLiteTypeGetName", (void**)&g_bind.type_name},
      {"_ZN6tflite5micro25MicroContextGetEvalTensorEPKNS0_13TfLiteContextEi", "MicroContextGetEvalTensor",
       (void**)&g_api.get_eval_tensor},
      {"_ZN6tflite5micro36MicroContextAllocatePersistentBufferEPNS0_13TfLiteContextEm",
       "MicroContextAllocatePersistentBuffer", (void**)&g_api.allocate_persistent_buffer},
      {"_ZN6tflite5micro39MicroContextRequestScratchBufferInArenaEPNS0_13TfLiteContextEmPi",
       "MicroContextRequestScratchBufferInArena", (void**)&g_api.request_scratch_buffer},
      {"_ZN6tflite5micro28MicroContextGetScratchBufferEPNS0_13TfLiteContextEi", "MicroContextGetScratchBuffer",
       (void**)&g_api.get_scratch_buffer},
      {"_Z11MicroPrintfPKcz", "MicroPrintf", (void**)&g_api.micro_printf},
      {"_ZN6tflite5micro10RegisterOpEPFPvPNS0_13TfLiteContextEPKcmEPFNS0_12TfLiteStatusES3_PNS0_10TfLiteNodeEESC_PFvS3_S1_ESE_",
       "tflite::micro::RegisterOp", (void**)&g_api.register_op},
  };
  for (const Symbol& s : symbols) {
    *s.slot = dlsym(h, s.mangled);
    if (*s.slot == nullptr) {
      return Fail("incompatible tflite-micro wheel (%s): %s [%s] not found; tflm-train supports "
                  "tflite-micro==0.dev20261023182759 only", path, s.what, s.mangled);
    }
  }
  if (dlsym(h, "_ZTSN6tflite5micro22MicroMutableOpResolverILj200EEE") == nullptr) {
    return Fail("incompatible tflite-micro wheel: MicroMutableOpResolver<200> typeinfo not found");
  }
  // TFLMRegistration field order, witnessed by the wheel's own RegisterOp.
  TFLMRegistration r = g_api.register_op(
      reinterpret_cast<void* (*)(TfLiteContext*, const char*, size_t)>(0x1001),
      reinterpret_cast<TfLiteStatus (*)(TfLiteContext*, TfLiteNode*)>(0x1003),
      reinterpret_cast<TfLiteStatus (*)(TfLiteContext*, TfLiteNode*)>(0x1004),
      reinterpret_cast<void (*)(TfLiteContext*, void*)>(0x1002), reinterpret_cast<void (*)(TfLiteContext*, void*)>(0x1005));
  if ((uintptr_t)r.init != 0x1001 || (uintptr_t)r.free != 0x1002 || (uintptr_t)r.prepare != 0x1003 ||
      (uintptr_t)r.invoke != 0x1004 || (uintptr_t)r.reset != 0x1005 || r.builtin_code != 0 || r.custom_name) {
    return Fail("incompatible tflite-micro wheel: TFLMRegistration layout differs");
  }
  const struct {
    int code;
    const char* name;
  } types[] = {{1, "FLOAT32"}, {2, "INT32"}, {3, "UINT8"}, {kTfLiteInt8, "INT8"}};
  for (const auto& t : types) {
    const char* n = g_bind.type_name(t.code);
    if (n == nullptr || strcmp(n, t.name) != 0) {
      return Fail("incompatible tflite-micro wheel: TfLiteType %d is '%s', expected %s", t.code, n ? n : "?", t.name);
    }
  }
  Dl_info info;
  if (dladdr(g_bind.vtable, &info) == 0) return Fail("dladdr on the resolver vtable failed");
  g_bind.base = info.dli_fbase;
  g_bind.bound = true;
  return true;
}

bool InRuntime(const void* p) {
  Dl_info info;
  return p != nullptr && dladdr(p, &info) != 0 && info.dli_fbase == g_bind.base;
}

bool SaneName(const char* s) {
  Dl_info info;
  if (s == nullptr || dladdr(s, &info) == 0) return false;
  for (int i = 0; i < 64; ++i) {
    if (s[i] == 0) return i > 0;
    if (s[i] < 0x20 || s[i] > 0x7e) return false;
  }
  return false;
}

// Structure first (no calls), then behaviour: the wheel's own lookups must
// return exactly the entries where our layout says they are.
bool Validate(const Resolver* r) {
  const void* vptr = static_cast<const char*>(g_bind.vtable) + 2 * sizeof(void*);
  if (r == nullptr || r->vptr != vptr) return Fail("the registerer was not given a tflite::PythonOpsResolver");
  if (r->len == 0 || r->len >= kCapacity || r->num_builtin > r->len) {
    return Fail("implausible resolver counters (%u registrations, %u builtins)", r->len, r->num_builtin);
  }
  unsigned builtin = 0;
  for (unsigned i = 0; i < r->len; ++i) {
    const TFLMRegistration& reg = r->regs[i];
    Dl_info info;
    if (reg.invoke == nullptr || dladdr(reinterpret_cast<const void*>(reg.invoke), &info) == 0) {
      return Fail("resolver entry %u has no invoke function in a loaded object", i);
    }
    if (reg.builtin_code == kBuiltinCustom) {
      if (!SaneName(reg.custom_name) || g_bind.find_by_name(r, reg.custom_name) != &reg) {
        return Fail("resolver entry %u (custom) does not match the wheel's FindOp", i);
      }
      continue;
    }
    if (builtin >= r->num_builtin || r->builtin_codes[builtin] != reg.builtin_code ||
        !InRuntime(reinterpret_cast<const void*>(reg.invoke)) || !InRuntime(r->parsers[builtin]) ||
        g_bind.find_by_code(r, reg.builtin_code) != &reg ||
        g_bind.get_parser(r, reg.builtin_code) != r->parsers[builtin]) {
      return Fail("resolver entry %u (builtin %d) does not match the wheel's FindOp/GetOpDataParser", i,
                  reg.builtin_code);
    }
    ++builtin;
  }
  if (builtin != r->num_builtin) return Fail("resolver holds %u builtins, counter says %u", builtin, r->num_builtin);
  return true;
}

bool Append(Resolver* r, const char* name, const TFLMRegistration* tmpl) {
  const TFLMRegistration* existing = g_bind.find_by_name(r, name);
  if (existing != nullptr) {
    if (existing->invoke == tmpl->invoke) return true;
    return Fail("custom op %s is already registered by another library", name);
  }
  if (r->len >= kCapacity) return Fail("the wheel's op resolver is full (%u ops)", kCapacity);
  const unsigned slot = r->len;
  r->regs[slot] = *tmpl;
  r->regs[slot].builtin_code = kBuiltinCustom;
  r->regs[slot].custom_name = name;  // static storage: the resolver keeps the pointer
  r->len = slot + 1;
  if (g_bind.find_by_name(r, name) != &r->regs[slot]) {
    r->len = slot;
    memset(&r->regs[slot], 0, sizeof r->regs[slot]);
    return Fail("after appending %s the wheel's FindOp does not see it (rolled back)", name);
  }
  return true;
}

// The resolver's own entry of a builtin (to wrap its kernel), or nullptr.
TFLMRegistration* FindBuiltin(void* resolver, int32_t code) {
  auto* r = static_cast<Resolver*>(resolver);
  const TFLMRegistration* reg = g_bind.find_by_code(r, code);
  if (reg < &r->regs[0] || reg >= &r->regs[r->len]) return nullptr;  // not an entry of this resolver
  return const_cast<TFLMRegistration*>(reg);
}

}  // namespace

bool WrapForwardKernels(TFLMRegistration* (*find_builtin)(void*, int32_t), void* resolver);  // fast_forward.cc

}  // namespace host
}  // namespace tflmt

using namespace tflmt::host;

// Python pre-flight: bind to the already loaded _runtime.so. 1 on success.
TFLMT_EXPORT int tflmt_host_bind(const char* runtime_path) {
  if (g_bind.bound) return 1;
  void* h = dlopen(runtime_path, RTLD_NOW | RTLD_NOLOAD);
  if (h == nullptr) {
    Fail("%s is not loaded (import tflite_micro first): %s", runtime_path, dlerror());
    return 0;
  }
  if (!BindHandle(h, runtime_path)) return 0;
  tflmt_state_attach(g_state, (int32_t)(sizeof g_state / sizeof g_state[0]));
  return 1;
}

TFLMT_EXPORT const char* tflmt_host_last_error(void) { return g_error; }

// The registerer: custom_op_registerers=["TflmtRegisterTrainingOps"].
TFLMT_EXPORT bool TflmtRegisterTrainingOps(void* resolver) {
  if (!g_bind.bound) return Fail("tflmt_host_bind was not called");
  auto* r = static_cast<Resolver*>(resolver);
  if (!Validate(r)) return false;
  int n = 0;
  const tflmt::TrainingOp* ops = tflmt::TrainingOps(&n);
  for (int i = 0; i < n; ++i) {
    if (!Append(r, ops[i].name, ops[i].registration())) return false;
  }
  return true;
}

// The same, and the wheel's CONV_2D / DEPTHWISE_CONV_2D wrapped so that the ops
// Python planned (tflmt_host_fast_forward_add) run on kernels/core (fast_forward.cc).
TFLMT_EXPORT bool TflmtRegisterTrainingOpsFastForward(void* resolver) {
  if (!TflmtRegisterTrainingOps(resolver)) return false;
  if (!WrapForwardKernels(FindBuiltin, resolver)) {
    return Fail("the wheel's CONV_2D/DEPTHWISE_CONV_2D kernels are not the ones wrapped before");
  }
  return true;
}
