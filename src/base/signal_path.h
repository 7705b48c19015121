// VKFD_SIGNAL_PATH: marks code that runs inside vkfd's synchronous SIGSEGV handler (the doorbell trap,
// hw/queue/doorbell_watch.h, and the recovery of base/user_memory.cc).
//
// Why: under ThreadSanitizer the faulting store may itself be inside the TSan runtime — a client's
// instrumented atomic store to a write-protected doorbell page faults in __tsan_atomic64_store, which
// holds the thread's TSan slot lock while it stores. TSan delivers a synchronous signal at once, so an
// instrumented atomic in the handler would wait for that same lock forever (seen: the queue suite
// stopped in SlotLock under TSan). Functions on the handler's path are therefore left un-instrumented
// (clang's disable_sanitizer_instrumentation; always-inline std::atomic members inlined into them are
// covered too) and make raw system calls rather than calls TSan intercepts (mprotect). They only touch
// lock-free atomics, which is also what async-signal safety asks of them. Elsewhere it is a no-op.
#pragma once

#if defined(__has_attribute)
#if __has_attribute(disable_sanitizer_instrumentation)
#define VKFD_SIGNAL_PATH __attribute__((disable_sanitizer_instrumentation))
#endif
#endif
#ifndef VKFD_SIGNAL_PATH
#define VKFD_SIGNAL_PATH
#endif
