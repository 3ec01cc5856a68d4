/* ARM semihosting: text to the host's stderr, and exit with a status QEMU returns. */
#ifndef TFLMT_CM_SEMIHOST_H_
#define TFLMT_CM_SEMIHOST_H_

#include <stdint.h>

void sh_puts(const char* s);
void sh_put_u32(uint32_t v);  /* decimal */
void sh_put_hex(uint32_t v);  /* 8 hex digits */
void sh_exit(int status) __attribute__((noreturn));

#endif
