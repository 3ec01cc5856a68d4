// The registry of trainable copies (include/tflmt/state.h). The only mutable
// globals of the op library: a pointer to caller-owned storage and its fill.
#include "tflmt/state.h"

namespace {
tflmt_trainable* g_table = nullptr;
int32_t g_capacity = 0;
int32_t g_count = 0;
}  // namespace

extern "C" void tflmt_state_attach(tflmt_trainable* table, int32_t capacity) {
  g_table = table;
  g_capacity = table ? capacity : 0;
  g_count = 0;
}

extern "C" int32_t tflmt_state_count(void) { return g_count; }

extern "C" const tflmt_trainable* tflmt_state_find(const void* key, int32_t tensor) {
  for (int32_t i = g_count - 1; i >= 0; --i) {
    if (g_table[i].key == key && g_table[i].tensor == tensor) return &g_table[i];
  }
  return nullptr;
}

extern "C" int32_t tflmt_state_record(const tflmt_trainable* entry) {
  if (g_table == nullptr) return 0;
  for (int32_t i = 0; i < g_count; ++i) {
    if (g_table[i].key == entry->key && g_table[i].tensor == entry->tensor) {
      g_table[i] = *entry;  // a new interpreter over the same model memory
      return 0;
    }
  }
  if (g_count >= g_capacity) return -1;
  g_table[g_count++] = *entry;
  return 0;
}

extern "C" void tflmt_state_forget(const void* begin, const void* end) {
  const char* lo = static_cast<const char*>(begin);
  const char* hi = static_cast<const char*>(end);
  int32_t kept = 0;
  for (int32_t i = 0; i < g_count; ++i) {
    const char* k = static_cast<const char*>(g_table[i].key);
    if (k >= lo && k < hi) continue;
    g_table[kept++] = g_table[i];
  }
  g_count = kept;
}
