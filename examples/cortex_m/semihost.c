#include "semihost.h"

enum { SYS_WRITE0 = 0x04, SYS_EXIT = 0x18 };
enum { ADP_STOPPED_RUNTIME_ERROR = 0x20023, ADP_STOPPED_APPLICATION_EXIT = 0x20026 };

static int32_t sh_call(int32_t op, const void* arg) {
  register int32_t r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void sh_puts(const char* s) { sh_call(SYS_WRITE0, s); }

void sh_put_u32(uint32_t v) {
  char buf[11];
  int i = 10;
  buf[i] = 0;
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  sh_puts(buf + i);
}

void sh_put_hex(uint32_t v) {
  char buf[9];
  for (int i = 7; i >= 0; --i, v >>= 4) buf[i] = "0123456789abcdef"[v & 15];
  buf[8] = 0;
  sh_puts(buf);
}

void sh_exit(int status) {
  /* On 32-bit ARM the reason is passed by value: QEMU exits 0 for ApplicationExit, 1 otherwise. */
  sh_call(SYS_EXIT, (const void*)(status == 0 ? ADP_STOPPED_APPLICATION_EXIT : ADP_STOPPED_RUNTIME_ERROR));
  for (;;) {
  }
}
