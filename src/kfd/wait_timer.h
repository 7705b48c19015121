// WaitTimer: the per-thread timerfd that every interruptible wait with a deadline in kfd/ blocks on
// (WAIT_EVENTS in event.cc, FENCE_WAIT in fence_file.cc).
//
// A waiter arms its thread's timer with the wait's absolute CLOCK_MONOTONIC deadline (or disarms it for
// an infinite wait) and blocks in read(); whoever completes the wait wakes it by re-arming the same
// timer to expire at once (WakeTimer). One blocking read() thus covers both wake-up sources, and the
// host kernel applies the exact SA_RESTART rule to it: after a handler with SA_RESTART the read is
// restarted transparently towards the same absolute expiry — a restart never extends the deadline —
// and after a handler without it the read fails with EINTR.
//
// Protocol that loses no wake-up: (1) arm the deadline, (2) re-check the condition, (3) read(). A wake
// that lands after (1) makes the read return at once; one that landed before (1) changed the condition
// first, which (2) sees. Wakers publish the condition before waking. A wake can arrive after the wait
// ended (a waker that raced with the waiter's return): it only makes a later wait loop once more, so
// wakers must stop referring to a waiter's fd before that waiter's thread exits (waiters deregister
// under the waker's lock).
//
// Keyed by pid: a forked child must not share its parent's timer (the open file description would be
// shared, and so would the wake-ups). Arm/Wake are async-signal-safe system calls and allocate nothing.
#pragma once

#include <cstdint>

namespace vkfd::kfd {

// The calling thread's timerfd (created on first use, closed at thread exit), or -1 if the host
// refused one.
int ThreadTimerFd();
// Arms `fd` to expire at CLOCK_MONOTONIC `deadline_ns` (> 0; a time in the past expires at once);
// 0 disarms.
void ArmTimer(int fd, int64_t deadline_ns);
// Makes a waiter's read() on `fd` return now.
void WakeTimer(int fd);

}  // namespace vkfd::kfd
