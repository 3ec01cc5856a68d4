/* Included into the generated model.c: each op announces itself, so the QEMU plugin
 * (op_count_plugin.c) can attribute every instruction to the op that executed it. */
#include <stdint.h>
void tflmt_op_mark(int32_t op);
#define TFLMT_OP_BEGIN(index) tflmt_op_mark(index)
