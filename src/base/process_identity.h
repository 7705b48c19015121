// The calling process's pid without a system call, right in every child.
//
// getpid() is a system call (glibc caches nothing), and vkfd needs the caller's pid on every ioctl
// (KFD's -EBADF for a process that did not open the fd). A cache refreshed by pthread_atfork is wrong
// in children of _Fork() and of a raw clone(), which run no atfork handlers. Instead the pid lives in a
// page marked MADV_WIPEONFORK: every child, however it was made, finds the page zeroed and asks the
// kernel once. (vfork children share the parent's memory and may only exec or _exit: nothing to do.)
//
// Async-signal-safe; thread-safe.
#pragma once

#include <cstdint>

namespace vkfd {

int CurrentPid();

// Increases by one in each process that finds the page wiped: a new value means "this is not the
// process that cached whatever the caller compares it with". Never 0.
uint64_t ProcessIncarnation();

}  // namespace vkfd
