/* The trainable state of a running training graph.
 *
 * The model (possibly `const`, in flash) is never written. Each update op
 * copies the parameter it trains into a persistent arena buffer at Prepare
 * and points the tensor at that copy, so forward and backward ops read the
 * trained values. To find those copies (to checkpoint or restore them, or to
 * read them from Python), attach a table before the interpreter allocates its
 * tensors; each update op then records itself there. Without a table nothing
 * is recorded and nothing is spent.
 *
 * An entry is keyed by the parameter's constant data in the model and its
 * tensor index, so several interpreters can share one table as long as they
 * run different copies of a model. */
#ifndef TFLMT_STATE_H_
#define TFLMT_STATE_H_

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  const void* key;  /* the parameter's constant data in the model */
  int32_t tensor;   /* its tensor index in subgraph 0 */
  void* data;       /* the trained copy in the arena */
  uint32_t bytes;
  uint32_t* step;   /* updates applied so far (the stochastic-rounding counter) */
} tflmt_trainable;

/* Storage for `capacity` entries, owned by the caller; NULL detaches. */
void tflmt_state_attach(tflmt_trainable* table, int32_t capacity);
int32_t tflmt_state_count(void);
const tflmt_trainable* tflmt_state_find(const void* key, int32_t tensor);
/* Drops the entries whose key lies in [begin, end): a model buffer being freed. */
void tflmt_state_forget(const void* begin, const void* end);
/* Called by the update ops: 0 on success, -1 if the attached table is full. */
int32_t tflmt_state_record(const tflmt_trainable* entry);

#ifdef __cplusplus
}
#endif
#endif /* TFLMT_STATE_H_ */
