/* QEMU TCG plugin (plugin API v1, QEMU 7.2): exact guest instruction counts per
 * training-graph op.
 *
 *   qemu-system-arm ... -plugin ./libopcount.so,marks=0x20000000,n=40,lo=0x1a4,hi=0x1b0
 *
 * The image calls tflmt_op_mark(i) (code in [lo, hi)) before op i, which stores to
 * word i of tflmt_op_marks (at `marks`, n words). Every instruction executed is
 * added to the bucket of the op announced last; the marker call itself and the
 * instructions before the first mark go to the previous bucket / "pre".
 * Prints "op <i> <count>" per non-empty bucket, "pre <count>" and "total <count>"
 * to stderr at exit. Debian ships no qemu-plugin.h: the API declarations used are in
 * qemu_plugin_api.h. Single vCPU. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qemu_plugin_api.h"

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

#define MAX_OPS 4096
static uint64_t total, last_total, marks, n_ops, lo, hi;
static uint64_t counts[MAX_OPS], pre;
static int64_t current = -1;

static void on_store(unsigned int vcpu, qemu_plugin_meminfo_t info, uint64_t vaddr, void* udata) {
  (void)vcpu;
  (void)info;
  (void)udata;
  if (vaddr < marks || vaddr >= marks + 4 * n_ops) return;
  /* The marking TB was counted in full before its store: everything so far is the previous op's. */
  if (current < 0) pre += total - last_total;
  else counts[current] += total - last_total;
  last_total = total;
  current = (int64_t)((vaddr - marks) / 4);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb* tb) {
  (void)id;
  const size_t n = qemu_plugin_tb_n_insns(tb);
  qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &total, n);
  for (size_t i = 0; i < n; ++i) {
    struct qemu_plugin_insn* insn = qemu_plugin_tb_get_insn(tb, i);
    const uint64_t pc = qemu_plugin_insn_vaddr(insn);
    if (pc >= lo && pc < hi) {
      qemu_plugin_register_vcpu_mem_cb(insn, on_store, QEMU_PLUGIN_CB_NO_REGS, QEMU_PLUGIN_MEM_W, NULL);
    }
  }
}

static void at_exit(qemu_plugin_id_t id, void* p) {
  (void)id;
  (void)p;
  if (current < 0) pre += total - last_total;
  else counts[current] += total - last_total;
  for (uint64_t i = 0; i < n_ops; ++i) {
    if (counts[i]) fprintf(stderr, "op %llu %llu\n", (unsigned long long)i, (unsigned long long)counts[i]);
  }
  fprintf(stderr, "pre %llu\ntotal %llu\n", (unsigned long long)pre, (unsigned long long)total);
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t* info, int argc,
                                          char** argv) {
  (void)info;
  for (int i = 0; i < argc; ++i) {
    if (!strncmp(argv[i], "marks=", 6)) marks = strtoull(argv[i] + 6, NULL, 0);
    else if (!strncmp(argv[i], "n=", 2)) n_ops = strtoull(argv[i] + 2, NULL, 0);
    else if (!strncmp(argv[i], "lo=", 3)) lo = strtoull(argv[i] + 3, NULL, 0);
    else if (!strncmp(argv[i], "hi=", 3)) hi = strtoull(argv[i] + 3, NULL, 0);
  }
  if (n_ops > MAX_OPS || hi <= lo || marks == 0) {
    fprintf(stderr, "op_count_plugin: needs marks=, n= (<= %d), lo= < hi=\n", MAX_OPS);
    return -1;
  }
  qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
  qemu_plugin_register_atexit_cb(id, at_exit, NULL);
  return 0;
}
