// CallGuard: what every call from the program into vkfd does first, so that the program's signal
// handlers and pthread cancellation never run while vkfd holds one of its locks.
//
// A kernel driver gets this for free: a signal is only acted on when the system call returns or
// sleeps interruptibly, never in the middle of the driver's critical sections, so a handler may call
// the driver again (SET_EVENT from SIGALRM) and pthread_cancel cannot stop it half way. vkfd runs on
// the program's own thread, where a handler could run at any instruction — inside EventTable::mu_,
// say — and an ioctl from that handler would then deadlock on the lock its own thread holds.
//
// Deferral, without a system call on the way in or out: the interposer installs the program's
// handlers behind a trampoline (InstallProgramHandler; sigaction, signal, sigset, ... are routed
// there). A signal that arrives while its thread is inside a guard is recorded and the trampoline
// returns; when the outermost guard ends, the recorded signals are sent again to the same thread
// (rt_tgsigqueueinfo with their siginfo, tgkill where the kernel refuses that), so the program's
// handlers run after the call, with the kernel's own frame and masks. Inside the guard:
//  * an interruptible sleep (FutexWaitInterruptible: event and fence waits, which hold no lock) is
//    where signals are acted on, as in the kernel: the deferred ones are delivered first, and if one
//    of their handlers lacks SA_RESTART the sleep fails with kInterrupted without sleeping; signals
//    that arrive during the sleep run their handler at once, and the host kernel's restart rule
//    applies to the futex (base/futex.h);
//  * cancellation is disabled (pthread_setcancelstate: no system call), also against asynchronous
//    cancellation; a cancel requested meanwhile acts at the program's next cancellation point.
// Mirrors where the kernel acts on signals: on the way out of a system call (exit_to_user_mode_loop →
// arch_do_signal_or_restart) and in interruptible sleeps (signal_pending → -ERESTARTSYS). One window
// is wider than the kernel's: a signal landing between the pending check and the futex system call
// runs its handler and the sleep goes on, as if it had arrived just before the call.
// Guards nest (a handler run during a sleep may call vkfd again). Synchronous signals (SIGSEGV,
// SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS) are never deferred. Handlers the program installs with a raw
// rt_sigaction system call bypass the trampoline and are not deferred. Async-signal-safe.
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

 private:
  int cancel_state_ = 0;
};

// FutexWait for a sleep the program's signals may interrupt (see above). Never call it holding a lock.
FutexResult FutexWaitInterruptible(const std::atomic<uint32_t>* word, uint32_t expected,
                                   int64_t deadline_ns = 0);

// As FutexWaitInterruptible, for a sleep that may hold a lock (6.1.y's MAP and UNMAP wait for the
// page-table updates under p->mutex): handlers are not run during the sleep but deferred to the end
// of the call; a deferred (or arriving) signal whose handler lacks SA_RESTART still makes the sleep
// fail with kInterrupted. Only for sleeps that end by themselves (fences of DMA jobs).
FutexResult FutexWaitDeferring(const std::atomic<uint32_t>* word, uint32_t expected,
                               int64_t deadline_ns = 0);

// sigaction(2) for a signal other than SIGSEGV/SIGBUS, as the program sees it: a handler is installed
// behind the deferring trampoline (with the program's flags and mask, minus SA_RESETHAND, which the
// trampoline applies itself, and never masking SIGSEGV/SIGBUS); SIG_DFL/SIG_IGN are installed as they
// are. `old` receives the program's previous disposition. -1 with errno as sigaction.
int InstallProgramHandler(int sig, const struct sigaction* act, struct sigaction* old);

}  // namespace vkfd
