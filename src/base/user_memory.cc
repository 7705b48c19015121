// Unsafe code lives here: raw copies from client addresses and the SIGSEGV/SIGBUS recovery handler.
//
// Why _setjmp/_longjmp and SA_NODEFER: the handler is installed with an empty sa_mask and SA_NODEFER,
// so delivering the fault does not change the thread's signal mask; jumping out of the handler with
// _longjmp (which does not restore a mask) therefore leaves the mask exactly as it was. That keeps the
// fast path free of sigprocmask system calls: a good pointer costs one _setjmp and a memcpy.
#include "base/user_memory.h"

#include <pthread.h>
#include <setjmp.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <mutex>
#include <new>

#include "base/process_identity.h"
#include "base/signal_path.h"

// Dispositions are installed with glibc's __sigaction, never through the `sigaction` symbol: inside the
// LD_PRELOAD interposer that symbol is the shim's wrapper, which routes SIGSEGV/SIGBUS back here.
extern "C" int __sigaction(int sig, const struct sigaction* act, struct sigaction* old);

namespace vkfd {
namespace {

struct Recovery {
  jmp_buf env;
  volatile bool armed = false;
};

thread_local Recovery t_recovery;

// The program's handlers, consulted when a fault is not ours. Written under g_chain_mu, read in the
// signal handler: each slot is replaced whole, and a sigaction struct is copied before use.
std::mutex g_chain_mu;
struct sigaction g_chained[2];  // [0] SIGSEGV, [1] SIGBUS
std::once_flag g_install_once;

int Slot(int sig) { return sig == SIGSEGV ? 0 : 1; }

__attribute__((tls_model("initial-exec"))) thread_local uint8_t t_program_blocks = 0;  // bit per Slot

void ForwardFault(int sig, siginfo_t* info, void* ucontext) {
  struct sigaction chained = g_chained[Slot(sig)];
  // The program blocked the signal (in its view): a synchronous fault kills, as the kernel's
  // force_sig_info_to_task resets a blocked fault's disposition to the default.
  if (info != nullptr && info->si_code > 0 && (t_program_blocks >> Slot(sig)) & 1) {
    chained = {};
    chained.sa_handler = SIG_DFL;
  }
  if (chained.sa_flags & SA_SIGINFO) {
    if (chained.sa_sigaction != nullptr) {
      chained.sa_sigaction(sig, info, ucontext);
      return;
    }
  } else if (chained.sa_handler != SIG_DFL && chained.sa_handler != SIG_IGN &&
             chained.sa_handler != nullptr) {
    chained.sa_handler(sig);
    return;
  }
  // Default action: restore it and return; the faulting instruction runs again and the kernel
  // applies the default disposition (core dump), as if vkfd had never been there.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  __sigaction(sig, &dfl, nullptr);
  if (info != nullptr && info->si_code <= 0) raise(sig);  // a sent signal, not a fault: resend
}

std::atomic<WriteFaultHook> g_write_fault_hook{nullptr};

VKFD_SIGNAL_PATH void FaultHandler(int sig, siginfo_t* info, void* ucontext) {
  if (sig == SIGSEGV && info != nullptr && info->si_code == SEGV_ACCERR) {
    const WriteFaultHook hook = g_write_fault_hook.load(std::memory_order_acquire);
    if (hook != nullptr && hook(info->si_addr)) return;  // the store is retried
  }
  Recovery& r = t_recovery;
  if (r.armed) {
    r.armed = false;
    _longjmp(r.env, 1);
  }
  ForwardFault(sig, info, ucontext);
}

// A forked child's copy of g_chain_mu may be held by a thread that does not exist there.
void ResetChainLockInChild() { new (&g_chain_mu) std::mutex(); }

void InstallOnce() {
  pthread_atfork(nullptr, nullptr, ResetChainLockInChild);
  struct sigaction sa {};
  sa.sa_sigaction = FaultHandler;
  sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigemptyset(&sa.sa_mask);
  std::lock_guard<std::mutex> lock(g_chain_mu);
  __sigaction(SIGSEGV, &sa, &g_chained[0]);
  __sigaction(SIGBUS, &sa, &g_chained[1]);
  // Never chain to ourselves (a second copy of this library, or re-installation).
  for (auto& c : g_chained) {
    if ((c.sa_flags & SA_SIGINFO) && c.sa_sigaction == FaultHandler) {
      c = {};
      c.sa_handler = SIG_DFL;
    }
  }
}

// noinline keeps the jmp_buf's frame separate from the caller's locals, which _longjmp may clobber.
// The copy is a volatile word loop, not memcpy: sanitizer runtimes intercept memcpy and would report a
// wild pointer themselves instead of letting the fault reach the recovery point.
using UnalignedWord = uint64_t __attribute__((aligned(1), may_alias));

// GCC warns that locals may be clobbered by _longjmp; none is read after _setjmp returns non-zero.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wclobbered"
#endif
[[maybe_unused]] __attribute__((noinline, no_sanitize("address", "thread", "undefined"))) bool
GuardedCopy(
    void* dst, const void* src, size_t n) {
  Recovery& r = t_recovery;
  if (_setjmp(r.env) != 0) return false;
  r.armed = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  auto* d = static_cast<volatile unsigned char*>(dst);
  auto* s = static_cast<const volatile unsigned char*>(src);
  while (n >= 8) {
    *reinterpret_cast<volatile UnalignedWord*>(d) = *reinterpret_cast<const volatile UnalignedWord*>(s);
    d += 8;
    s += 8;
    n -= 8;
  }
  while (n > 0) {
    *d++ = *s++;
    --n;
  }
  std::atomic_signal_fence(std::memory_order_seq_cst);
  r.armed = false;
  return true;
}
// As GuardedCopy, with the library's memcpy inside the recovery point: bulk copies between two ranges
// of this process. (A sanitizer's memcpy interceptor checks shadow memory only, which a vanished
// mapping passes; the fault itself still reaches the recovery point.)
[[maybe_unused]] __attribute__((noinline, no_sanitize("address", "thread", "undefined"))) bool
GuardedMemcpy(void* dst, const void* src, size_t n) {
  Recovery& r = t_recovery;
  if (_setjmp(r.env) != 0) return false;
  r.armed = true;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  memcpy(dst, src, n);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  r.armed = false;
  return true;
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// ThreadSanitizer cannot follow a _longjmp out of a signal handler (it would believe the thread is still
// inside the handler), so TSan builds take the slow but fault-free path: the kernel copies between our
// own address space and itself and reports a bad address as EFAULT.
#if defined(__SANITIZE_THREAD__)
#define VKFD_COPY_WITH_PROCESS_VM 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define VKFD_COPY_WITH_PROCESS_VM 1
#endif
#endif

#ifdef VKFD_COPY_WITH_PROCESS_VM
}  // namespace
}  // namespace vkfd
#include <sanitizer/tsan_interface.h>
namespace vkfd {
namespace {
// The kernel copies between our address space and itself and reports a bad address as EFAULT.
// 1 copied, 0 a bad address, -1 the host refuses the call.
int KernelCopy(void* dst, const void* src, size_t n, bool to_user) {
  static std::atomic<bool> unavailable{false};
  if (unavailable.load(std::memory_order_relaxed)) return -1;
  iovec local{to_user ? const_cast<void*>(src) : dst, n};
  iovec remote{to_user ? dst : const_cast<void*>(src), n};
  const pid_t self = static_cast<pid_t>(CurrentPid());
  const ssize_t done = to_user ? process_vm_writev(self, &local, 1, &remote, 1, 0)
                               : process_vm_readv(self, &local, 1, &remote, 1, 0);
  if (done == static_cast<ssize_t>(n)) return 1;
  if (done < 0 && (errno == ENOSYS || errno == EPERM)) {
    unavailable.store(true, std::memory_order_relaxed);
    return -1;
  }
  return 0;  // EFAULT, or a short copy: a page in the range is bad
}
#endif

}  // namespace

void InstallFaultRecovery() { std::call_once(g_install_once, InstallOnce); }

void SetWriteFaultHook(WriteFaultHook hook) {
  g_write_fault_hook.store(hook, std::memory_order_release);
}

// The fast path is the guarded copy: a good pointer costs a _setjmp and a copy (a system call costs
// 2-4 us on the VMs vkfd is measured on — more than a whole ioctl). It recovers from a fault only if
// SIGSEGV/SIGBUS reach FaultHandler, which the interposer guarantees for everything a program does
// through libc (shim/preload.cc: the masks it sets never block them — its own view is kept per
// thread — and its handlers are chained behind ours). TSan builds (and hosts whose seccomp filter
// forbids process_vm_*: never, there) let the kernel copy.
Status CopyFromUser(void* dst, uint64_t user_src, size_t n) {
  if (n == 0) return Status::Ok();
  if (!AccessOk(user_src, n)) return Status(Code::kFault);
#ifdef VKFD_COPY_WITH_PROCESS_VM
  if (KernelCopy(dst, reinterpret_cast<const void*>(user_src), n, false) != 1) {
    return Status(Code::kFault);
  }
#else
  InstallFaultRecovery();
  if (!GuardedCopy(dst, reinterpret_cast<const void*>(user_src), n)) return Status(Code::kFault);
#endif
  return Status::Ok();
}

Status CopyToUser(uint64_t user_dst, const void* src, size_t n) {
  if (n == 0) return Status::Ok();
  if (!AccessOk(user_dst, n)) return Status(Code::kFault);
#ifdef VKFD_COPY_WITH_PROCESS_VM
  if (KernelCopy(reinterpret_cast<void*>(user_dst), src, n, true) != 1) return Status(Code::kFault);
#else
  InstallFaultRecovery();
  if (!GuardedCopy(reinterpret_cast<void*>(user_dst), src, n)) return Status(Code::kFault);
#endif
  return Status::Ok();
}

Status CopyGuarded(void* dst, const void* src, size_t n) {
  if (n == 0) return Status::Ok();
#ifdef VKFD_COPY_WITH_PROCESS_VM
  // The kernel copies through a private bounce buffer — process_vm_readv from `src`, then
  // process_vm_writev to `dst` — and reports a bad range. Both client ranges are the "remote" side,
  // which ThreadSanitizer does not annotate: an engine's read of a ring or a signal is the hardware's
  // read, ordered by the client's atomics, not a plain access racing with them.
  //
  // The hardware's small accesses (read and write pointers, doorbells, signals, fences: at most
  // kOrderedWords words) are ordered as the real ones are: a read acquires what the client released
  // at that word, a write releases everything the engine did before (its atomics on client memory,
  // say) to the client's acquire of that word. TSan is told so by address; bulk copies are not
  // annotated (a client reads their data after such a word).
  constexpr size_t kOrderedWords = 16;
  const bool ordered = n <= kOrderedWords * 4;
  if (ordered) {
    for (size_t at = 0; at < n; at += 4) __tsan_release(static_cast<unsigned char*>(dst) + at);
  }
  thread_local unsigned char bounce[64 * 1024];
  for (size_t done = 0; done < n;) {
    const size_t chunk = std::min(n - done, sizeof(bounce));
    if (KernelCopy(bounce, static_cast<const unsigned char*>(src) + done, chunk, false) != 1 ||
        KernelCopy(static_cast<unsigned char*>(dst) + done, bounce, chunk, true) != 1) {
      return Status(Code::kFault);
    }
    done += chunk;
  }
  if (ordered) {
    for (size_t at = 0; at < n; at += 4) {
      __tsan_acquire(const_cast<unsigned char*>(static_cast<const unsigned char*>(src)) + at);
    }
  }
#else
  InstallFaultRecovery();
  if (!GuardedMemcpy(dst, src, n)) return Status(Code::kFault);
#endif
  return Status::Ok();
}

void SetProgramBlocksFault(int sig, bool blocked) {
  if (sig != SIGSEGV && sig != SIGBUS) return;
  const uint8_t bit = uint8_t(1u << Slot(sig));
  t_program_blocks = blocked ? (t_program_blocks | bit) : (t_program_blocks & ~bit);
}

bool ProgramBlocksFault(int sig) {
  return (sig == SIGSEGV || sig == SIGBUS) && ((t_program_blocks >> Slot(sig)) & 1);
}

int SetChainedHandler(int sig, const struct sigaction* act, struct sigaction* old) {
  if (sig != SIGSEGV && sig != SIGBUS) {
    errno = EINVAL;
    return -1;
  }
  InstallFaultRecovery();
  std::lock_guard<std::mutex> lock(g_chain_mu);
  if (old != nullptr) *old = g_chained[Slot(sig)];
  if (act != nullptr) g_chained[Slot(sig)] = *act;
  return 0;
}

}  // namespace vkfd
