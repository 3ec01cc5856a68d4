/* QEMU TCG plugin (plugin API v1, QEMU 7.2): how often each guest instruction in the code
 * memory (the first 4 MB) executes, for finding the hot lines of a kernel.
 *
 *   qemu-system-arm ... -plugin ./libpcprof.so,out=pc.txt
 *
 * Writes "<address hex> <count>" per executed instruction at exit; pc_profile.py maps them to
 * functions and source lines. Single vCPU. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

#define CODE_BYTES (4u << 20)
/* Thumb instructions start on 2-byte boundaries: one counter per halfword. */
static uint64_t* counts;
static uint64_t outside;
static char out_path[1024] = "pc.txt";

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    const uint64_t pc = qemu_plugin_insn_vaddr(insn);
    uint64_t* slot = pc < CODE_BYTES ? &counts[pc / 2] : &outside;
    qemu_plugin_register_vcpu_insn_exec_inline(insn, QEMU_PLUGIN_INLINE_ADD_U64, slot, 1);
  }
}

static void at_exit(qemu_plugin_id_t id, void* p) {
  (void)id;
  (void)p;
  FILE* f = fopen(out_path, "w");
  if (!f) {
    fprintf(stderr, "pc_profile_plugin: cannot write %s\n", out_path);
    return;
  }
  for (uint32_t i = 0; i < CODE_BYTES / 2; ++i) {
    if (counts[i]) fprintf(f, "%x %llu\n", i * 2, (unsigned long long)counts[i]);
  }
  if (outside) fprintf(f, "outside %llu\n", (unsigned long long)outside);
  fclose(f);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                          char** argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    if (!strncmp(argv[i], "out=", 4)) snprintf(out_path, sizeof out_path, "%s", argv[i] + 4);
  }
  counts = calloc(CODE_BYTES / 2, sizeof(uint64_t));
  if (!counts) return -1;
  qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
