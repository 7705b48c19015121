// WakeWord: what one waiting thread sleeps on, and the only way vkfd's waits with a deadline block.
//
// A wait sleeps in an untimed FUTEX_WAIT on the word (base/futex.h; FutexWaitInterruptible, so inside a
// CallGuard the program's own signal mask applies to the sleep), so the host kernel applies the
// exact restart rule to it: after a handler with SA_RESTART the sleep is restarted transparently, after
// one without it fails with EINTR — the rule of the kernel's own interruptible waits (-ERESTARTSYS).
// The deadline does not come from the futex's timeout (a timed futex returns EINTR after any handler)
// but from the alarm clock: one service thread that wakes the word when the deadline passes. So a
// restarted sleep keeps its absolute deadline and never outlives it.
//
// Protocol that loses no wake-up: the waiter (1) registers the word where wakers find it, then in a
// loop (2) Reset()s it, (3) re-checks its condition, (4) Sleep()s. A waker publishes the condition
// first, then Wake()s. A wake that lands after (2) makes (4) return at once; one that landed before (2)
// changed the condition first, which (3) sees. Wakers must stop referring to a word before its waiter
// returns (waiters deregister under the wakers' lock).
//
// Nothing here uses a file descriptor (waits work at the fd limit), nothing is per thread (nothing is
// inherited by a forked child), and syscall() is not a pthread cancellation point (a cancelled thread
// leaves the wait when the ioctl returns, as with a kernel driver). Wake() is async-signal-safe.
#pragma once

#include <atomic>
#include <cstdint>

#include "base/futex.h"

namespace vkfd {

class WakeWord {
 public:
  WakeWord() = default;
  WakeWord(const WakeWord&) = delete;
  WakeWord& operator=(const WakeWord&) = delete;

  // Makes a Sleep() of this word return (now, or at once when it starts).
  void Wake();
  // Rearms the word for the next Sleep().
  void Reset() { value_.store(0, std::memory_order_seq_cst); }

  // Sleeps until woken, until `deadline_ns` (absolute CLOCK_MONOTONIC, 0 = none) has passed
  // (kTimedOut), or until a handler without SA_RESTART ran (kInterrupted). kWoken covers every other
  // return, spurious ones included: the caller re-checks its condition.
  FutexResult Sleep(int64_t deadline_ns = 0);

 private:
  std::atomic<uint32_t> value_{0};
};

// Tracing (base/trace.h): one sleep as a span on the calling thread's track, with how it ended.
void TraceSleep(const char* what, int64_t start_ns, FutexResult result);

}  // namespace vkfd
