// UserMemory: the only way vkfd reads or writes memory that a client passed by address.
//
// A bad user address (unmapped, PROT_NONE, beyond a memfd's end, non-canonical) gives Code::kFault,
// never a crash. The copy is a plain one under a thread-local recovery point: a SIGSEGV or SIGBUS
// raised while a copy is in flight jumps back and reports kFault; any other SIGSEGV/SIGBUS is passed
// to the handler the program installed (chained), or to the default action. For that the signals must
// reach our handler whatever the program does through libc: the interposer chains the program's
// handlers (sigaction, signal, sigset, sysv_signal, bsd_signal) and never lets a mask the program sets
// (pthread_sigmask, sigprocmask, sigsuspend, a handler's sa_mask, a mask inherited across exec) block
// them, keeping the program's view per thread (SetProgramBlocksFault). Not covered: raw rt_sigaction /
// rt_sigprocmask system calls that bypass libc. TSan builds let the kernel copy (process_vm_*).
//
// Life cycle: the recovery handler is installed the first time a guarded copy runs (or by
// InstallFaultRecovery). When vkfd runs as an LD_PRELOAD interposer, the shim routes the program's own
// sigaction()/signal()/sigset()/sysv_signal()/bsd_signal() calls for SIGSEGV/SIGBUS to
// SetChainedHandler so the program's handlers keep working behind ours.
#pragma once

#include <signal.h>

#include <cstddef>
#include <cstdint>

#include "base/status.h"

namespace vkfd {

// TASK_SIZE_MAX on x86-64 with 4-level paging: the highest user address plus one, minus a guard page.
inline constexpr uint64_t kTaskSizeMax = (uint64_t{1} << 47) - 4096;

// The kernel's access_ok(addr, size): the range lies below TASK_SIZE_MAX. Checks the range only, not
// whether anything is mapped there (that is what a copy finds out).
constexpr bool AccessOk(uint64_t addr, uint64_t size) {
  return size <= kTaskSizeMax && addr <= kTaskSizeMax - size;
}

// Installs the SIGSEGV/SIGBUS recovery handler once per process. Safe to call repeatedly.
void InstallFaultRecovery();

// A write to a write-protected page (SEGV_ACCERR) is offered to `hook` first, before guarded copies'
// recovery and the program's handlers: true means the hook made the page writable and the store is
// retried (hw/queue/doorbell_watch.h: doorbell pages watched while the command processor sleeps).
// The hook runs in the signal handler: it must be async-signal-safe. One hook per process.
using WriteFaultHook = bool (*)(void* addr);
void SetWriteFaultHook(WriteFaultHook hook);

// Copies n bytes from the client's address `user_src` into `dst`. kFault if any byte is unreadable.
[[nodiscard]] Status CopyFromUser(void* dst, uint64_t user_src, size_t n);
// Copies n bytes from `src` to the client's address `user_dst`. kFault if any byte is unwritable;
// bytes before the fault may have been written, as with the kernel's copy_to_user.
[[nodiscard]] Status CopyToUser(uint64_t user_dst, const void* src, size_t n);

// Copies n bytes between two addresses of this process when either may be client memory that can
// vanish under us (a userptr range the program has unmapped, which the emulated GPU still reads):
// kFault instead of a crash. For the emulated engines' bulk copies and fills: memcpy speed when both
// ranges are good.
[[nodiscard]] Status CopyGuarded(void* dst, const void* src, size_t n);

// Typed helpers for one object.
template <typename T>
[[nodiscard]] Status CopyFromUser(T* dst, uint64_t user_src) {
  return CopyFromUser(static_cast<void*>(dst), user_src, sizeof(T));
}
template <typename T>
[[nodiscard]] Status CopyToUser(uint64_t user_dst, const T& src) {
  return CopyToUser(user_dst, static_cast<const void*>(&src), sizeof(T));
}

// The interposer never lets the program block SIGSEGV or SIGBUS for real (a blocked fault would kill
// the process instead of reaching the recovery point); it records here, per thread, which of them the
// program believes blocked. A fault that is not vkfd's in such a thread gets the default action — what
// the kernel does to a blocked synchronous fault (force_sig_info_to_task).
void SetProgramBlocksFault(int sig, bool blocked);
bool ProgramBlocksFault(int sig);

// Records the program's handler for SIGSEGV or SIGBUS, to be called for faults that are not ours.
// Semantics of sigaction(2): `act` may be null (query), `old` receives the previous chained handler.
// Returns 0, or -1 with errno EINVAL for other signals.
int SetChainedHandler(int sig, const struct sigaction* act, struct sigaction* old);

}  // namespace vkfd
