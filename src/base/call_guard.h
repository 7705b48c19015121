// CallGuard: what every call from the program into vkfd does first, so that the program's signal
// handlers and pthread cancellation never run while vkfd holds one of its locks.
//
// A kernel driver gets this for free: a signal is only acted on when the system call returns or
// sleeps interruptibly, never in the middle of the driver's critical sections, so a handler may call
// the driver again (SET_EVENT from SIGALRM) and pthread_cancel cannot stop it half way. vkfd runs on
// the program's own thread, where a handler could run at any instruction — inside EventTable::mu_,
// say — and an ioctl from that handler would then deadlock on the lock its own thread holds. So:
//  * on entry the guard blocks every asynchronous signal (all but the synchronous SIGSEGV, SIGBUS,
//    SIGILL, SIGFPE, SIGTRAP, SIGSYS) and disables cancellation; on exit it restores both exactly;
//  * an interruptible sleep inside the guard (FutexWaitInterruptible: event and fence waits, which
//    hold no lock) runs with the program's own mask, so signals interrupt it with the host kernel's
//    restart rule (base/futex.h). A signal that arrived while the guard held it back is delivered when
//    the sleep opens the mask; if its handler lacks SA_RESTART the sleep reports kInterrupted without
//    sleeping, as the kernel's own wait would have;
//  * cancellation requested meanwhile acts at the program's next cancellation point after the call
//    returns — as with ioctl(2), which is not a cancellation point.
// Guards nest (a handler that runs during an open sleep may call vkfd again: its guard blocks signals
// for its own call). Costs two rt_sigprocmask system calls per call; the sleep path three more.
// Async-signal-safe; allocates nothing.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

#include "base/futex.h"

namespace vkfd {

class CallGuard {
 public:
  CallGuard();
  ~CallGuard();
  CallGuard(const CallGuard&) = delete;
  CallGuard& operator=(const CallGuard&) = delete;

  // The innermost guard of the calling thread, or null.
  static CallGuard* Current();
  const sigset_t& program_mask() const { return program_mask_; }

 private:
  CallGuard* outer_;
  sigset_t program_mask_;
  int cancel_state_ = 0;
};

// FutexWait for a sleep the program's signals may interrupt: inside a CallGuard it opens the program's
// mask for the sleep only (see above); outside one it is FutexWait. Never call it holding a lock.
FutexResult FutexWaitInterruptible(const std::atomic<uint32_t>* word, uint32_t expected,
                                   int64_t deadline_ns = 0);

}  // namespace vkfd
